"""A node blacklisted between two jobs through the master's HTTP API (``/disco/ctrl/blacklist``)
gets none of the next job's tasks; whitelisted again (``/disco/ctrl/whitelist``), it gets
tasks of the job after."""

from __future__ import annotations

import collections
import re
from collections.abc import Iterator
from typing import Any

from discoworker.adapters.master_http import HttpMaster
from discoworker.job import Job, result_iterator
from tests.cluster.conftest import needs_cluster, post_ctrl, purge_checked

pytestmark = needs_cluster

LINES = [f"b{i:02d} common" for i in range(12)]


def slow_split(line: str, params: Any) -> Iterator[tuple[str, int]]:
    import time

    time.sleep(1.0)  # each map long enough that every allowed node gets some
    for word in line.split():
        yield word, 1


def run_and_where(master: HttpMaster, name: str) -> set[str]:
    """Run a map-only job; the hosts its tasks were given to (its count checked exact)."""
    job = Job(name=name, master=master).run(
        input=[f"raw://{line}" for line in LINES], map=slow_split
    )
    results = job.wait(timeout=240)
    got = collections.Counter(w for w, _ in result_iterator(results, master=master))
    assert got == collections.Counter(w for line in LINES for w in line.split())
    hosts = {
        m[1]
        for e in master.events(job.name)
        if (m := re.fullmatch(r"map:\d+ assigned to (\S+)", e.message))
    }
    purge_checked(master, job.name)
    return hosts


def test_a_blacklisted_node_gets_no_task_until_whitelisted(
    cluster: HttpMaster, nodes: list[str]
) -> None:
    banned = nodes[0]
    post_ctrl(cluster, "blacklist", banned)
    try:
        assert cluster.nodeinfo()[banned]["blacklisted"] is True
        assert run_and_where(cluster, "ClusterBlacklisted") == set(nodes) - {banned}
    finally:
        post_ctrl(cluster, "whitelist", banned)
    assert cluster.nodeinfo()[banned]["blacklisted"] is False
    assert run_and_where(cluster, "ClusterWhitelisted") == set(nodes)
