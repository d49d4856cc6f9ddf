"""The bombs of issue 13, each with a checksum that matches: bounded memory and an own error."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any

import pytest

from discoworker.domain import records
from discoworker.domain.index import parse_index
from discoworker.domain.jobdict import jobdict_from_json
from discoworker.domain.records import DiscoOutputStream, disco_input_stream, encode_hunk
from discoworker.errors import DataError, IndexFileError, JobDictError

MiB = 1024 * 1024


def _peak(call: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _read(data: bytes) -> list[Any]:
    return list(disco_input_stream(io.BytesIO(data), len(data), "bomb://"))


@pytest.mark.parametrize("level", [0, 2])
@pytest.mark.parametrize(
    "pickle_bytes",
    [b"Nr" + struct.pack("<I", 1 << 26) + b".", b"Np67108864\n."],
    ids=["LONG_BINPUT", "PUT"],
)
def test_a_memo_index_of_2_26_allocates_no_memo(pickle_bytes: bytes, level: int) -> None:
    data = encode_hunk(pickle_bytes, level) + encode_hunk(b"", level)
    got: list[Any] = []
    assert _peak(lambda: got.extend(_read(data))) < 4 * MiB
    assert got == [None]  # a valid pickle, read the safe way


@pytest.mark.parametrize("opcode", [b"X", b"B", b"T"])
def test_a_string_length_of_2_31_is_a_cut_record_not_2_gib(opcode: bytes) -> None:
    data = encode_hunk(opcode + struct.pack("<I", 0x7FFFFFFF) + b"abc", 0) + encode_hunk(b"", 0)

    def run() -> None:
        with pytest.raises(DataError, match="cut short"):
            _read(data)

    assert _peak(run) < 4 * MiB


def test_a_record_cut_at_the_end_of_a_hunk_is_a_data_error() -> None:
    whole = b"(X\x03\x00\x00\x00abcq\x00K\x01tq\x01."
    data = encode_hunk(whole + whole[:9], 2) + encode_hunk(b"", 2)
    with pytest.raises(DataError, match="cut short"):
        _read(data)


def _zlib_bomb(inflated: int) -> bytes:
    deflate = zlib.compressobj(9)
    zeros = bytes(MiB)
    parts, crc = [], 0
    for _ in range(inflated // MiB):
        parts.append(deflate.compress(zeros))
        crc = zlib.crc32(zeros, crc)
    payload = b"".join(parts) + deflate.flush()
    return struct.pack("<BBIQ", 0x81, 1, crc, len(payload)) + payload + encode_hunk(b"")


def test_a_zlib_bomb_stops_at_max_hunk_size() -> None:
    bomb = _zlib_bomb(records.MAX_HUNK_SIZE + 16 * MiB)
    assert len(bomb) < 200_000

    def run() -> None:
        with pytest.raises(DataError, match="MAX_HUNK_SIZE"):
            _read(bomb)

    # The inflated data and zlib's output blocks: twice the bound at most, never the bomb.
    assert _peak(run) < 2 * records.MAX_HUNK_SIZE + 8 * MiB


def test_a_payload_length_past_the_bound_is_refused_unread() -> None:
    data = struct.pack("<BBIQ", 0x81, 0, 0, 1 << 40) + b"x" * 100
    with pytest.raises(DataError, match="larger than MAX_HUNK_SIZE"):
        _read(data)


def test_the_writer_refuses_a_hunk_no_reader_would_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "MAX_HUNK_SIZE", 1000)
    stream = DiscoOutputStream(io.BytesIO())
    stream.append(b"x" * 2000)
    with pytest.raises(ValueError, match="MAX_HUNK_SIZE"):
        stream.close()


def test_jobdict_with_a_code_past_255_is_a_jobdict_error() -> None:
    with pytest.raises(JobDictError, match="300"):
        jobdict_from_json(2, [[300]])


def test_jobdict_nested_past_the_stack_is_a_jobdict_error() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(JobDictError, match="nested too deeply"):
        jobdict_from_json(
            1,
            {
                "prefix": "p",
                "worker": "w",
                "owner": "o",
                "scheduler": {},
                "input": [deep],
                "nr_reduces": 1,
            },
        )


def test_an_index_size_of_4301_digits_names_url_and_line() -> None:
    data = b"0 raw://a 1\n0 raw://b " + b"9" * 4301 + b"\n"
    with pytest.raises(IndexFileError, match=r"index line 2: size .*dir://h/x"):
        parse_index(data, "dir://h/x")
