"""The seed's readers against golden section 7 (readers/*)."""

from __future__ import annotations

import ast
import base64
import gzip
import io
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from discoworker.app.readers import gzip_line_reader, gzip_reader, re_reader
from tests.conftest import GOLDEN
from tests.golden_values import assert_raised, attempt, tag

MANIFEST: list[dict[str, Any]] = json.loads((GOLDEN / "MANIFEST.json").read_text())["entries"]
(RE_ENTRY,) = [e for e in MANIFEST if e["section"] == 7 and e["file"] == "readers/re_input.txt"]
(GZ_ENTRY,) = [
    e for e in MANIFEST if e["section"] == 7 and str(e["file"]).startswith("readers/lines.txt.gz")
]
RE_INPUT = (GOLDEN / "readers/re_input.txt").read_bytes()
# The golden run named the file so; its messages carry the name.
FNAME = "GOLDEN/readers/re_input.txt"

_REGULAR = re.compile(
    r"re_reader\((b'.*'), f, size=(\w+), fname, output_tail=(\w+), read_buffer_size=(\d+)\)"
)
# The calls the manifest describes in words: (pattern, size, keyword arguments).
_SPECIAL: dict[str, tuple[Any, int | None, dict[str, Any]]] = {
    "declared size larger than file": (rb"(\w+) (\d+)\n", len(RE_INPUT) + 10, {}),
    "declared size smaller than file": (rb"(\w+) (\d+)\n", 10, {}),
    "as str pattern": (r"(.*?)\n", len(RE_INPUT), {}),
    # The manifest writes rb'(\w+)', but its results (alp, ha, 1, b, eta) need the pattern
    # to eat one separator after the word: rb'(\w+)\s?' gives exactly them.
    "greedy item split across reads": (rb"(\w+)\s?", None, {"read_buffer_size": 3}),
    "size 0 is falsy": (rb"(\w+) (\d+)\n", 0, {}),
}


def re_call(call: str) -> tuple[Any, int | None, dict[str, Any]]:
    match = _REGULAR.fullmatch(call)
    if match:
        pattern = ast.literal_eval(match[1])
        size = None if match[2] == "None" else int(match[2])
        options = {"output_tail": match[3] == "True", "read_buffer_size": int(match[4])}
        return pattern, size, options
    (special,) = [v for k, v in _SPECIAL.items() if k in call]
    return special


def test_re_input_is_the_manifests() -> None:
    assert base64.b64decode(RE_ENTRY["content_b64"]) == RE_INPUT


@pytest.mark.parametrize("call", sorted(RE_ENTRY["calls"]))
def test_re_reader_as_the_original(call: str, capsys: pytest.CaptureFixture[str]) -> None:
    expected = RE_ENTRY["calls"][call]
    pattern, size, options = re_call(call)
    got, raised = attempt(re_reader(pattern, io.BytesIO(RE_INPUT), size, FNAME, **options))
    assert [tag(item) for item in got] == expected["yields"]
    assert_raised(raised, expected["raises"])
    # The original printed to stdout (a MSG on a node); we write the same text to stderr.
    assert capsys.readouterr().err == expected["stdout"]


def test_re_reader_accepts_a_compiled_pattern() -> None:
    run = re_reader(re.compile(rb"(.*?)\n"), io.BytesIO(b"a\nb\n"), None, "f")
    assert list(run) == [(b"a",), (b"b",)]


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=200), buffer=st.integers(1, 64), tail=st.booleans())
def test_re_reader_on_arbitrary_bytes_keeps_every_byte(
    data: bytes, buffer: int, tail: bool
) -> None:
    # A pattern matching any line: what is yielded, tail included, is the input.
    items = list(
        re_reader(rb"([^\n]*\n)", io.BytesIO(data), None, "f", tail, read_buffer_size=buffer)
    )
    kept = data if tail else data[: data.rfind(b"\n") + 1]
    assert b"".join(item[0] for item in items) == kept
    assert all(isinstance(item, tuple) for item in items[:-1])


@pytest.mark.parametrize("call", sorted(GZ_ENTRY["calls"]))
def test_gzip_line_reader_as_the_original(call: str, capsys: pytest.CaptureFixture[str]) -> None:
    expected = GZ_ENTRY["calls"][call]
    match = re.fullmatch(r"gzip_line_reader\(open\('(.*)','rb'\), None, url, None\)", call)
    assert match
    with (GOLDEN / match[1]).open("rb") as f:
        got, raised = attempt(gzip_line_reader(f, None, "url", None))
    assert [tag(line) for line in got] == expected["yields"]
    assert raised is None
    assert capsys.readouterr().err == expected["stdout"]


def test_gzip_reader_wraps_the_stream_and_passes_size_and_url() -> None:
    with (GOLDEN / "readers/lines.txt.gz").open("rb") as f:
        stream, size, url = gzip_reader(f, 60, "disco://h/lines.txt.gz", None)
        assert (size, url) == (60, "disco://h/lines.txt.gz")
        assert stream.read() == b"first line\nsecond \xc3\xa4 line\n\nlast line without newline"


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_gzip_line_reader_on_arbitrary_bytes_never_raises(data: bytes) -> None:
    list(gzip_line_reader(io.BytesIO(data), None, "u", None))
    lines = io.BytesIO(data).readlines()
    assert list(gzip_line_reader(io.BytesIO(gzip.compress(data)), None, "u", None)) == lines


@given(st.binary())
def test_bytes_to_str_and_back_loses_no_byte(data: bytes) -> None:
    from discoworker.compat import bytes_to_str, str_to_bytes

    text = bytes_to_str(data)
    assert isinstance(text, str)
    assert str_to_bytes(text) == data
    assert bytes_to_str(text) is text  # str passes through, as in the original
    assert str_to_bytes(data) == data


@given(st.lists(st.binary().map(lambda b: b.replace(b"\n", b"") + b"\n")))
def test_text_and_bytes_line_readers_agree_on_any_bytes(lines: list[bytes]) -> None:
    from discoworker.task_io import bytes_line_reader, text_line_reader

    data = b"".join(lines)
    text = list(text_line_reader(io.BytesIO(data), len(data), "file:///x"))
    raw = list(bytes_line_reader(io.BytesIO(data), len(data), "file:///x"))
    assert raw == lines
    assert [t.encode("utf-8", "surrogateescape") for t in text] == lines
    # raw:// data arrives as text: the bytes reader encodes it back exactly.
    as_text = io.StringIO(data.decode("utf-8", "surrogateescape"), newline="\n")
    assert list(bytes_line_reader(as_text, None, "raw://x")) == lines
