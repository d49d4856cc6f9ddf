"""Data both ways on the cluster: the original library reads results discoworker's workers left
on all three nodes, and discoworker reads results the original's workers left on all three.

The original is the library built beside the real master (``$DISCO_REAL_MASTER/venv``); each
test runs it in a subprocess as a client of the cluster's master.
"""

from __future__ import annotations

import collections
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from discoworker.adapters.master_http import HttpMaster
from discoworker.job import Job, result_iterator
from tests.cluster.conftest import CLUSTER, needs_cluster, purge_checked
from tests.contract import test_live_interop as live_interop

pytestmark = needs_cluster

TIMEOUT = 240
#: raw:// inputs the original runs (ASCII, no spaces), enough for maps on every node.
LINES = [f"n{i:02d},common,w{i % 5}" for i in range(18)]


def run_original(script: str, *args: str, tmp_path: Path, timeout: float = TIMEOUT) -> bytes:
    """Run ``script`` with the original library's Python against the cluster; its stdout."""
    return live_interop.run_original(script, *args, tmp_path=tmp_path, master=CLUSTER,
                                     timeout=timeout)


def hosts_of(results: list[list[str]]) -> set[str]:
    return {urllib.parse.urlsplit(url).hostname or "" for reps in results for url in reps}


def slow_split(line: str, params: Any) -> Iterator[tuple[str, int]]:
    import time

    time.sleep(1.0)  # maps long enough that every node gets some
    for word in line.split(","):
        yield word, 1


READ_RESULTS = """
import json, sys
from disco.core import result_iterator
records = [[key, value] for key, value in result_iterator(json.loads(sys.argv[1]))]
sys.stdout.write(json.dumps(records))
"""


def test_the_original_reads_our_map_results_from_all_three_nodes(
    cluster: HttpMaster, nodes: list[str], tmp_path: Path
) -> None:
    job = Job(name="ClusterOurs", master=cluster).run(
        input=[f"raw://{line}" for line in LINES], map=slow_split
    )
    results = job.wait(timeout=TIMEOUT)
    assert hosts_of(results) == set(nodes)
    ours = list(result_iterator(results, master=cluster))
    theirs = json.loads(run_original(READ_RESULTS, json.dumps(results), tmp_path=tmp_path))
    assert [tuple(r) for r in theirs] == ours
    assert collections.Counter(w for w, _ in ours) == collections.Counter(
        w for line in LINES for w in line.split(",")
    )
    purge_checked(cluster, job.name)


ORIGINAL_MAP_ONLY = """
import json, sys
from disco.core import Job


def fun_map(line, params):
    import time
    time.sleep(1.0)
    for word in line.split(","):
        yield word, 1


if __name__ == "__main__":
    lines = json.loads(sys.argv[1])
    job = Job(name="ClusterOriginal").run(input=["raw://" + line for line in lines], map=fun_map)
    results = job.wait(timeout=200)
    sys.stdout.write(json.dumps({"name": job.name, "results": results}))
"""


def test_we_read_the_original_map_results_from_all_three_nodes(
    cluster: HttpMaster, nodes: list[str], tmp_path: Path
) -> None:
    out = json.loads(run_original(ORIGINAL_MAP_ONLY, json.dumps(LINES), tmp_path=tmp_path))
    assert hosts_of(out["results"]) == set(nodes)
    got: collections.Counter[str] = collections.Counter()
    for word, count in result_iterator(out["results"], master=cluster):
        got[word.decode() if isinstance(word, bytes) else word] += count
    assert got == collections.Counter(w for line in LINES for w in line.split(","))
    purge_checked(cluster, out["name"])
