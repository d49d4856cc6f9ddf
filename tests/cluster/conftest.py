"""The live cluster suite: a real Disco master with several real nodes (docs/cluster.md).

Every test here is skipped, saying why, unless ``DISCO_CLUSTER_MASTER`` names the master of a
running multi-node Disco cluster whose nodes have discoworker's Python on their PATH
(``scripts/cluster.sh up`` makes one on this machine; ``scripts/cluster.sh run python -m pytest
tests/cluster`` runs the suite against it with the variables below set).

- ``DISCO_CLUSTER_MASTER``     the master, e.g. ``http://master:8989``
- ``DISCO_CLUSTER_NODE_DOWN``  a command that stops every process of one node, ``{host}`` in it
                               standing for the node's name (the node-loss tests need it)
- ``DISCO_REAL_MASTER``        the PREFIX of the original library's build (interop tests)
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from discoworker.adapters.master_http import HttpMaster

CLUSTER = os.environ.get("DISCO_CLUSTER_MASTER", "")
NODE_DOWN = os.environ.get("DISCO_CLUSTER_NODE_DOWN", "")

#: Seconds a node the master lost may take to be started again (node_mon waits 15 s first).
NODE_BACK = 120


#: Every test module of the suite carries this mark.
needs_cluster = pytest.mark.skipif(
    not CLUSTER,
    reason="no Disco cluster: set DISCO_CLUSTER_MASTER=http://master:8989 "
    "(scripts/cluster.sh up, then scripts/cluster.sh run python -m pytest tests/cluster)",
)


def nodeinfo(master: HttpMaster) -> dict[str, Any]:
    """The master's node table with each node's state, by host name."""
    return master.nodeinfo()


def wait_for_nodes(master: HttpMaster, timeout: float = NODE_BACK) -> list[str]:
    """Wait until every node of the table is connected and not blacklisted; their names."""
    deadline = time.monotonic() + timeout
    while True:
        info = nodeinfo(master)
        ready = [h for h, n in info.items() if n.get("connected") and not n.get("blacklisted")]
        if info and len(ready) == len(info):
            return sorted(ready)
        if time.monotonic() > deadline:
            pytest.fail(f"the cluster's nodes are not all up after {timeout} s: {info}")
        time.sleep(0.5)


def post_ctrl(master: HttpMaster, op: str, payload: object) -> Any:
    """POST ``payload`` as JSON to the master's ``/disco/ctrl/<op>``; its JSON answer."""
    request = urllib.request.Request(
        f"{master.url}/disco/ctrl/{op}", data=json.dumps(payload).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())


def stop_node(host: str) -> None:
    """Stop every process of ``host`` with ``DISCO_CLUSTER_NODE_DOWN`` (a lost machine)."""
    if not NODE_DOWN:
        pytest.fail(
            "DISCO_CLUSTER_NODE_DOWN is not set: give a command that stops every process of a "
            "node, {host} standing for its name (scripts/cluster.sh run sets it)"
        )
    command = [part.replace("{host}", host) for part in shlex.split(NODE_DOWN)]
    subprocess.run(command, check=True, timeout=60, capture_output=True)


@pytest.fixture(scope="session")
def cluster() -> HttpMaster:
    """The cluster's master, once it has at least two nodes."""
    master = HttpMaster(CLUSTER)
    nodes = wait_for_nodes(master)
    if len(nodes) < 2:
        pytest.fail(f"the cluster at {CLUSTER} has {len(nodes)} node(s): these tests need 3")
    return master


@pytest.fixture
def nodes(cluster: HttpMaster) -> Iterator[list[str]]:
    """The cluster's nodes, every one up and whitelisted before and after the test."""
    yield wait_for_nodes(cluster)
    wait_for_nodes(cluster)


#: What a real master writes when a worker breaks the protocol (disco_worker.erl,
#: worker_runtime.erl, worker_throttle.erl, event_server.erl).
PROTOCOL_ERRORS = ("Could not parse worker event", "Unknown message", "behaving badly")


def purge_checked(master: HttpMaster, jobname: str) -> None:
    """Fail if the job's events show a worker protocol error; then purge the job."""
    bad = [
        e.message for e in master.events(jobname) if any(p in e.message for p in PROTOCOL_ERRORS)
    ]
    assert not bad, f"worker protocol errors in {jobname}'s events: {bad}"
    master.purge(jobname)
