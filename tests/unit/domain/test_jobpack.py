"""The job pack's bytes: golden vectors of the original, the master's header rules, round trips."""

from __future__ import annotations

import hashlib
import io
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from discoworker.domain.jobpack import (
    HEADER_SIZE,
    MAGIC,
    VERSION_1,
    VERSION_2,
    JobPack,
    JobPackHeader,
    header,
    read_jobdata,
)
from discoworker.errors import JobPackError
from tests.golden_values import untag


def _entry(manifest: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(e for e in manifest if e.get("file") == f"jobpack/{name}")


def _golden_pack(golden: Path, manifest: list[dict[str, Any]], name: str) -> JobPack:
    entry = _entry(manifest, name)
    return JobPack(
        version=entry["header"]["version"],
        jobdict=entry["inputs"]["jobdict"],
        jobenvs=entry["inputs"]["jobenvs"],
        jobhome=(golden / "jobpack/jobhome.zip").read_bytes(),
        jobdata=(golden / "jobpack/jobdata.bin").read_bytes(),
    )


# --- the golden packs ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["jobpack_v1.bin", "jobpack_v2.bin"])
def test_dumps_is_byte_identical_to_the_original(
    golden: Path, manifest: list[dict[str, Any]], name: str
) -> None:
    entry = _entry(manifest, name)
    data = _golden_pack(golden, manifest, name).dumps()
    assert data == (golden / "jobpack" / name).read_bytes()
    assert len(data) == entry["size"]
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]


@pytest.mark.parametrize("name", ["jobpack_v1.bin", "jobpack_v2.bin"])
def test_loads_gives_what_the_original_read(
    golden: Path, manifest: list[dict[str, Any]], name: str
) -> None:
    entry = _entry(manifest, name)
    data = (golden / "jobpack" / name).read_bytes()
    with (golden / "jobpack" / name).open("rb") as f:
        pack = JobPack.load(f)
    assert pack == JobPack.loads(data)
    read = entry["JobPack.load(f) -> PackedJobPack"]
    assert pack.jobdict == read["jobdict"]
    # Key order survives too: it is part of the bytes.
    assert list(pack.jobdict) == list(read["jobdict"])
    assert pack.jobenvs == read["jobenvs"]
    assert pack.jobhome == (golden / "jobpack/jobhome.zip").read_bytes()
    assert pack.jobdata == (golden / "jobpack/jobdata.bin").read_bytes()
    assert pack.version == entry["header"]["version"]
    assert pack.dumps() == data


@pytest.mark.parametrize("name", ["jobpack_v1.bin", "jobpack_v2.bin"])
def test_header_matches_the_manifest(
    golden: Path, manifest: list[dict[str, Any]], name: str
) -> None:
    entry = _entry(manifest, name)
    data = (golden / "jobpack" / name).read_bytes()
    h = header(data)
    want = entry["header"]
    assert h == JobPackHeader(
        want["version"],
        want["jobdict_offset"],
        want["jobenvs_offset"],
        want["jobhome_offset"],
        want["jobdata_offset"],
    )
    assert f"0x{(MAGIC << 16) | h.version:08x}" == want["magic_version_word"]
    assert [h.jobdict_offset, h.jobenvs_offset, h.jobhome_offset, h.jobdata_offset] == entry[
        "JobPack.offsets(f)"
    ]
    assert h.dumps() == data[:HEADER_SIZE]
    assert data[20:HEADER_SIZE] == bytes(HEADER_SIZE - 20)


def test_json_fields_use_the_originals_encoding(
    golden: Path, manifest: list[dict[str, Any]]
) -> None:
    entry = _entry(manifest, "jobpack_v1.bin")
    data = (golden / "jobpack/jobpack_v1.bin").read_bytes()
    fields = entry["fields"]
    # ", " and ": " separators, \uXXXX escapes for non-ASCII, insertion order.
    assert data[128:404].decode("ascii") == fields["jobdict_json_bytes"]
    assert data[404:452].decode("ascii") == fields["jobenvs_json_bytes"]
    assert b'"owner": "tester@h\\u00f4st"' in data


def test_the_v2_layout_vector_is_valid_bytes_around_a_v1_jobdict(golden: Path) -> None:
    pack = JobPack.loads((golden / "jobpack/jobpack_v2.bin").read_bytes())
    assert pack.version == VERSION_2
    assert "pipeline" not in pack.jobdict


MALFORMED = {
    # file: (what the message must say, the header offset it must name or None)
    "bad_magic.bin": ("magic 0xd5c1", "at offset 0"),
    "bad_header_size.bin": ("jobdict offset 64", "at offset 4"),
    "unsorted_offsets.bin": ("jobhome offset 452", "at offset 12"),
    "truncated_10.bin": ("truncated job pack: 10 bytes", "at offset 10"),
    "empty.bin": ("truncated job pack: 0 bytes", "at offset 0"),
    "truncated_header_only.bin": ("past the end of the 128-byte pack", "at offset 16"),
    "version7.bin": ("unsupported version '7'", "at offset 2"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_packs_raise_job_pack_error(
    golden: Path, manifest: list[dict[str, Any]], name: str
) -> None:
    entry = _entry(manifest, name)
    what, where = MALFORMED[name]
    data = (golden / "jobpack" / name).read_bytes()
    assert len(data) == entry["size"]
    with pytest.raises(JobPackError) as info:
        JobPack.loads(data)
    assert what in str(info.value)
    assert where in str(info.value)
    with pytest.raises(JobPackError):
        header(data)
    # The original raised too (AssertionError, struct.error, JSONDecodeError), except on the
    # version it never checked: the master refuses that one ("unsupported version '7'").
    if name == "version7.bin":
        assert "value" in entry["jobdict"]
    else:
        assert "raises" in entry["jobdict"]


def test_truncated_jobdata_cannot_be_told_and_loads_short(
    golden: Path, manifest: list[dict[str, Any]]
) -> None:
    # jobdata has no length of its own: it runs to the end, so a cut in it passes every
    # header rule of the master, and the original read it short as well.
    entry = _entry(manifest, "truncated_in_jobdata.bin")
    pack = JobPack.loads((golden / "jobpack/truncated_in_jobdata.bin").read_bytes())
    assert pack.jobdict == untag(entry["jobdict"]["value"])
    assert pack.jobenvs == untag(entry["jobenvs"]["value"])
    assert len(pack.jobhome) == entry["jobhome"]["len"]
    assert len(pack.jobdata) == entry["jobdata"]["len"]
    assert pack.jobdata == (golden / "jobpack/jobdata.bin").read_bytes()[:41]


# --- the rules, one by one ---------------------------------------------------------------------


def _pack_bytes(
    jobdict: bytes = b"{}", jobenvs: bytes = b"{}", home: bytes = b"", data: bytes = b""
) -> bytes:
    offs = [HEADER_SIZE]
    for field in (jobdict, jobenvs, home):
        offs.append(offs[-1] + len(field))
    head = struct.pack("!IIIII", (MAGIC << 16) | VERSION_1, *offs).ljust(HEADER_SIZE, b"\0")
    return head + jobdict + jobenvs + home + data


def _with_offsets(*offsets: int, size: int = 200, version: int = VERSION_1) -> bytes:
    head = struct.pack("!IIIII", (MAGIC << 16) | version, *offsets)
    return head.ljust(size, b"\0")


@pytest.mark.parametrize(
    ("offsets", "message"),
    [
        ((129, 130, 130, 130), "jobdict offset 129 at offset 4"),
        ((128, 128, 130, 130), "jobenvs offset 128 at offset 8"),
        ((128, 140, 139, 150), "jobhome offset 139 at offset 12"),
        ((128, 140, 150, 149), "jobdata offset 149 at offset 16"),
        ((128, 140, 150, 201), "jobdata offset 201 at offset 16 is past the end"),
    ],
)
def test_header_offset_rules(offsets: tuple[int, ...], message: str) -> None:
    with pytest.raises(JobPackError, match=message):
        JobPack.loads(_with_offsets(*offsets))


def test_empty_jobenvs_home_and_data_fields_pass_the_header_rules() -> None:
    # Equal offsets are allowed after the jobdict; only the JSON then fails.
    h = header(_with_offsets(128, 130, 130, 130))
    assert (h.jobenvs_offset, h.jobhome_offset, h.jobdata_offset) == (130, 130, 130)
    assert header(_with_offsets(128, 130, 140, 200)).jobdata_offset == 200


@pytest.mark.parametrize("version", [0, 3, 7, 0xFFFF])
def test_only_versions_1_and_2(version: int) -> None:
    with pytest.raises(JobPackError, match=f"unsupported version '{version}' at offset 2"):
        header(_with_offsets(128, 130, 130, 130, version=version))


def test_a_short_header_with_good_magic_is_truncation() -> None:
    data = _with_offsets(128, 130, 130, 130, size=64)
    with pytest.raises(JobPackError, match="past the end of the 64-byte pack"):
        JobPack.loads(data)


@pytest.mark.parametrize(
    ("jobdict", "message"),
    [
        (b"[1, 2]", "jobdict at offset 128: a JSON object expected, list found"),
        (b'"x"   ', "a JSON object expected, str found"),
        (b"{,}", "jobdict at offset 128: invalid JSON at offset 129"),
        (b'{"\xc3\xb4": 1, }', "invalid JSON at offset 138"),
        (b'{"a": "\xff"}', "jobdict at offset 128: invalid UTF-8 at offset 135"),
        (b'{"a": NaN}', "non-standard JSON constant NaN"),
        (b"[" * 100_000, "jobdict at offset 128: invalid JSON"),
        (b'{"a": ' + b"9" * 5000 + b"}", "jobdict at offset 128: invalid JSON"),
    ],
)
def test_bad_jobdict_json(jobdict: bytes, message: str) -> None:
    with pytest.raises(JobPackError, match=message):
        JobPack.loads(_pack_bytes(jobdict=jobdict))


def test_bad_jobenvs_json_names_its_offset() -> None:
    with pytest.raises(JobPackError, match="jobenvs at offset 130: a JSON object expected"):
        JobPack.loads(_pack_bytes(jobdict=b"{}", jobenvs=b"null"))


def test_loads_keeps_home_and_data_as_given() -> None:
    pack = JobPack.loads(_pack_bytes(b'{"a": 1}', b'{"B": "c"}', b"PK-home", b"\x80data"))
    assert pack == JobPack(1, {"a": 1}, {"B": "c"}, b"PK-home", b"\x80data")


def test_load_reads_a_binary_file() -> None:
    data = _pack_bytes(b'{"a": 1}')
    assert JobPack.load(io.BytesIO(data)) == JobPack.loads(data)


def test_a_task_reads_the_jobdata_of_a_pack_file_whatever_its_home() -> None:
    pack = JobPack(1, {"a": 1}, {"B": "c"}, b"PK" + bytes(range(256)) * 40, b"\x80data")
    assert read_jobdata(io.BytesIO(pack.dumps())) == b"\x80data"


def test_read_jobdata_of_a_cut_pack_names_the_offset_past_its_end() -> None:
    data = JobPack(1, {"a": 1}, {}, b"PK-home" * 10, b"\x80data").dumps()
    cut = data[: header(data).jobdata_offset - 3]
    with pytest.raises(JobPackError, match=f"jobdata offset {header(data).jobdata_offset} "
                                           f"at offset 16 is past the end of the {len(cut)}"):
        read_jobdata(io.BytesIO(cut))
    with pytest.raises(JobPackError, match="bad magic"):
        read_jobdata(io.BytesIO(b"\0" * 200))


def test_dumps_refuses_what_the_master_could_not_read() -> None:
    with pytest.raises(JobPackError, match="jobdict is not JSON-encodable"):
        JobPack(1, {"x": float("nan")}, {}, b"", b"").dumps()
    with pytest.raises(JobPackError, match="jobenvs is not JSON-encodable"):
        JobPack(1, {}, {"x": object()}, b"", b"").dumps()  # type: ignore[dict-item]
    with pytest.raises(JobPackError, match="unsupported version '3'"):
        JobPack(3, {}, {}, b"", b"").dumps()


def test_dumps_escapes_non_ascii_like_the_original() -> None:
    data = JobPack(2, {"k": "\u00f4\U0001f600"}, {"E": "\u00e9"}, b"", b"").dumps()
    assert data[HEADER_SIZE:] == b'{"k": "\\u00f4\\ud83d\\ude00"}{"E": "\\u00e9"}'
    assert JobPack.loads(data).jobdict == {"k": "\u00f4\U0001f600"}


# --- properties -------------------------------------------------------------------------------

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)

_packs = st.builds(
    JobPack,
    version=st.sampled_from([VERSION_1, VERSION_2]),
    jobdict=st.dictionaries(st.text(), _json_values, max_size=6),
    jobenvs=st.dictionaries(st.text(), st.text(), max_size=4),
    jobhome=st.binary(max_size=64),
    jobdata=st.binary(max_size=64),
)


@settings(max_examples=200, deadline=None)
@given(_packs)
def test_round_trip(pack: JobPack) -> None:
    data = pack.dumps()
    assert JobPack.loads(data) == pack
    assert JobPack.loads(data).dumps() == data
    assert json.loads(data[HEADER_SIZE : header(data).jobenvs_offset]) == pack.jobdict
    assert read_jobdata(io.BytesIO(data)) == pack.jobdata


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_a_pack_or_a_job_pack_error(data: bytes) -> None:
    try:
        assert isinstance(JobPack.loads(data), JobPack)
    except JobPackError:
        pass


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 3),
    st.lists(st.integers(100, 260), min_size=4, max_size=4),
    st.binary(max_size=140),
)
def test_arbitrary_bodies_behind_plausible_headers(
    version: int, offsets: list[int], body: bytes
) -> None:
    # Headers that often pass, so that the JSON and slicing paths are reached too.
    data = struct.pack("!IIIII", (MAGIC << 16) | version, 128, *sorted(offsets)[1:])
    data = data.ljust(HEADER_SIZE, b"\0") + body
    try:
        pack = JobPack.loads(data)
    except JobPackError:
        return
    assert isinstance(pack.jobdict, dict)
    assert isinstance(pack.jobenvs, dict)
