"""The Dask master's parts that need no cluster: its URL, and what a task gives a later one."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Literal

import pytest

from discoworker.errors import CommError, DiscoError

if TYPE_CHECKING:
    from discoworker.adapters.dask.node import TaskResult

pytest.importorskip("distributed", reason="distributed is not installed (the dask extra)")


def test_a_dask_url_names_the_schedulers_tcp_address_and_a_bad_one_is_refused() -> None:
    from discoworker.adapters.dask import scheduler_address

    assert scheduler_address("dask://sched.example:8786") == "tcp://sched.example:8786"
    assert scheduler_address("dask://10.0.0.1:8786/") == "tcp://10.0.0.1:8786"
    for bad in ("dask://", "dask://host:8786/jobs/x"):
        with pytest.raises(CommError, match="dask://host:port"):
            scheduler_address(bad)


def test_an_unreachable_scheduler_is_a_comm_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    from discoworker.adapters.dask import master as dask_master
    from discoworker.app.bootstrap import master_for

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setattr(dask_master, "CONNECT_TIMEOUT", 1.0)
    with pytest.raises(CommError, match=f"tcp://127.0.0.1:{port}"):
        master_for(f"dask://127.0.0.1:{port}", {"data_dir": str(tmp_path)})


def _result(kind: Literal["done", "error"] = "done") -> TaskResult:
    from discoworker.adapters.dask.node import TaskResult
    from discoworker.domain.index import IndexEntry

    index = ("disco", "localhost/ab/J/.disco/map-0-1.results")
    zero = ("disco", "localhost/ab/J/t/map-0-0")
    one = ("disco", "localhost/ab/J/t/map-0-1")
    return TaskResult(
        kind, "", "tcp://127.0.0.1:1", ((1.0, "DONE: [map:0] ok"),),
        index_url="dir://localhost/disco/localhost/ab/J/.disco/map-0-1.results",
        entries=(IndexEntry(0, "disco://localhost/disco/localhost/ab/J/t/map-0-0", 3),
                 IndexEntry(1, "disco://localhost/disco/localhost/ab/J/t/map-0-1", 2)),
        files={index: b"index", zero: b"zero", one: b"one"},
        pieces=((0, zero), (1, one)),
    )


def test_a_later_task_gets_the_index_and_only_the_label_it_reads() -> None:
    from discoworker.adapters.dask.node import meta_of, select

    result = _result()
    picked = select(result, 1)
    assert sorted(picked) == [("disco", "localhost/ab/J/.disco/map-0-1.results"),
                              ("disco", "localhost/ab/J/t/map-0-1")]
    assert len(select(result, None)) == 3
    meta = meta_of(result)
    assert meta.files == {} and meta.entries == result.entries


def test_a_rerun_that_did_not_finish_gives_a_later_task_nothing_but_an_error() -> None:
    from discoworker.adapters.dask.node import select

    with pytest.raises(DiscoError, match="ended error"):
        select(_result("error"), 0)
