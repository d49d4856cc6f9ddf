"""Word count on a Dask cluster: discoworker's job on the Dask master beside Dask bag's own.

    python bench/wordcount.py --master dask://local [--workers 2] [--mb 200] [--rounds 3]
    python bench/wordcount.py --master dask://scheduler:8786

``dask://local`` starts a ``LocalCluster`` of ``--workers`` worker processes (one thread
each) for the run; another ``dask://host:port`` uses that cluster. On the same cluster, in
turn, ``--rounds`` times each: the classic word count (``partitions`` = the cluster's
workers, ``sum_combiner``) run by discoworker's Dask master, and Dask bag's word count
(``read_text`` one partition per file, ``str.split().flatten().frequencies()``). Wall time is
from submit to the counts in a Counter on the client; figures are medians. Both counts are
checked equal to a Counter over the files made in this process.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

MiB = 1024 * 1024


def dask_bag_count(client: Any, paths: list[str]) -> collections.Counter[str]:
    """Dask bag's word count on ``client``'s cluster, gathered into a Counter."""
    import dask.bag

    read_text: Any = dask.bag.read_text
    bag = read_text(paths, blocksize=None, encoding="utf-8")
    pairs = bag.str.split().flatten().frequencies(sort=False)
    return collections.Counter(dict(client.compute(pairs).result()))


def local_count(paths: list[str]) -> collections.Counter[str]:
    """The reference: a Counter over the files, in this process."""
    counts: collections.Counter[str] = collections.Counter()
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                counts.update(line.split())
    return counts


def main(args: argparse.Namespace, paths: list[Path], run_job: Any) -> int:
    """Run both counts ``args.rounds`` times on the Dask cluster of ``args.master``."""
    import distributed as untyped

    from discoworker.adapters.dask import DaskMaster

    distributed: Any = untyped
    local = args.master.rstrip("/") == "dask://local"
    cluster: Any = None
    if local:
        cluster = distributed.LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True,
            dashboard_address=None,
        )
        client = distributed.Client(cluster)
    else:
        from discoworker.adapters.dask import scheduler_address

        client = distributed.Client(scheduler_address(args.master))
    files = [str(p) for p in paths]
    size = sum(p.stat().st_size for p in paths)
    try:
        workers = len(client.scheduler_info()["workers"])
        expected = local_count(files)
        times: dict[str, list[float]] = {"discoworker": [], "dask bag": []}
        with tempfile.TemporaryDirectory(prefix="bench-dask-") as data:
            master = DaskMaster.of_client(client, Path(data))
            inputs = [f"file://{f}" for f in files]
            for _ in range(args.rounds):
                started = time.perf_counter()
                ours = run_job(master, inputs, workers)
                times["discoworker"].append(time.perf_counter() - started)
                started = time.perf_counter()
                theirs = dask_bag_count(client, files)
                times["dask bag"].append(time.perf_counter() - started)
                if ours != expected or theirs != expected:
                    print(f"MISMATCH: discoworker {'ok' if ours == expected else 'differs'}, "
                          f"dask bag {'ok' if theirs == expected else 'differs'}")
                    return 1
        where = f"LocalCluster of {workers}" if local else f"{args.master} ({workers} workers)"
        print(f"word count of {size / MiB:.1f} MB in {len(files)} files on {where}; "
              f"medians of {args.rounds} run(s), submit to Counter on the client; "
              f"both equal the Counter over the files")
        medians = {name: statistics.median(ts) for name, ts in times.items()}
        for name, median in medians.items():
            print(f"  {name:12s} {median:7.2f} s  {size / MiB / median:6.1f} MB/s  "
                  f"(runs: {', '.join(f'{t:.2f}' for t in times[name])})")
        print(f"  ratio discoworker / dask bag: {medians['discoworker'] / medians['dask bag']:.2f}")
        return 0
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
