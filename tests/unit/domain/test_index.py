"""dir:// index files against golden section 3 and the real master's index files."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from discoworker.domain.index import (
    IndexEntry,
    dir_url_to_http,
    dir_url_to_path,
    expand_dir,
    format_index,
    is_gzip_index,
    parse_index,
)
from discoworker.errors import DataError, IndexFileError

DIR_URL = (
    "dir://localhost/disco/localhost/cb/golden@5a1:b2c3d:e4f5/.disco/map-3-1700000000123456.results"
)
SERVED = (
    "index/served/disco/localhost/cb/golden@5a1:b2c3d:e4f5/.disco/map-3-1700000000123456.results"
)


def _section3(manifest: list[dict[str, Any]]) -> dict[str, Any]:
    (entry,) = [e for e in manifest if e.get("section") == 3]
    return entry


def _read(golden: Path, url: str) -> list[IndexEntry]:
    """What our reader does with a local index: gunzip by the URL's suffix, then parse."""
    data = (golden / url).read_bytes()
    if is_gzip_index(url):
        data = gzip.decompress(data)
    return parse_index(data, url)


def _as_lists(entries: list[IndexEntry]) -> list[list[object]]:
    return [[e.label, e.url, e.size] for e in entries]


def test_every_recorded_read_index_call(golden: Path, manifest: list[dict[str, Any]]) -> None:
    calls = _section3(manifest)["calls"]
    seen = 0
    for call, result in calls.items():
        if not call.startswith("read_index('GOLDEN/"):
            continue
        rel = call.removeprefix("read_index('GOLDEN/").removesuffix("')")
        if "content_b64" in result:
            assert (golden / rel).read_bytes() == base64.b64decode(result["content_b64"])
        if "value" in result:
            assert _as_lists(_read(golden, rel)) == result["value"], call
        else:
            # The original raised ValueError / UnicodeDecodeError; ours is an IndexFileError
            # (a ValueError too, and fatal) naming the URL and the line.
            with pytest.raises(IndexFileError) as info:
                _read(golden, rel)
            assert info.value.url == rel
            assert "line " in info.value.msg
        seen += 1
    # read_index(b"...") (a bytes URL) crashed the original; our URLs are str by type.
    assert seen == 9


@pytest.mark.parametrize(
    ("name", "line", "words"),
    [
        ("index_blank_line.results", 5, "blank"),
        ("index_bad_label.results", 1, "label is not an integer: 'x'"),
        ("index_extra_field.results", 1, "4 fields"),
        ("index_gz_without_suffix.results", 1, "not UTF-8 (a gzipped index without .gz?)"),
    ],
)
def test_error_texts_name_line_and_fault(golden: Path, name: str, line: int, words: str) -> None:
    with pytest.raises(IndexFileError) as info:
        parse_index((golden / "index" / name).read_bytes(), f"dir://h/{name}")
    assert f"index line {line}" in info.value.msg
    assert words in info.value.msg
    assert f"dir://h/{name}" in str(info.value)


def test_other_read_index_forms_give_the_same_entries(
    golden: Path, manifest: list[dict[str, Any]]
) -> None:
    calls = _section3(manifest)["calls"]
    plain = calls["read_index('GOLDEN/index/index_plain.results')"]["value"]
    for key in (
        "read_index('file:///GOLDEN/index/index_plain.results')",
        "read_index(['GOLDEN/index/index_plain.results', 'ignored'])",
        "read_index(dir_url)",
        "read_index(dir_url + '.gz')",
    ):
        assert calls[key]["value"] == plain
    assert _as_lists(_read(golden, SERVED)) == plain
    assert _as_lists(_read(golden, SERVED + ".gz")) == plain
    assert is_gzip_index(DIR_URL + ".gz") and not is_gzip_index(DIR_URL)
    content = _section3(manifest)["content"].encode()
    assert (golden / "index" / "index_plain.results").read_bytes() == content


def test_parse_dir_and_inputlist_expansion(golden: Path, manifest: list[dict[str, Any]]) -> None:
    calls = _section3(manifest)["calls"]
    entries = _read(golden, SERVED)
    assert [e.url for e in expand_dir(entries, "all")] == calls["parse_dir(dir_url)"]["value"]
    for label in (0, 2):
        got = [e.url for e in expand_dir(entries, label)]
        assert got == calls[f"parse_dir(dir_url, label={label})"]["value"]
    as_inputs = [[e.url] for e in expand_dir(entries, 0)]
    assert as_inputs == calls["inputlist([dir_url], label=0)"]["value"]
    assert [[e.url] for e in expand_dir(entries, "all")] == calls[
        "inputlist([dir_url])  (label=None)"
    ]["value"]
    assert expand_dir(entries, 7) == []


def test_dir_url_mapping(manifest: list[dict[str, Any]]) -> None:
    calls = _section3(manifest)["calls"]
    (resolved,) = calls["urlresolve(dir_url)"]["value"]
    port = int(resolved.split("/")[2].split(":")[1])
    assert dir_url_to_http(DIR_URL, port) == resolved
    (split,) = calls["urlsplit(dir_url)"]["value"]
    assert split[0] == "dir" and split[1] == ["localhost", ""]
    assert (
        dir_url_to_path(DIR_URL, "/srv/data", "localhost")
        == "/srv/data/" + split[2].split("/", 1)[1]
    )
    assert dir_url_to_path(DIR_URL, "/srv/data", "otherhost") is None
    with pytest.raises(DataError):
        dir_url_to_path("dir://localhost/disco/../../etc/passwd", "/srv/data", "localhost")
    with pytest.raises(ValueError, match="not a dir"):
        dir_url_to_http("disco://h/x", 1)


def test_real_master_index_files_parse(golden: Path) -> None:
    real = golden / "real-master"
    files = sorted(real.glob("index_files_job11/*.results"))
    assert len(files) == 4
    for f in files:
        data = f.read_bytes()
        entries = parse_index(data, f.name)
        assert entries and all(e.url.startswith("disco://vm/disco/vm/06/") for e in entries)
        assert format_index(entries) == data
    # job1b: raw:// input with spaces: the master wrote lines of more than 3 fields.
    bad = real / "job1b_wordcount_spaces_in_raw_input" / "index_files"
    for f in sorted(bad.glob("*.results")):
        with pytest.raises(IndexFileError, match="fields"):
            parse_index(f.read_bytes(), f.name)


def test_format_refuses_what_it_cannot_write() -> None:
    with pytest.raises(ValueError):
        format_index([IndexEntry(0, "disco://h/a b", 1)])
    with pytest.raises(ValueError):
        format_index([IndexEntry(0, "", 1)])
    with pytest.raises(ValueError):
        format_index([IndexEntry(0, "disco://h/\ud800", 1)])
    assert format_index([]) == b""


def test_tolerance() -> None:
    assert parse_index(b"", "u") == []
    assert parse_index(b"+1 u 2\r\n", "u") == [IndexEntry(1, "u", 2)]
    with pytest.raises(IndexFileError):
        parse_index(b"1 u 2\n\n", "u")
    with pytest.raises(IndexFileError, match="size is not an integer"):
        parse_index(b"1 u 2.0\n", "u")
    with pytest.raises(IndexFileError):
        parse_index(b"1 u 1_000\n", "u")


_url = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=40).filter(
    lambda u: not any(c.isspace() for c in u)
)
_entry = st.builds(IndexEntry, st.integers(), _url, st.integers(min_value=0))


@given(st.lists(_entry, max_size=20))
def test_format_parse_round_trip(entries: list[IndexEntry]) -> None:
    data = format_index(entries)
    assert parse_index(data, "dir://h/x") == entries


@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_entries_or_index_file_error(data: bytes) -> None:
    try:
        entries = parse_index(data, "dir://h/x")
    except IndexFileError as e:
        assert e.url == "dir://h/x"
    else:
        assert all(isinstance(e, IndexEntry) for e in entries)


@given(
    st.lists(
        st.sampled_from([b"1", b" ", b"\t", b"\r", b"\n", b"x", b"-", b"\xff", b"+"]), max_size=40
    )
)
def test_index_like_bytes_give_entries_or_index_file_error(parts: list[bytes]) -> None:
    try:
        parse_index(b"".join(parts), "u")
    except IndexFileError:
        pass
