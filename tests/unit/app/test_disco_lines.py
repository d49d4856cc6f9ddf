"""Jobs written with the ``disco`` names read lines as Disco 0.5 gave them; ours read str."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from discoworker import disco_compat
from discoworker.task_io import stream_line_reader, text_line_reader


def test_the_stream_reader_gives_bytes_from_binary_streams_and_str_from_raw() -> None:
    assert list(stream_line_reader(io.BytesIO(b"a b\nc\n"), 6, "file:///x")) == [b"a b\n", b"c\n"]
    assert list(stream_line_reader(io.StringIO("raw text"), 8, "raw://raw text")) == ["raw text"]
    assert list(text_line_reader(io.BytesIO(b"a b\nc\n"), 6, "file:///x")) == ["a b\n", "c\n"]


def fun_map(line: Any, params: Any) -> Any:
    yield line.strip(), type(line).__name__


@pytest.fixture
def _forget_disco() -> Any:
    import sys

    yield
    for name in [m for m in sys.modules if m == "disco" or m.startswith("disco.")]:
        del sys.modules[name]


@pytest.mark.slow
@pytest.mark.usefixtures("_forget_disco")
def test_a_disco_job_maps_bytes_from_a_file_and_str_from_raw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCOWORKER_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("DISCO_MASTER", raising=False)
    monkeypatch.syspath_prepend(disco_compat.path())
    from disco.core import Job, result_iterator

    (tmp_path / "in.txt").write_bytes(b"from a file\n")
    job = Job().run(input=[f"file://{tmp_path / 'in.txt'}", "raw://from raw"], map=fun_map)
    got = sorted(result_iterator(job.wait()), key=repr)
    assert got == sorted([(b"from a file", "bytes"), ("from raw", "str")], key=repr)
