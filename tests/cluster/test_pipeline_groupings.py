"""A pipeline job through the five groupings with its tasks on the three nodes: a word count
whose every stage adds up what the stage before it wrote, exact at the end."""

from __future__ import annotations

import collections
import re
import time
import zlib
from collections.abc import Iterable
from typing import Any

from discoworker.adapters.master_http import HttpMaster
from discoworker.job import Job, result_iterator
from discoworker.pipeline import Stage
from discoworker.pipeline import Worker as PipelineWorker
from tests.cluster.conftest import needs_cluster, purge_checked

pytestmark = needs_cluster

LABELS = 3
LINES = [f"w{i % 7} w{i % 5} x{i % 3} {'straße' if i % 4 == 0 else 'y'}" for i in range(18)]


def split(interface: Any, state: Any, label: int, inp: Iterable[Any]) -> None:
    time.sleep(0.5)  # long enough for the master to give splits to every node
    for line in inp:
        text = line.decode() if isinstance(line, bytes) else line
        for word in text.split():
            interface.output(zlib.crc32(word.encode()) % LABELS).add(word, 1)


def add_up(interface: Any, state: Any, label: int, inp: Iterable[Any]) -> None:
    totals: dict[str, int] = {}
    for word, n in inp:
        totals[word] = totals.get(word, 0) + n
    for word in sorted(totals):
        interface.output(label).add(word, totals[word])


def test_the_five_groupings_across_three_nodes(cluster: HttpMaster, nodes: list[str]) -> None:
    worker = PipelineWorker(
        pipeline=[
            ("split", Stage("split", process=split)),
            ("group_node_label", Stage("node_label", process=add_up, combine=True)),
            ("group_label", Stage("label", process=add_up, combine=True)),
            ("group_node", Stage("node", process=add_up, combine=True)),
            ("group_all", Stage("all", process=add_up, combine=True)),
        ]
    )
    job = Job(name="ClusterGroupings", master=cluster, worker=worker).run(
        input=[f"raw://{line}" for line in LINES]
    )
    results = job.wait(timeout=240)
    got: collections.Counter[str] = collections.Counter()
    for word, n in result_iterator(results, master=cluster):
        assert word not in got, f"{word} written twice"
        got[word] = n
    assert got == collections.Counter(w for line in LINES for w in line.split())

    assigned: dict[str, set[str]] = collections.defaultdict(set)
    for event in cluster.events(job.name):
        if m := re.fullmatch(r"(\w+):\d+ assigned to (\S+)", event.message):
            assigned[m[1]].add(m[2])
    tasks = {row[0]: row[4] for row in job.jobinfo()["pipeline"]}
    # The splits ran on more than one node; group_node_label made one task per (node, label)
    # the splits wrote; group_label one per label; group_node one per node holding the
    # label stage's outputs; group_all one.
    assert len(assigned["split"]) >= 2, assigned
    assert tasks["split"] == len(LINES)
    assert LABELS <= tasks["node_label"] <= LABELS * len(assigned["split"])
    assert tasks["label"] == LABELS
    assert tasks["node"] == len(assigned["label"])
    assert tasks["all"] == 1
    assert set().union(*assigned.values()) <= set(nodes)
    purge_checked(cluster, job.name)
