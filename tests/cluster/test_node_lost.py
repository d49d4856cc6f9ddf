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
from tests.cluster.conftest import needs_cluster, purge_checked, stop_node, wait_for_nodes
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


def lose_a_node_while_maps_run(master: HttpMaster, jobname: str, nodes: list[str]) -> str:
    """Once the last node of ``nodes`` has finished a map (its output now lives there) and runs
    another, stop every process of that node; its name."""
    victim = nodes[-1]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done_at = None
        for i, event in enumerate(master.events(jobname)):
            if event.message.startswith("SYS: [map:") and event.message.endswith(f"from {victim}"):
                done_at = i if done_at is None else done_at
            elif done_at is not None and re.fullmatch(
                rf"map:\d+ assigned to {victim}", event.message
            ):
                time.sleep(1.0)  # the task is running: its worker has started and is sleeping
                stop_node(victim)
                return victim
        time.sleep(0.2)
    pytest.fail(f"{victim} did not finish a map and start another of {jobname} within 120 s")


def check_moved(master: HttpMaster, jobname: str, victim: str) -> None:
    """The maps that failed with the lost node ran again, each on another node."""
    events = [e.message for e in master.events(jobname)]
    failed = [
        (i, m[1])
        for i, msg in enumerate(events)
        if (m := re.fullmatch(rf'Task map:(\d+) failed on "{victim}".*', msg))
    ]
    assert failed, f"no map task failed on {victim} when it was lost: {events}"
    for i, task in failed:
        again = [
            m[1]
            for msg in events[i + 1 :]
            if (m := re.fullmatch(rf"map:{task} assigned to (\S+)", msg))
        ]
        assert again and again[0] != victim, (task, again)


def test_a_node_lost_mid_map_stage_moves_its_tasks_and_the_count_is_exact(
    cluster: HttpMaster, nodes: list[str]
) -> None:
    job = Job(name="ClusterNodeLost", master=cluster).run(
        input=[f"raw://{line}" for line in lines()],
        map=slow_map,
        reduce=sum_words,
        partitions=3,
        sort=True,
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
    purge_checked(cluster, job.name)


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
    purge_checked(cluster, name)
