"""Inputs: INPUT reply items, URL hosts, local replicas and the INPUT_ERR failover state."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from discoworker.domain.inputs import (
    FailoverState,
    Locality,
    Replica,
    TaskInput,
    http_url,
    local_path,
    order_replicas,
    url_host,
    url_path,
    url_port,
    url_scheme,
)
from discoworker.errors import DataError
from tests.unit.domain._recordings import frames, recorded_tasks

DATA = "/srv/discoroot/root/data"
DDFS = "/srv/discoroot/root/ddfs"


def test_every_recorded_input_item_parses_and_round_trips(golden: Path) -> None:
    count = 0
    for rec in recorded_tasks(golden / "real-master"):
        for item in rec.inputs:
            parsed = TaskInput.from_json(item)
            assert parsed.to_json() == item
            assert parsed.status == "ok"
            count += 1
    assert count > 40


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        [0, "ok", 0],
        [0, "ok", 0, [], 1],
        [-1, "ok", 0, []],
        [True, "ok", 0, []],
        ["0", "ok", 0, []],
        [0, "fine", 0, []],
        [0, "ok", "some", []],
        [0, "ok", 1.5, []],
        [0, "ok", False, []],
        [0, "ok", 0, {}],
        [0, "ok", 0, [[0]]],
        [0, "ok", 0, [[0, 1]]],
        [0, "ok", 0, [["0", "raw://a"]]],
        [0, "ok", 0, [[0, ""]]],
        [0, "ok", 0, [(0, "raw://a")]],
    ],
)
def test_malformed_items_are_value_errors(bad: object) -> None:
    with pytest.raises(ValueError):
        TaskInput.from_json(bad)


def test_statuses_and_labels() -> None:
    item = TaskInput.from_json([3, "busy", "all", []])
    assert (item.id, item.status, item.label, item.replicas) == (3, "busy", "all", ())
    assert TaskInput.from_json([0, "failed", -2, [[5, "raw://x"]]]).replicas == (
        Replica(5, "raw://x"),
    )


@pytest.mark.parametrize(
    ("url", "scheme", "host", "path"),
    [
        ("raw://foo_bar_hello_hello", "raw", "foo_bar_hello_hello", ""),
        ("raw://foo bar hello hello", "raw", "foo bar hello hello", ""),
        ("raw://abc", "raw", "abc", ""),
        ("disco://vm/disco/vm/e8/J/x", "disco", "vm", "disco/vm/e8/J/x"),
        ("dir://vm/disco/vm/e8/J/.disco/m.results", "dir", "vm", "disco/vm/e8/J/.disco/m.results"),
        ("http://localhost:8989/no/such/file", "http", "localhost", "no/such/file"),
        ("http://127.0.0.1:1/x", "http", "127.0.0.1", "x"),
        ("raw://a:b/c", "raw", "a", "c"),
        ("/plain/path", "", "", "/plain/path"),
        ("tag://data:wc", "tag", "data", ""),
    ],
)
def test_url_parts_as_the_master_reads_them(url: str, scheme: str, host: str, path: str) -> None:
    assert url_scheme(url) == scheme
    assert url_host(url) == host
    assert url_path(url) == path


def test_recorded_split_groups_are_url_hosts(golden: Path) -> None:
    # Under split the master names the group after one replica's host (chosen at random).
    checked = 0
    for rec in recorded_tasks(golden / "real-master"):
        if rec.spec.grouping != "split" or not rec.inputs:
            continue
        (item,) = {str(i): i for i in rec.inputs}.values()
        hosts = {url_host(url) for _rid, url in item[3]}
        assert rec.spec.group[1] in hosts
        checked += 1
    assert checked >= 10


def test_local_path_of_recorded_replicas() -> None:
    blob = "disco://vm/ddfs/vol0/blob/97/data1_txt$703-650fd-141a7"
    assert local_path(blob, "vm", disco_data=DATA, ddfs_data=DDFS) == (
        DDFS + "/vol0/blob/97/data1_txt$703-650fd-141a7"
    )
    missing = "disco://vm/disco/vm/nonexist/a"
    assert local_path(missing, "vm", disco_data=DATA, ddfs_data=DDFS) == DATA + "/vm/nonexist/a"
    assert local_path(missing, "other", disco_data=DATA, ddfs_data=DDFS) is None
    assert local_path("raw://vm", "vm", disco_data=DATA, ddfs_data=DDFS) is None
    assert local_path("disco://vm/other/x", "vm", disco_data=DATA, ddfs_data=DDFS) is None
    http = "http://vm:8989/disco/vm/x"
    assert local_path(http, "vm", disco_data=DATA, ddfs_data=DDFS) is None
    assert local_path(http, "vm", disco_data=DATA, ddfs_data=DDFS, disco_port=8989) == (
        DATA + "/vm/x"
    )
    with pytest.raises(DataError):
        local_path("disco://vm/disco/../../etc/passwd", "vm", disco_data=DATA, ddfs_data=DDFS)
    assert http_url(missing, 8989) == "http://vm:8989/disco/vm/nonexist/a"
    assert url_port("http://vm:8989/x") == "8989"
    with pytest.raises(ValueError):
        http_url("raw://x", 1)


@given(st.text())
def test_local_paths_stay_under_the_data_dirs(path: str) -> None:
    try:
        got = local_path(f"disco://vm/{path}", "vm", disco_data="/d", ddfs_data="/f")
    except DataError:
        return
    if got is not None:
        assert got.startswith(("/d/", "/f/"))
        assert "/../" not in got + "/"


def test_order_prefers_local_replicas() -> None:
    reps = (
        Replica(0, "http://elsewhere/x"),
        Replica(1, "disco://other/disco/other/x"),
        Replica(2, "disco://vm/disco/vm/x"),
        Replica(3, "dir://vm/disco/vm/.disco/x.results"),
        Replica(4, "raw://vm"),
    )
    got = order_replicas(reps, "vm", disco_data=DATA, ddfs_data=DDFS)
    assert [r.id for r in got] == [2, 3, 0, 1, 4]
    assert order_replicas(reps, "nowhere", disco_data=DATA, ddfs_data=DDFS) == reps


def test_job9_retry_then_fail(golden: Path) -> None:
    where = golden / "real-master" / "job9_inputerr_RETRY_FAIL_direct" / "map_task0_19152"
    (rec,) = [r for r in recorded_tasks(where.parent) if r.where == where]
    sent = [
        p
        for n, p in frames((where / "worker_to_master_stderr.bin").read_bytes())
        if n == "INPUT_ERR"
    ]
    replies = [
        (n, p)
        for n, p in frames((where / "master_to_worker.bin").read_bytes())
        if n in ("RETRY", "FAIL")
    ]
    state = FailoverState.start(TaskInput.from_json(rec.inputs[0]), Locality("vm", DATA, DDFS))
    first = state.next_replica()
    assert first == Replica(0, "raw://abc")
    state = state.failed(first.id)
    # The job sent INPUT_ERR by hand while replica 1 was left: the master's RETRY lists it.
    assert state.input_err() == sent[0] == [0, [0]]
    name, payload = replies[0]
    assert name == "RETRY"
    state = state.retry([Replica.from_json(r) for r in payload])
    second = state.next_replica()
    assert second == Replica(1, "raw://abd")
    state = state.failed(second.id)
    assert state.exhausted
    assert state.input_err() == sent[1] == [0, [0, 1]]
    assert replies[1] == ("FAIL", "")
    assert state.next_replica() is None


def test_failover_is_cumulative_and_skips_failed_ids() -> None:
    item = TaskInput(7, "ok", 0, (Replica(0, "http://a/x"), Replica(1, "disco://vm/disco/vm/x")))
    state = FailoverState.start(item, Locality("vm", DATA, DDFS))
    assert state.next_replica() == Replica(1, "disco://vm/disco/vm/x")
    state = state.failed(1).failed(1)
    assert state.failed_ids == (1,)
    assert state.next_replica() == Replica(0, "http://a/x")
    state = state.failed(0)
    # A RETRY naming an already failed replica (the master never does) is not tried again.
    state = state.retry([Replica(1, "disco://vm/disco/vm/x"), Replica(2, "http://b/x")])
    assert state.remaining == (Replica(2, "http://b/x"),)
    assert state.input_err() == [7, [1, 0]]
    assert FailoverState.start(item).remaining == item.replicas
