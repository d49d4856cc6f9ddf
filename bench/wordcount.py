"""Word count benchmark: discoworker's classic worker beside the floor, a Pool and Dask bag.

    python bench/wordcount.py [--mb 200] [--files 8] [--workers 2] [--rounds 3]
    python bench/wordcount.py --empty-tasks 50
    python bench/wordcount.py --tiny
    python bench/wordcount.py --mb 2000 --growth
    python bench/wordcount.py --sort-budget 32
    python bench/wordcount.py --master http://localhost:8989 [--original-python PATH]

A deterministic corpus (Zipf-distributed words, fixed seed, ``--files`` files) is generated
once and cached. The default mode runs the classic word count (``partitions`` = workers,
``sum_combiner``) on the embedded master, then the same count with a ``multiprocessing.Pool``
(one file per task, a ``Counter`` per file, merged), Dask bag's word count
(``read_text(...).str.split().flatten().frequencies()``, ``--workers`` processes; skipped,
saying so, when dask is not installed) and the floor (the job's own map and combiner in one
process, no framework), and checks that every run's counts equal a ``Counter``'s.
Every measured run is a fresh child process, so its peak memory is its own: the client's
max RSS and the largest of its descendants' (``RUSAGE_CHILDREN``). Wall time is from the
job's submit (or the Pool's start) to the last result read, what a script imports at its top
(discoworker's or Dask's modules) imported before; figures are medians of ``--rounds`` runs
taken in turn. ``--tiny`` also runs the job in a data dir that saw jobs before, and as the
first job on a machine where nothing was ever cached (a new data dir, an empty cache of the
master's unpacked libs, ``DISCOWORKER_LIBS``, and of the client's lib zips,
``DISCOWORKER_LIB_CACHE``); a new data dir otherwise shares the user's caches.

``--growth`` runs the job at ``--mb`` and at a tenth of it, in turn: the wall-time ratio
(issue 15 asks at most 10.5 for 10x the data) and the peak RSS ratios of the client (with the
embedded master) and of the largest task process (both at most 1.2).

``--sort-budget MB`` runs a job whose one reduce has ``sort=True`` and ``sort_buffer_size``
``MB`` megabytes, over records (``(word, 1)``, no combiner) about 4.5 times that size by the
sort's own measure, and the same job with the whole input in its budget; prints the largest
task's peak RSS of each, and checks that the reduce saw its keys in order.

``--empty-tasks N`` times a map-only job of N empty inputs and one of a single empty input:
the overhead per task is their difference over N - 1.

``--master URL`` pushes the corpus into a DDFS tag of that Disco master and runs the same job
there twice: with discoworker's worker, and with the original Disco library's worker (a child
process of ``--original-python``, the original's Job and classic worker), reading the results
back and checking that both equal the Counter over the files.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import pickle
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterable, Iterator
from multiprocessing import Pool
from pathlib import Path
from typing import Any

from discoworker.app.bootstrap import user_cache

MiB = 1024 * 1024
#: ``--tiny``: the corpus size of issue 15's small job.
TINY_MB = 0.27
CORPUS_VERSION = 1
VOCABULARY = 50_000
ZIPF_S = 1.1
DEFAULT_ORIGINAL_PYTHON = os.path.expanduser("~/.cache/disco-real-master/venv/bin/python")


# -- the corpus ---------------------------------------------------------------------------


def cache_root() -> Path:
    """Where corpora and scratch data live: ``DISCOWORKER_BENCH_CACHE`` or the user cache."""
    return user_cache("discoworker-bench", "DISCOWORKER_BENCH_CACHE")


def vocabulary(rng: random.Random) -> list[str]:
    """Distinct words of 1-14 letters (a few non-ASCII ones), in Zipf rank order."""
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    weights = [12, 9, 8, 8, 7, 7, 6, 6, 6, 4, 4, 3, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1]
    seen: set[str] = set()
    words: list[str] = []
    while len(words) < VOCABULARY:
        length = min(14, max(1, int(rng.gauss(6, 2.5))))
        word = "".join(rng.choices(letters, weights, k=length))
        if rng.random() < 0.01:
            word += rng.choice("éüøñß")
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def write_file(path: Path, size: int, seed: int, words: list[str], cum: list[float]) -> None:
    """About ``size`` bytes of lines of 4-16 Zipf-drawn words, deterministic for ``seed``."""
    rng = random.Random(seed)
    partial = path.with_suffix(".partial")
    written = 0
    with open(partial, "wb") as f:
        while written < size:
            drawn = rng.choices(words, cum_weights=cum, k=20_000)
            lines: list[str] = []
            start = 0
            while start < len(drawn):
                count = rng.randint(4, 16)
                lines.append(" ".join(drawn[start : start + count]))
                start += count
            chunk = ("\n".join(lines) + "\n").encode("utf-8")
            chunk = chunk[: max(0, size - written)] if written + len(chunk) > size else chunk
            # Cut on a line end so every file ends with a whole line.
            if written + len(chunk) >= size:
                cut = chunk.rfind(b"\n")
                chunk = chunk[: cut + 1]
                f.write(chunk)
                break
            f.write(chunk)
            written += len(chunk)
    os.replace(partial, path)


def corpus(mb: float, files: int, seed: int) -> list[Path]:
    """The corpus files (generated on first use, then cached)."""
    folder = cache_root() / f"corpus-v{CORPUS_VERSION}-{mb:g}mb-{files}f-s{seed}"
    paths = [folder / f"part-{i:03d}.txt" for i in range(files)]
    if all(p.exists() for p in paths):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    words = vocabulary(rng)
    total = 0.0
    cum: list[float] = []
    for rank in range(1, len(words) + 1):
        total += 1.0 / rank**ZIPF_S
        cum.append(total)
    size = int(mb * MiB / files)
    started = time.perf_counter()
    for i, path in enumerate(paths):
        if not path.exists():
            write_file(path, size, seed * 1000 + i, words, cum)
    print(f"generated {files} files of {size / MiB:.1f} MB in {folder} "
          f"({time.perf_counter() - started:.1f} s)", file=sys.stderr)
    return paths


def corpus_bytes(paths: Iterable[Path]) -> int:
    """Total size of the files."""
    return sum(p.stat().st_size for p in paths)


# -- the job's functions (shipped to the workers) ---------------------------------------


def fun_map(line: str, params: Any) -> Iterator[tuple[str, int]]:
    """One ``(word, 1)`` per word of the line: Disco's canonical word count map.

    Lines arrive as str from every input, so words are counted as str (bytes keys would
    cost about three times as much in Disco's protocol 1 pickles).
    """
    for word in line.split():
        yield word, 1


def fun_reduce(records: Iterable[tuple[Any, int]], params: Any) -> Iterator[tuple[Any, int]]:
    """The sum of each word's counts."""
    sums: dict[Any, int] = {}
    for word, count in records:
        sums[word] = sums.get(word, 0) + count
    yield from sums.items()


def fun_sorted_reduce(
    records: Iterable[tuple[Any, int]], params: Any
) -> Iterator[tuple[Any, int]]:
    """The sum of each run of equal keys; ValueError when a key comes before the last one."""
    last: Any = None
    total = 0
    for word, count in records:
        if word != last:
            if last is not None:
                if word < last:
                    raise ValueError(f"the reduce's input is not sorted: {word!r} after {last!r}")
                yield last, total
            last, total = word, 0
        total += count
    if last is not None:
        yield last, total


def as_text(word: bytes | str) -> str:
    """A word as text, whichever form a worker gave it in."""
    return word.decode("utf-8") if isinstance(word, bytes) else word


# -- the measured runs (each in a child process) -----------------------------------------


def peak_memory() -> dict[str, float]:
    """Max RSS in MB of this process and of the largest descendant reaped so far."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"client_mb": own, "worker_mb": children}


def count_file(path: str) -> collections.Counter[str]:
    """The Pool's task: a Counter of one file through the same map function."""
    counts: collections.Counter[str] = collections.Counter()
    # Text lines, decoded as the job's worker decodes them.
    with open(path, encoding="utf-8", errors="surrogateescape", newline="\n") as f:
        for line in f:
            for word, one in fun_map(line, None):
                counts[word] += one
    return counts


def count_file_c(path: str) -> collections.Counter[str]:
    """The Pool's task at C speed: ``Counter.update(line.split())``."""
    counts: collections.Counter[str] = collections.Counter()
    with open(path, encoding="utf-8") as f:
        for line in f:
            counts.update(line.split())
    return counts


def run_floor(paths: list[str]) -> collections.Counter[str]:
    """The floor: the job's own map, combiner and reduce in this one process, no framework."""
    from discoworker.classic import sum_combiner

    combined: list[tuple[str, int]] = []
    for path in paths:
        buf: dict[str, int] = {}
        with open(path, encoding="utf-8", errors="surrogateescape", newline="\n") as f:
            for line in f:
                for word, one in fun_map(line, None):
                    sum_combiner(word, one, buf, False, None)
        combined.extend(sum_combiner(None, None, buf, True, None) or ())
    return collections.Counter(dict(fun_reduce(combined, None)))


def cpu_seconds() -> float:
    """User + system CPU of this process and of every descendant reaped so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def wait_for_children(bound: float = 10.0) -> None:
    """Until this process has no child left (a job's fork server ends just after its job),
    so that their CPU is in ``RUSAGE_CHILDREN``."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        try:
            listed = " ".join(
                Path(f"/proc/self/task/{t}/children").read_text()
                for t in os.listdir("/proc/self/task")
            )
        except OSError:
            return  # not Linux: figures without what is still running
        if not listed.strip():
            return
        time.sleep(0.01)


def run_pool(paths: list[str], workers: int, fast: bool) -> collections.Counter[str]:
    """The plain multiprocessing count: one file per task, Counters merged."""
    total: collections.Counter[str] = collections.Counter()
    with Pool(workers) as pool:
        for counts in pool.imap_unordered(count_file_c if fast else count_file, paths):
            total.update(counts)
    return total


def run_job(
    master: Any, inputs: list[Any], partitions: int, sort_buffer: str | None = None
) -> collections.Counter[str]:
    """The classic word count with ``sum_combiner`` on ``master``; its counts.

    With ``sort_buffer``: no combiner, one reduce with ``sort=True`` and that buffer size.
    """
    from discoworker.classic import sum_combiner
    from discoworker.job import Job, result_iterator

    jobargs: dict[str, Any] = {"reduce": fun_reduce, "combiner": sum_combiner,
                               "partitions": partitions}
    if sort_buffer is not None:
        jobargs = {"reduce": fun_sorted_reduce, "partitions": 1, "sort": True,
                   "sort_buffer_size": sort_buffer}
    job = Job(name="BenchWordCount", master=master).run(input=inputs, map=fun_map, **jobargs)
    results = job.wait()
    counts: collections.Counter[str] = collections.Counter()
    for word, count in result_iterator(results, master=master):
        counts[as_text(word)] += count
    job.purge()
    return counts


def dask_installed() -> bool:
    """True when Dask bag can be imported here."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("dask", "dask.bag"))


def run_dask(paths: list[str], workers: int) -> collections.Counter[str]:
    """Dask bag's word count in ``workers`` processes of Dask's own kind, ended before return.

    The pool is this run's own, so its processes' CPU and memory are this process's children.
    """
    import importlib
    from concurrent.futures import ProcessPoolExecutor

    # Imported by name: dask is optional, and no part of the project's typed dependencies.
    dask = importlib.import_module("dask")
    bag = importlib.import_module("dask.bag")
    context = importlib.import_module("dask.multiprocessing").get_context()
    with (
        ProcessPoolExecutor(workers, mp_context=context) as pool,
        dask.config.set(scheduler="processes", pool=pool),
    ):
        pairs = bag.read_text(paths).str.split().flatten().frequencies().compute()
    return collections.Counter(dict(pairs))


def run_empty(master: Any, tasks: int) -> None:
    """A map-only job of ``tasks`` empty inputs."""
    from discoworker.classic import nop_map
    from discoworker.job import Job

    job = Job(name="BenchEmpty", master=master).run(
        input=["raw://"] * tasks, map=nop_map
    )
    job.wait()
    job.purge()


def child(mode: str, spec: dict[str, Any]) -> dict[str, Any]:
    """One measured run in this (child) process: its figures, counts saved to a file."""
    from discoworker.adapters.embedded import EmbeddedMaster

    paths: list[str] = spec["paths"]
    workers: int = spec["workers"]
    counts: collections.Counter[str] | None = None
    kept = mode == "embedded-kept"
    # A kept data dir is a user's usual one (jobs ran there before); a new one, a first job.
    scratch = (cache_root() / "embedded-kept" if kept
               else Path(tempfile.mkdtemp(prefix="embedded-", dir=cache_root())))
    master: Any = None
    if mode in ("embedded", "embedded-kept", "embedded-cold", "empty", "sort"):
        master = EmbeddedMaster(scratch, workers=workers)
    elif mode == "live":
        from discoworker.adapters.master_http import HttpMaster

        master = HttpMaster(spec["master"])
    import_at_the_top(mode)
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    if mode == "floor":
        counts = run_floor(paths)
    elif mode == "pool":
        counts = run_pool(paths, workers, fast=False)
    elif mode == "pool-c":
        counts = run_pool(paths, workers, fast=True)
    elif mode == "dask":
        counts = run_dask(paths, workers)
    elif mode in ("embedded", "embedded-kept", "embedded-cold"):
        counts = run_job(master, [f"file://{p}" for p in paths], workers)
    elif mode == "sort":
        counts = run_job(master, [f"file://{p}" for p in paths], workers, spec["sort_buffer"])
    elif mode == "live":
        counts = run_job(master, [spec["tag"]], spec["partitions"])
    elif mode == "empty":
        run_empty(master, spec["tasks"])
    else:
        raise SystemExit(f"unknown mode {mode}")
    wall = time.perf_counter() - started
    import shutil

    if master is not None and hasattr(master, "shutdown"):
        master.shutdown()
    wait_for_children()
    if not kept:
        shutil.rmtree(scratch, ignore_errors=True)
    out: dict[str, Any] = {"wall": wall, "cpu": cpu_seconds() - cpu_before, **peak_memory()}
    if counts is not None:
        out["counts"] = save_counts(counts)
    return out


def import_at_the_top(mode: str) -> None:
    """Import what a script of ``mode`` imports at its top, before its clock starts: the
    figures are from submit to results read, for discoworker and Dask alike."""
    import importlib

    if mode in ("embedded", "embedded-kept", "empty", "sort", "live"):
        for name in ("discoworker.job", "discoworker.classic"):
            importlib.import_module(name)
    elif mode == "dask":
        for name in ("dask", "dask.bag", "dask.multiprocessing"):
            importlib.import_module(name)


def save_counts(counts: collections.Counter[str]) -> str:
    """The counts in a file; its path."""
    fd, path = tempfile.mkstemp(prefix="counts-", suffix=".pickle", dir=cache_root())
    with os.fdopen(fd, "wb") as f:
        pickle.dump(dict(counts), f)
    return path


def load_counts(path: str) -> dict[str, int]:
    """Counts saved by :func:`save_counts` (the file is removed)."""
    with open(path, "rb") as f:
        counts: dict[str, int] = pickle.load(f)
    os.unlink(path)
    return counts


#: The caches a first job on a machine finds empty: the client's lib zips, the masters' libs.
COLD_CACHES = ("DISCOWORKER_LIB_CACHE", "DISCOWORKER_LIBS")


def measure_cold(mode: str, spec: dict[str, Any]) -> dict[str, Any]:
    """``measure(mode, spec)`` with every cache of ``COLD_CACHES`` new and empty."""
    import shutil

    where = Path(tempfile.mkdtemp(prefix="cold-", dir=cache_root()))
    try:
        return measure(mode, spec, {name: str(where / name.lower()) for name in COLD_CACHES})
    finally:
        shutil.rmtree(where, ignore_errors=True)


def measure(
    mode: str, spec: dict[str, Any], env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run ``mode`` in a fresh child process (``env`` added to its environment); its figures."""
    command = [sys.executable, os.path.abspath(__file__), "--child", mode, json.dumps(spec)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False,
                          env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise SystemExit(f"{mode} run failed (exit {done.returncode})")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


# -- the original library on a real master -----------------------------------------------

ORIGINAL_SCRIPT = textwrap.dedent(
    """
    import json, pickle, sys, time
    from disco.core import Job, result_iterator
    from disco.worker.classic.func import sum_combiner

    def fun_map(line, params):
        text = line.decode("utf-8") if isinstance(line, bytes) else line
        for word in text.split():
            yield word, 1

    def fun_reduce(iter, params):
        sums = {}
        for word, count in iter:
            sums[word] = sums.get(word, 0) + count
        return sums.items()

    if __name__ == "__main__":
        tag, partitions, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
        started = time.perf_counter()
        job = Job(name="BenchOriginal").run(input=[tag], map=fun_map, reduce=fun_reduce,
                                            combiner=sum_combiner, partitions=partitions)
        counts = {}
        for word, count in result_iterator(job.wait()):
            word = word.decode("utf-8") if isinstance(word, bytes) else word
            counts[word] = counts.get(word, 0) + count
        wall = time.perf_counter() - started
        job.purge()
        with open(out, "wb") as f:
            pickle.dump(counts, f)
        print(json.dumps({"wall": wall, "counts": out}))
    """
)


def measure_original(python: str, master: str, tag: str, partitions: int) -> dict[str, Any]:
    """The same job run by the original library (its Job, its classic worker)."""
    root = cache_root()
    script = root / "original_wordcount.py"
    script.write_text(ORIGINAL_SCRIPT)
    fd, out = tempfile.mkstemp(prefix="counts-", suffix=".pickle", dir=root)
    os.close(fd)
    env = dict(os.environ, DISCO_MASTER=master, PYTHONWARNINGS="ignore")
    done = subprocess.run(
        [python, str(script), tag, str(partitions), out],
        stdout=subprocess.PIPE, text=True, env=env, cwd=root, check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the original library's run failed (exit {done.returncode})")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def push_corpus(master: str, paths: list[Path]) -> str:
    """The corpus as a DDFS tag of ``master`` (pushed once; the tag names the content)."""
    from discoworker.adapters.ddfs_http import HttpDdfs

    digest = hashlib.sha1()
    for p in paths:
        digest.update(f"{p.parent.name}/{p.name}:{p.stat().st_size}".encode())
    tag = f"bench:wordcount:{digest.hexdigest()[:12]}"
    ddfs = HttpDdfs(master)
    ddfs.timeout = 600.0
    try:
        if len(ddfs.blobs(tag)) == len(paths):
            return f"tag://{tag}"
        ddfs.delete(tag)
    except Exception:
        pass
    started = time.perf_counter()
    for p in paths:
        with open(p, "rb") as f:
            ddfs.push(tag, p.name, f)
    print(f"pushed {len(paths)} files into {tag} ({time.perf_counter() - started:.1f} s)",
          file=sys.stderr)
    return f"tag://{tag}"


# -- reports ------------------------------------------------------------------------------


def median(runs: list[dict[str, Any]], key: str) -> float:
    """The median of one figure over runs."""
    return statistics.median(float(r[key]) for r in runs)


def report(name: str, runs: list[dict[str, Any]], size: int) -> str:
    """One table line: median wall, MB/s, peak memory, every run's wall."""
    wall = median(runs, "wall")
    walls = ", ".join(f"{r['wall']:.2f}" for r in runs)
    line = f"{name:<36} {wall:7.2f} s {size / MiB / wall:6.1f} MB/s"
    if "cpu" in runs[0]:
        line += f"  CPU {median(runs, 'cpu'):6.2f} s"
    if "client_mb" in runs[0]:
        line += f"  peak RSS: client {median(runs, 'client_mb'):4.0f} MB"
        if median(runs, "worker_mb"):
            # A real master's workers are its children, not ours: not measured there.
            line += f", largest worker {median(runs, 'worker_mb'):4.0f} MB"
    return f"{line}  [{walls}]"


def ratio(
    name: str, runs: list[dict[str, Any]], bases: list[dict[str, Any]], key: str = "wall"
) -> str:
    """The median of the run-by-run ratios (runs taken in turn share the machine's mood)."""
    ratios = [r[key] / b[key] for r, b in zip(runs, bases, strict=True)]
    shown = ", ".join(f"{x:.2f}" for x in ratios)
    return f"  {name}: x{statistics.median(ratios):.2f} (median of run-by-run ratios: {shown})"


def check_equal(reference: dict[str, int], runs: list[dict[str, Any]], name: str) -> bool:
    """True when every run's counts equal ``reference``; prints the first difference."""
    ok = True
    for run in runs:
        counts = load_counts(run.pop("counts"))
        if counts != reference:
            missing = set(reference) ^ set(counts)
            wrong = [w for w in reference if counts.get(w) != reference[w]][:5]
            print(f"DIFFERENT: {name}: {len(missing)} words missing or extra, e.g. {wrong}")
            ok = False
    return ok


DASK_SKIPPED = "Dask bag: skipped, dask is not installed here (pip install 'dask[bag]')"


def main_embedded(args: argparse.Namespace, paths: list[Path]) -> int:
    spec = {"paths": [str(p) for p in paths], "workers": args.workers}
    size = corpus_bytes(paths)
    modes = ["embedded", "floor", "pool", "pool-c"]
    with_dask = dask_installed()
    if with_dask:
        modes.append("dask")
    if args.tiny:
        modes[1:1] = ["embedded-kept", "embedded-cold"]
        measure("embedded-kept", spec)  # the kept data dir has seen a job before
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    for _ in range(args.rounds):
        for mode in modes:
            cold = mode == "embedded-cold"
            runs[mode].append(measure_cold(mode, spec) if cold else measure(mode, spec))
    reference = load_counts(runs["pool-c"][0].pop("counts"))
    ok = True
    for mode in modes:
        ok = check_equal(reference, [r for r in runs[mode] if "counts" in r], mode) and ok
    print(f"word count of {size / MiB:.2f} MB in {len(paths)} files, {args.workers} workers, "
          f"{len(reference)} distinct words, {sum(reference.values())} in all; "
          f"medians of {args.rounds} run(s); wall from submit to the last result read")
    print(report("floor: map + combiner, one process", runs["floor"], size))
    print(report("Pool, Counter + the job's map", runs["pool"], size))
    print(report(f"Pool({args.workers}), Counter.update(line.split())", runs["pool-c"], size))
    if with_dask:
        print(report(f"Dask bag, {args.workers} processes", runs["dask"], size))
    else:
        print(DASK_SKIPPED)
    print(report("discoworker, embedded, new data dir", runs["embedded"], size))
    if args.tiny:
        print(report("discoworker, embedded, used data dir", runs["embedded-kept"], size))
        print(report("discoworker, embedded, nothing cached (first job on this machine)",
                     runs["embedded-cold"], size))
    print("discoworker (new data dir) / ...:")
    print(ratio("floor, CPU (issue 15: at most 1.15)", runs["embedded"], runs["floor"], "cpu"))
    print(ratio("floor, wall", runs["embedded"], runs["floor"]))
    print(ratio("Pool with the job's map", runs["embedded"], runs["pool"]))
    print(ratio("Pool with Counter.update", runs["embedded"], runs["pool-c"]))
    if with_dask:
        print(ratio("Dask bag, wall (issue 15: at most 1/1.3 = 0.77)", runs["embedded"],
                    runs["dask"]))
        print(ratio("Dask bag, CPU", runs["embedded"], runs["dask"], "cpu"))
    if args.tiny:
        print(ratio("used data dir / new data dir", runs["embedded-kept"], runs["embedded"]))
        print(ratio("nothing cached / new data dir", runs["embedded-cold"], runs["embedded"]))
    print("counts (every run against a Counter over the files): "
          + ("EQUAL" if ok else "DIFFERENT"))
    return 0 if ok else 1


def main_growth(args: argparse.Namespace) -> int:
    """The job at a tenth of ``--mb`` and at ``--mb``, in turn: wall and peak RSS ratios."""
    sizes = [args.mb / 10, args.mb]
    corpora = [corpus(mb, args.files, args.seed) for mb in sizes]
    specs = [{"paths": [str(p) for p in c], "workers": args.workers} for c in corpora]
    runs: list[list[dict[str, Any]]] = [[], []]
    references: list[dict[str, int]] = []
    for spec in specs:
        counted = measure("pool-c", spec)
        references.append(load_counts(counted.pop("counts")))
    for _ in range(args.rounds):
        for i, spec in enumerate(specs):
            runs[i].append(measure("embedded", spec))
    ok = all(check_equal(ref, r, f"{mb:g} MB") for ref, r, mb in zip(references, runs, sizes,
                                                                       strict=True))
    print(f"growth: the word count at {sizes[0]:g} MB and {sizes[1]:g} MB ({args.files} files, "
          f"{args.workers} workers), in turn; medians of {args.rounds} run(s)")
    for mb, corpus_runs, paths in zip(sizes, runs, corpora, strict=True):
        print(report(f"discoworker, {mb:g} MB", corpus_runs, corpus_bytes(paths)))
    big, small = runs[1], runs[0]
    print(f"{sizes[1]:g} MB / {sizes[0]:g} MB:")
    print(ratio("wall (issue 15: at most 10.5)", big, small))
    print(ratio("CPU", big, small, "cpu"))
    print(ratio("peak RSS of the client with its embedded master (at most 1.2)", big, small,
                "client_mb"))
    print(ratio("peak RSS of the largest task process or fork server (at most 1.2)", big,
                small, "worker_mb"))
    print("counts (every run against a Counter over the files): "
          + ("EQUAL" if ok else "DIFFERENT"))
    return 0 if ok else 1


#: What the external sort counts per buffered record beside its pickle (classic.py's figure).
SORT_RECORD_OVERHEAD = 120
#: Corpus bytes per word of the generated corpora (measured: 200 MB hold 29 M words).
BYTES_PER_WORD = 7.3


def sorted_bytes(counts: dict[str, int]) -> int:
    """The reduce's ``(word, 1)`` records as the external sort measures them."""
    return sum(
        n * (len(pickle.dumps((w, 1), pickle.HIGHEST_PROTOCOL)) + SORT_RECORD_OVERHEAD)
        for w, n in counts.items()
    )


def main_sort(args: argparse.Namespace) -> int:
    """A reduce with ``sort=True`` over records about 4.5x its ``sort_buffer_size``."""
    budget = args.sort_budget
    # About 4.5 budgets of (word, 1) records, at ~140 bytes each by the sort's measure.
    mb = args.sort_mb or round(4.5 * budget * BYTES_PER_WORD / 140, 2)
    paths = corpus(mb, args.files, args.seed)
    spec: dict[str, Any] = {"paths": [str(p) for p in paths], "workers": args.workers}
    reference = load_counts(measure("pool-c", spec).pop("counts"))
    data = sorted_bytes(reference)
    ways = {f"sort_buffer_size={budget:g}M": f"{budget:g}M",
            "sort_buffer_size=all (in memory)": f"{max(2 * data // MiB, 1)}M"}
    runs: dict[str, list[dict[str, Any]]] = {w: [] for w in ways}
    for _ in range(args.rounds):
        for way, buffer in ways.items():
            runs[way].append(measure("sort", dict(spec, sort_buffer=buffer)))
    ok = all(check_equal(reference, r, way) for way, r in runs.items())
    print(f"sort: one reduce with sort=True over {sum(reference.values())} (word, 1) records "
          f"of {mb:g} MB of text, {data / MiB:.0f} MB by the sort's measure (pickle + "
          f"{SORT_RECORD_OVERHEAD} bytes each) = {data / (budget * MiB):.1f}x a budget of "
          f"{budget:g} MB; medians of {args.rounds} run(s)")
    print("the budget is the job's sort_buffer_size (default '10%' of the node's memory); "
          "full buffers are sorted and spilled to run files, merged 64 at a time")
    for way, way_runs in runs.items():
        print(report(way, way_runs, corpus_bytes(paths)))
    first, second = runs.values()
    print(ratio("largest task's peak RSS, budget / all in memory", first, second, "worker_mb"))
    print("keys reached the reduce in order (its check), and counts (every run against a "
          "Counter over the files): " + ("EQUAL" if ok else "DIFFERENT"))
    return 0 if ok else 1


def main_empty(args: argparse.Namespace) -> int:
    tasks = args.empty_tasks
    spec: dict[str, Any] = {"paths": [], "workers": args.workers}
    # Each task a new interpreter (DISCOWORKER_FORK_SERVER=0), as every master but the
    # embedded one starts it, beside the embedded master's default (forks of a job's server).
    ways = {"forked from the job's fork server": {},
            "a new interpreter per task": {"DISCOWORKER_FORK_SERVER": "0"}}
    per_task: dict[str, list[float]] = {way: [] for way in ways}
    print(f"empty map tasks, {args.workers} workers; medians of {args.rounds} run(s)")
    for way, env in ways.items():
        many: list[dict[str, Any]] = []
        one: list[dict[str, Any]] = []
        for _ in range(args.rounds):
            one.append(measure("empty", dict(spec, tasks=1), env))
            many.append(measure("empty", dict(spec, tasks=tasks), env))
            per_task[way].append((many[-1]["wall"] - one[-1]["wall"]) / max(1, tasks - 1))
        wall_one, wall_many = median(one, "wall"), median(many, "wall")
        overhead = (wall_many - wall_one) / max(1, tasks - 1)
        print(f"{way}: job of 1 task: {wall_one:.3f} s; job of {tasks} tasks: "
              f"{wall_many:.3f} s; overhead per task: {overhead * 1000:.0f} ms (wall, "
              f"{args.workers} at once), {overhead * args.workers * 1000:.0f} ms of a worker slot")
    forked, fresh = per_task.values()
    ratios = sorted(b / a for a, b in zip(forked, fresh, strict=True) if a > 0)
    if ratios:
        print(f"a new interpreter per task costs x{statistics.median(ratios):.1f} the forked "
              f"task's overhead (median of run-by-run ratios: "
              f"{', '.join(f'{x:.1f}' for x in ratios)})")
    return 0


def main_master(args: argparse.Namespace, paths: list[Path]) -> int:
    size = corpus_bytes(paths)
    tag = push_corpus(args.master, paths)
    spec = {"paths": [], "workers": args.workers, "master": args.master, "tag": tag,
            "partitions": args.workers}
    ours: list[dict[str, Any]] = []
    original: list[dict[str, Any]] = []
    for _ in range(args.rounds):
        ours.append(measure("live", spec))
        if not args.skip_original:
            original.append(measure_original(args.original_python, args.master, tag,
                                             args.workers))
    total: collections.Counter[str] = collections.Counter()
    for p in paths:
        total.update(count_file_c(str(p)))
    reference = dict(total)
    ok = check_equal(reference, ours, "discoworker") and check_equal(
        reference, original, "original"
    )
    print(f"word count of {size / MiB:.0f} MB ({len(paths)} DDFS blobs of {tag}) on "
          f"{args.master}; medians of {args.rounds} run(s), submit to results read")
    if original:
        print(report("original Disco worker", original, size))
    print(report("discoworker's worker", ours, size))
    if original:
        speedups = sorted(o["wall"] / r["wall"] for r, o in zip(ours, original, strict=True))
        print(f"discoworker is {statistics.median(speedups):.1f}x faster than the original "
              f"(median of run-by-run ratios: {', '.join(f'{x:.1f}' for x in speedups)})")
    print("counts: " + ("EQUAL" if ok else "DIFFERENT"))
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--mb", type=float, default=200.0, help="corpus size (default 200)")
    parser.add_argument("--files", type=int, default=8, help="corpus files (default 8)")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    parser.add_argument("--workers", type=int, default=2, help="parallel tasks (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each (default 3)")
    parser.add_argument("--empty-tasks", type=int, metavar="N", help="per-task overhead")
    parser.add_argument("--tiny", action="store_true",
                        help=f"a small job: --mb {TINY_MB:g}, also in a data dir used before")
    parser.add_argument("--growth", action="store_true",
                        help="the job at --mb and at a tenth of it: time and memory ratios")
    parser.add_argument("--sort-budget", type=float, metavar="MB",
                        help="a reduce with sort=True over ~4.5x this sort_buffer_size")
    parser.add_argument("--sort-mb", type=float, metavar="MB", help=argparse.SUPPRESS)
    parser.add_argument("--master", metavar="URL",
                        help="a real Disco master, or dask://host:port (dask://local)")
    parser.add_argument("--original-python", default=DEFAULT_ORIGINAL_PYTHON,
                        help="python with the original disco library")
    parser.add_argument("--skip-original", action="store_true",
                        help="with --master, run only discoworker's worker")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "SPEC"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    cache_root().mkdir(parents=True, exist_ok=True)
    if args.child:
        mode, spec = args.child
        print(json.dumps(child(mode, json.loads(spec))))
        return 0
    if args.empty_tasks:
        return main_empty(args)
    if args.sort_budget:
        return main_sort(args)
    if args.growth:
        return main_growth(args)
    if args.tiny:
        args.mb = TINY_MB
    paths = corpus(args.mb, args.files, args.seed)
    if args.master and args.master.startswith("dask://"):
        import importlib  # bench/wordcount_dask.py: beside Dask bag on a Dask cluster

        return int(importlib.import_module("wordcount_dask").main(args, paths, run_job))
    if args.master:
        return main_master(args, paths)
    return main_embedded(args, paths)


if __name__ == "__main__":
    sys.exit(main())
