"""Printing benchmark: a job whose map prints 100,000 short lines beside the same job silent.

    python bench/prints.py [--lines 100000] [--rounds 3]
    python bench/prints.py --master http://localhost:8989 [--rounds 3]

Both jobs are one map task over ``raw://bench``; the noisy one prints ``line <i>`` for each
``i`` below ``--lines``, the quiet one makes the same strings without printing them. Wall time
is from submit to the results read; figures are medians of ``--rounds`` runs taken in turn.
The default runs on the embedded master (a fresh data dir); ``--master URL`` on that Disco
master (start a real one with this project's venv first on its workers' ``PATH``,
``WORKER_PATH=$PWD/.venv/bin``). Each noisy run is checked: what ``discoworker logs`` reads
back (the task's log file) holds every printed line; the MSGs it sent are counted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from discoworker.app.bootstrap import client_reader
from discoworker.app.task_logs import printed_texts
from discoworker.job import Job, result_iterator


def noisy_map(line: str, params: Any) -> Iterator[tuple[str, int]]:
    """Prints ``params.lines`` short lines."""
    for i in range(params.lines):
        print("line", i)
    yield line, params.lines


def quiet_map(line: str, params: Any) -> Iterator[tuple[str, int]]:
    """Makes the same strings as :func:`noisy_map`, printing none."""
    made = 0
    for i in range(params.lines):
        made += len(f"line {i}")
    yield line, params.lines


def run_once(master: Any, fun_map: Any, lines: int) -> tuple[float, Job]:
    """One job on ``master``; its wall time and the job."""
    from discoworker.classic import Params

    started = time.perf_counter()
    job = Job(name="BenchPrints", master=master).run(
        input=["raw://bench"], map=fun_map, params=Params(lines=lines), partitions=None
    )
    results = list(result_iterator(job.wait(timeout=600), master=master))
    wall = time.perf_counter() - started
    if results != [("bench", lines)]:
        raise SystemExit(f"unexpected results {results!r}")
    return wall, job


def check_printed(master: Any, job: Job, lines: int) -> tuple[int, str]:
    """The MSG count of the noisy job, and where its whole text was read (all lines there)."""
    events = list(job.events())
    msgs = sum(1 for e in events if e.message.startswith("MSG: [map:"))
    (text,) = printed_texts(events, client_reader(master), "map")
    printed = text.text.splitlines()
    if printed[:lines] != [f"line {i}" for i in range(lines)]:
        raise SystemExit(f"the job's printed text is incomplete ({len(printed)} lines)")
    return msgs, text.source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--master", help="a Disco master's URL (default: embedded)")
    args = parser.parse_args()

    if args.master:
        from discoworker.adapters.master_http import HttpMaster

        master: Any = HttpMaster(args.master)
        where = f"the master at {args.master}"
    else:
        from discoworker.adapters.embedded import EmbeddedMaster

        master = EmbeddedMaster(tempfile.mkdtemp(prefix="bench-prints-"), workers=2)
        where = "the embedded master"
    quiet: list[float] = []
    noisy: list[float] = []
    ratios: list[float] = []
    for _ in range(args.rounds):
        q, job = run_once(master, quiet_map, args.lines)
        job.purge()
        n, job = run_once(master, noisy_map, args.lines)
        msgs, source = check_printed(master, job, args.lines)
        job.purge()
        quiet.append(q)
        noisy.append(n)
        ratios.append(n / q)
    print(f"a map printing {args.lines} lines on {where}; medians of {args.rounds} run(s)")
    print(f"without prints  {statistics.median(quiet):6.2f} s  {[round(x, 2) for x in quiet]}")
    print(f"with prints     {statistics.median(noisy):6.2f} s  {[round(x, 2) for x in noisy]}")
    print(f"ratio x{statistics.median(noisy) / statistics.median(quiet):.2f} (median of "
          f"run-by-run ratios: {', '.join(f'{r:.2f}' for r in ratios)})")
    print(f"the noisy job sent {msgs} MSG(s); its whole text read back from {source}")


if __name__ == "__main__":
    main()
