"""Chains of stream functions: arity, result shapes, order of closing, the task's openers."""

from __future__ import annotations

import io
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from discoworker.adapters.openers import UrlOpener
from discoworker.adapters.transport_memory import MemoryTransport, ScriptedMaster
from discoworker.app.context import TaskContext, locality_of, set_current_context
from discoworker.app.master_line import MasterLine
from discoworker.app.streams import (
    InputStream,
    OutputStream,
    StreamChain,
    call_stream,
    chain_reader,
    disco_output_stream,
    input_chain,
    output_chain,
    takes_params,
    task_input_stream,
    task_output_stream,
)
from discoworker.domain.task import Task
from tests.unit.app.workers import task_spec


@pytest.fixture
def context(tmp_path: Path) -> Iterator[TaskContext]:
    spec = task_spec(str(tmp_path / "jobfile"), tmp_path)
    task = Task.from_spec(spec, now=1.0, pid=7)
    line = MasterLine(MemoryTransport(ScriptedMaster(spec)))
    ctx = TaskContext(task, line, tmp_path, UrlOpener(locality_of(task)))
    set_current_context(ctx)
    yield ctx
    set_current_context(None)


def three(stream: Any, size: Any, url: str) -> Any:
    return ("three", size, url)


def four(stream: Any, size: Any, url: str, params: Any) -> Any:
    return (stream, params)


def named(stream: Any, size: Any, url: str, params: Any = None) -> Any:
    return params


def flagged(stream: Any, size: Any, url: str, ignore_corrupt: bool = False) -> Any:
    return ignore_corrupt


def test_params_go_only_to_functions_that_take_them() -> None:
    assert not takes_params(three)
    assert takes_params(four)
    assert takes_params(named)
    assert not takes_params(flagged)  # chain_reader's ignore_corrupt must not get params
    assert not takes_params(len)
    assert call_stream(three, None, 5, "u", "P") == ("three", 5, "u")
    assert call_stream(four, "s", 5, "u", "P") == ("s", 5, "P")  # a pair is (stream, url)
    assert call_stream(named, None, 5, "u", "P") == ("P", 5, "u")  # one value is the stream
    assert call_stream(flagged, None, 5, "u", "P") == (False, 5, "u")


class Closing(io.BytesIO):
    def __init__(self, log: list[str], name: str) -> None:
        super().__init__(b"")
        self.log, self.name = log, name

    def close(self) -> None:
        self.log.append(self.name)
        super().close()


def test_a_chain_closes_its_streams_last_first() -> None:
    log: list[str] = []
    chain = StreamChain(
        "u", [lambda s, z, u: Closing(log, "file"), lambda s, z, u: Closing(log, "codec")]
    )
    assert chain.last.name == "codec"
    chain.close()
    assert log == ["codec", "file"]


def lines(fd: Any, size: Any, url: str, params: Any) -> Iterator[Any]:
    for line in fd:
        yield (params, line)


def test_input_chains_open_raw_as_text_and_files_as_bytes(
    context: TaskContext, tmp_path: Path
) -> None:
    path = tmp_path / "in.txt"
    path.write_bytes("ä b\nc\n".encode())
    open_url = input_chain([task_input_stream], lines, "P")
    raw = "raw://" + urllib.parse.quote("ä b\nc")
    assert list(open_url(raw)) == [("P", "ä b\n"), ("P", "c")]
    assert list(open_url(f"file://{path}")) == [("P", "ä b\n".encode()), ("P", b"c\n")]
    stream, size, _url = task_input_stream(None, None, raw, None)
    assert isinstance(stream, InputStream) and size == 5


def test_an_output_chain_is_atomic_and_reads_back_with_chain_reader(
    context: TaskContext, tmp_path: Path
) -> None:
    open_path = output_chain([task_output_stream, disco_output_stream], None, label=3)
    chain = open_path("out/part-3")
    assert isinstance(chain.last, OutputStream)
    chain.add("k", 1)
    chain.add("é", b"\x00")
    assert not (tmp_path / "out/part-3").exists()
    chain.close()
    with (tmp_path / "out/part-3").open("rb") as f:
        assert list(chain_reader(f, None, "u")) == [("k", 1), ("é", b"\x00")]


def test_a_discarded_output_leaves_nothing(context: TaskContext, tmp_path: Path) -> None:
    chain = output_chain([task_output_stream, disco_output_stream], None)("gone")
    chain.add("k", 1)
    chain.discard()
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith("gone")]


def test_the_records_modules_own_functions_chain_too(context: TaskContext, tmp_path: Path) -> None:
    from discoworker.domain import records

    chain = output_chain([task_output_stream, records.disco_output_stream], "P")("r")
    chain.add("k", 1)
    chain.close()
    reader = input_chain([task_input_stream], records.chain_reader, "P")
    assert list(reader(f"file://{tmp_path / 'r'}")) == [("k", 1)]
