"""A node lost in the middle of a long map stage: every process of it stopped, as when a machine
dies. The master gives its tasks to the other nodes; the results are exact, no record twice.
The same job run by the original library on the same cluster, for comparison (docs/cluster.md
records what each does)."""

from __future__ import annotations

import collections
import json
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from discoworker.adapters.master_http import HttpMaster
from discoworker.job import Job, result_iterator
from tests.cluster.conftest import needs_cluster, stop_node, wait_for_nodes
from tests.cluster.test_interop import run_original

pytestmark = needs_cluster

TIMEOUT = 400
INPUTS = 24
#: Seconds each map sleeps: 24 maps on 6 workers make a map stage of about 4 rounds.
MAP_SECONDS = 3.0


def lines() -> list[str]:
    """One input per map: its own marker word, and words every input has."""
    return [f"m{i:02d},common,w{i % 4}" for i in range(INPUTS)]


def expected() -> collections.Counter[str]:
    return collections.Counter(w for line in lines() for w in line.split(","))


def slow_map(line: str, params: Any) -> Iterator[tuple[str, int]]:
    import time

    time.sleep(3.0)
    for word in line.split(","):
        yield word, 1


def sum_words(records: Iterable[tuple[str, int]], params: Any) -> Iterator[tuple[str, int]]:
    import itertools

    for word, group in itertools.groupby(records, key=lambda r: r[0]):
        yield word, sum(n for _, n in group)


def assignments(master: HttpMaster, jobname: str) -> list[tuple[str, int, str]]:
    """(stage, task, host) for each "assigned" event of the job, in order."""
    out = []
    for event in master.events(jobname):
        if m := re.fullmatch(r"(\w+):(\d+) assigned to (\S+)", event.message):
            out.append((m[1], int(m[2]), m[3]))
    return out


def lose_a_node_while_maps_run(master: HttpMaster, jobname: str, nodes: list[str]) -> str:
    """Wait until a map runs on the last node of ``nodes``, then stop that node; its name."""
    victim = nodes[-1]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any(stage == "map" and host == victim for stage, _, host in assignments(master, jobname)):
            time.sleep(1.0)  # the task is running: its worker has started and is sleeping
            stop_node(victim)
            return victim
        time.sleep(0.2)
    pytest.fail(f"no map of {jobname} was given to {victim} within 120 s")


def check_moved(master: HttpMaster, jobname: str, victim: str) -> None:
    """Every map task the lost node held was given again to another node."""
    given = assignments(master, jobname)
    lost = {task for stage, task, host in given if stage == "map" and host == victim}
    assert lost, f"no map task ran on {victim}"
    lost_at = max(i for i, (s, _, h) in enumerate(given) if s == "map" and h == victim)
    again = {task for stage, task, host in given[lost_at + 1 :] if stage == "map" and host != victim}
    assert again, f"no map task was given to another node after {victim} was lost: {given}"


def test_a_node_lost_mid_map_stage_moves_its_tasks_and_the_count_is_exact(
    cluster: HttpMaster, nodes: list[str]
) -> None:
    job = Job(name="ClusterNodeLost", master=cluster).run(
        input=[f"raw://{line}" for line in lines()], map=slow_map, reduce=sum_words,
        partitions=3, sort=True,
    )
    victim = lose_a_node_while_maps_run(cluster, job.name, nodes)
    results = job.wait(timeout=TIMEOUT)
    records = list(result_iterator(results, master=cluster))
    keys = [word for word, _ in records]
    assert len(keys) == len(set(keys)), "a word was written by two reduces"
    # Each marker word counted once: no map's output was taken twice, none lost.
    assert collections.Counter(dict(records)) == expected()
    check_moved(cluster, job.name, victim)
    wait_for_nodes(cluster)
    job.purge()


ORIGINAL_SLOW_JOB = """
import json, sys
from disco.core import Job


def fun_map(line, params):
    import time
    time.sleep(3.0)
    for word in line.split(","):
        yield word, 1


def fun_reduce(iter, params):
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


if __name__ == "__main__":
    lines = json.loads(sys.argv[1])
    job = Job(name="ClusterNodeLostOriginal").run(
        input=["raw://" + line for line in lines], map=fun_map, reduce=fun_reduce, partitions=3)
    sys.stdout.write(json.dumps({"name": job.name}))
"""

ORIGINAL_WAIT = """
import json, sys
from disco.core import Disco, result_iterator
name = sys.argv[1]
results = Disco().wait(name, timeout=400)
counts = {}
for word, n in result_iterator(results):
    word = word.decode() if isinstance(word, bytes) else word
    counts[word] = counts.get(word, 0) + n
sys.stdout.write(json.dumps(counts))
"""


def test_the_original_library_loses_a_node_mid_map_stage_too(
    cluster: HttpMaster, nodes: list[str], tmp_path: Path
) -> None:
    out = run_original(ORIGINAL_SLOW_JOB, json.dumps(lines()), tmp_path=tmp_path)
    name = json.loads(out)["name"]
    victim = lose_a_node_while_maps_run(cluster, name, nodes)
    counts = json.loads(run_original(ORIGINAL_WAIT, name, tmp_path=tmp_path, timeout=TIMEOUT + 60))
    assert collections.Counter(counts) == expected()
    check_moved(cluster, name, victim)
    wait_for_nodes(cluster)
    cluster.purge(name)
