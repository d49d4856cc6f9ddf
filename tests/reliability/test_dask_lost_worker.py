"""A Dask worker lost mid-job: what it ran or held is run again, and the results are exact."""

from __future__ import annotations

import collections
import itertools
import os
import signal
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from discoworker.classic import sum_combiner
from discoworker.job import Job, result_iterator

distributed = pytest.importorskip(
    "distributed", reason="distributed is not installed (pip install discoworker[dask])"
)

TEXTS = [f"w{i % 7} w{i % 3} shared line{i}\n" * (i + 1) for i in range(6)]


def wait_for(what: str, check: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_lost_worker_s_tasks_and_outputs_are_made_again_and_no_record_is_lost_or_doubled(
    tmp_path: Path,
) -> None:
    from discoworker.adapters.dask import DaskMaster

    marks = tmp_path / "marks"
    marks.mkdir()
    inputs = []
    for i, text in enumerate(TEXTS):
        path = tmp_path / f"in{i}.txt"
        path.write_text(text)
        inputs.append(f"file://{path}")

    def counted_map(line: str, params: Any) -> Iterator[tuple[str, int]]:
        # One mark per map run and input line read: how many times the maps ran.
        with open(os.path.join(params, f"map-{os.getpid()}"), "a") as f:
            f.write(".")
        for word in line.split():
            yield word, 1

    def held_reduce(records: Iterable[tuple[str, int]], out: Any, params: Any) -> None:
        from discoworker.classic import this_partition

        # Each reduce's first run waits, its inputs read, until the test has killed a worker.
        mark = os.path.join(params, f"reduce-{this_partition()}")
        try:
            os.close(os.open(mark, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            first = True
        except FileExistsError:
            first = False
        totals = [(w, sum(c for _, c in g))
                  for w, g in itertools.groupby(records, key=lambda r: r[0])]
        while first and not os.path.exists(os.path.join(params, "go")):
            time.sleep(0.05)
        for word, count in totals:
            out.add(word, count)

    local: Any = distributed.LocalCluster
    client_of: Any = distributed.Client
    with local(n_workers=3, threads_per_worker=2, processes=True,
               dashboard_address=None) as cluster, client_of(cluster) as client:
        master = DaskMaster.of_client(client, tmp_path / "master")
        job = Job(name="LostWorker", master=master).run(
            input=inputs, map=counted_map, reduce=held_reduce, combiner=sum_combiner,
            partitions=3, sort=True, params=str(marks),
        )
        wait_for("the reduces to start", lambda: len(list(marks.glob("reduce-*"))) == 3)
        maps_before = sum(p.stat().st_size for p in marks.glob("map-*"))
        # The outputs the reduces read (the shuffle's, on its node), made of the maps'.
        holders = {addr for key, addrs in client.who_has().items()
                   if " map" in str(key) and str(key).endswith("attempt 1") for addr in addrs}
        assert holders, "no Dask worker holds the outputs the reduces read"
        # Every copy of them is lost (Dask may have copied them to a reduce's worker).
        pids = client.run(os.getpid)
        for victim in holders:
            os.kill(pids[victim], signal.SIGKILL)
        # The outputs it held are made again, from the maps up, before the job ends.
        wait_for("a map to run again",
                 lambda: sum(p.stat().st_size for p in marks.glob("map-*")) > maps_before)
        (marks / "go").touch()
        results = job.wait(timeout=180)

        counts: collections.Counter[str] = collections.Counter()
        for word, count in result_iterator(results, master=master):
            counts[word] += count
        expected = collections.Counter(w for t in TEXTS for w in t.split())
        assert counts == expected
        events = [e.message for e in job.events()]
        # Every map ran once as the master saw it; the reruns were Dask's own.
        assert sum(m.startswith("DONE: [map:") for m in events) >= len(TEXTS)
