"""Fuzz every parser of outside bytes: each raises only its own error type, within a memory bound.

Parsers: the protocol frame decoder and message decoders, ``JobPack.loads``,
``jobdict_from_json``, the ``dir://`` index parser, the record readers (internal hunk
format, v0 / old netstrings) and the job home's ``safe_unzip``. Inputs are random bytes and
mutations of the golden vectors; each call runs under ``tracemalloc`` and its peak must stay
under :data:`MEMORY_BOUND` (the inputs are a few KiB: anything near the bound is allocation
driven by what damaged data claims, not by what it holds).

The CI budget is :data:`EXAMPLES` examples per parser (the whole file runs in well under a
minute). A longer run by hand::

    DISCOWORKER_FUZZ_EXAMPLES=20000 pytest tests/reliability/test_parsers_fuzz.py
"""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from discoworker.adapters.embedded.store import safe_unzip
from discoworker.domain.index import parse_index
from discoworker.domain.jobdict import jobdict_from_json
from discoworker.domain.jobpack import JobPack
from discoworker.domain.protocol import (
    FrameDecoder,
    decode_master_message,
    decode_worker_message,
)
from discoworker.domain.records import disco_input_stream, encode_hunk, old_netstr_reader
from discoworker.errors import (
    DataError,
    DiscoError,
    IndexFileError,
    JobDictError,
    JobPackError,
    ProtocolError,
)

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "golden"
EXAMPLES = int(os.environ.get("DISCOWORKER_FUZZ_EXAMPLES", "120"))
MEMORY_BOUND = 64 * 1024 * 1024

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=EXAMPLES <= 1000,  # CI: the same examples every run; by hand: new ones
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


def _golden(*names: str) -> list[bytes]:
    return [(GOLDEN / name).read_bytes() for name in names]


def _mutated(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    """Seeds with bytes flipped, cut, spliced or inserted, and plain random bytes."""

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(st.sampled_from(seeds)))
        for _ in range(draw(st.integers(0, 4))):
            op = draw(st.sampled_from(["flip", "cut", "insert", "set32"]))
            pos = draw(st.integers(0, max(0, len(data) - 1)))
            if op == "flip" and data:
                data[pos] = draw(st.integers(0, 255))
            elif op == "cut":
                del data[pos:]
            elif op == "insert":
                data[pos:pos] = draw(st.binary(max_size=16))
            elif op == "set32":
                value = draw(st.sampled_from([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 1 << 26, 255, 256]))
                data[pos : pos + 4] = struct.pack("<I", value)
        return bytes(data)

    return st.one_of(mutate(), st.binary(max_size=512))


def _bounded(
    call: Callable[[], Any], allowed: type[BaseException] | tuple[type[BaseException], ...]
) -> None:
    """Run ``call``: only ``allowed`` errors may escape, and its memory peak stays bounded."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        try:
            call()
        except allowed:
            pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_BOUND, f"peak {peak / 2**20:.1f} MiB"


# --- protocol ----------------------------------------------------------------------------


def _protocol_seeds() -> list[bytes]:
    seeds = [b"TASK 2 {}\n", b'WORKER 30 {"version": "1.1", "pid": 1}\n', b'OK 4 "ok"\n']
    for line in (GOLDEN / "protocol" / "worker_protocol.jsonl").read_text().splitlines()[:40]:
        entry = json.loads(line)
        if "bytes_base64" in entry:
            seeds.append(base64.b64decode(entry["bytes_base64"]))
    return seeds


@FUZZ
@given(_mutated(_protocol_seeds()), st.integers(1, 64))
def test_frame_decoder_raises_only_protocol_errors(data: bytes, chunk: int) -> None:
    def run() -> None:
        decoder = FrameDecoder()
        for start in range(0, len(data), chunk):
            for frame in decoder.feed(data[start : start + chunk]):
                for decode in (decode_worker_message, decode_master_message):
                    try:
                        decode(frame)
                    except ProtocolError:
                        pass
        decoder.close()

    _bounded(run, ProtocolError)


# --- job pack and jobdict -----------------------------------------------------------------


@FUZZ
@given(_mutated(_golden("jobpack/jobpack_v1.bin", "jobpack/jobpack_v2.bin", "jobpack/empty.bin")))
def test_jobpack_load_raises_only_jobpack_errors(data: bytes) -> None:
    _bounded(lambda: JobPack.load(io.BytesIO(data)), JobPackError)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def _jobdicts() -> st.SearchStrategy[Any]:
    keys = [
        "prefix",
        "worker",
        "owner",
        "scheduler",
        "input",
        "inputs",
        "pipeline",
        "nr_reduces",
        "map?",
        "reduce?",
        "reduce_shuffle?",
        "save_results",
        "save_info",
    ]
    valid = {
        "prefix": "p",
        "worker": "w",
        "owner": "o",
        "scheduler": {},
        "input": ["raw://a"],
        "nr_reduces": 1,
        "inputs": [[0, 0, ["raw://a"]]],
        "pipeline": [["map", "split", False]],
    }

    @st.composite
    def dicts(draw: st.DrawFn) -> Any:
        obj = dict(valid)
        for key in draw(st.lists(st.sampled_from(keys), max_size=4)):
            if draw(st.booleans()):
                obj.pop(key, None)
            else:
                obj[key] = draw(_json)
        return obj

    return st.one_of(dicts(), _json)


@FUZZ
@given(st.sampled_from([1, 2, 3]), _jobdicts())
def test_jobdict_from_json_raises_only_jobdict_errors(version: int, obj: Any) -> None:
    _bounded(lambda: jobdict_from_json(version, obj), JobDictError)


# --- dir:// index ------------------------------------------------------------------------


@FUZZ
@given(_mutated(_golden("index/index_plain.results", "index/index_negative_and_big.results")))
def test_parse_index_raises_only_index_errors(data: bytes) -> None:
    _bounded(lambda: parse_index(data, "dir://h/disco/x"), IndexFileError)


# --- record readers ----------------------------------------------------------------------


def _read_all(data: bytes, ignore_corrupt: bool) -> None:
    for _ in disco_input_stream(io.BytesIO(data), len(data), "fuzz://", ignore_corrupt):
        pass


_RECORD_SEEDS = _golden(
    "internal/small_default.disco",
    "internal/small_level0.disco",
    "internal/types_level0.disco",
    "internal/multismall_level0.disco",
    "internal/v0_ascii.disco",
    "internal/old_netstr_handmade.txt",
)


@st.composite
def _valid_crc_hunks(draw: st.DrawFn) -> bytes:
    """Hunks whose checksum matches damaged pickles: the reader's trust ends at the CRC."""
    seed = draw(st.sampled_from(_RECORD_SEEDS[:4]))
    level = draw(st.sampled_from([0, 2]))
    # The level-0 seeds' first hunk data, mutated, framed again with a good checksum.
    data = seed[14 : 14 + struct.unpack_from("<Q", seed, 6)[0]]
    if seed[1]:
        data = zlib.decompress(data)
    damaged = draw(_mutated([data, b"N.", b"(X\x03\x00\x00\x00abcq\x00K\x01tq\x01."]))
    return encode_hunk(damaged, level) + encode_hunk(b"", level)


@FUZZ
@given(st.one_of(_mutated(_RECORD_SEEDS), _valid_crc_hunks()), st.booleans())
def test_record_readers_raise_only_data_errors(data: bytes, ignore_corrupt: bool) -> None:
    _bounded(lambda: _read_all(data, ignore_corrupt), DataError)


@FUZZ
@given(_mutated(_golden("internal/old_netstr_handmade.txt", "internal/v0_ascii.disco")))
def test_netstring_reader_raises_only_data_errors(data: bytes) -> None:
    def run() -> None:
        for _ in old_netstr_reader(io.BytesIO(data), len(data), "fuzz://"):
            pass

    _bounded(run, DataError)


# --- job home zip ------------------------------------------------------------------------


def _zip_seed() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("lib/a.py", b"x = 1\n" * 20)
        archive.writestr("worker", b"#!/bin/sh\n")
        archive.writestr("d/", b"")
    return buffer.getvalue()


@FUZZ
@given(_mutated([_zip_seed(), *_golden("jobpack/jobhome.zip")]))
def test_safe_unzip_raises_only_jobpack_errors(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    case = tmp_path_factory.mktemp("case")
    home = case / "home"
    home.mkdir()
    _bounded(lambda: safe_unzip(data, home), JobPackError)
    assert [p.name for p in case.iterdir()] == ["home"]


def test_the_bound_can_fail() -> None:
    """The memory check itself: a call that allocates past the bound is caught."""
    with pytest.raises(AssertionError, match="peak"):
        _bounded(lambda: bytearray(MEMORY_BOUND + 1), ())


def test_every_allowed_error_is_discoworkers_own() -> None:
    for error in (ProtocolError, JobPackError, JobDictError, IndexFileError, DataError):
        assert issubclass(error, DiscoError)
