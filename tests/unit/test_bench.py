"""The word count bench runs in its quick modes and checks its counts (never how fast)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "bench" / "wordcount.py"


def _bench(tmp_path: Path, *args: str) -> str:
    env = {**os.environ, "DISCOWORKER_BENCH_CACHE": str(tmp_path)}
    done = subprocess.run([sys.executable, str(BENCH), *args], env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_tiny_word_count_compares_every_run_with_a_counter(tmp_path: Path) -> None:
    out = _bench(tmp_path, "--tiny", "--rounds", "1", "--files", "2")
    assert "floor: map + combiner, one process" in out
    assert "used data dir" in out
    assert "nothing cached (first job on this machine)" in out
    assert "Pool(2), Counter.update(line.split())" in out
    # Dask bag's row when dask is installed, else a line saying it was skipped.
    assert ("Dask bag, 2 processes" in out) or ("Dask bag: skipped" in out)
    assert "floor, CPU" in out
    assert "counts (every run against a Counter over the files): EQUAL" in out


def test_growth_compares_time_and_memory_at_ten_times_the_data(tmp_path: Path) -> None:
    out = _bench(tmp_path, "--growth", "--mb", "0.5", "--rounds", "1", "--files", "2")
    assert "0.5 MB / 0.05 MB:" in out
    assert "peak RSS of the client with its embedded master" in out
    assert "peak RSS of the largest task process" in out
    assert "counts (every run against a Counter over the files): EQUAL" in out


def test_sort_budget_runs_a_sorted_reduce_past_its_buffer(tmp_path: Path) -> None:
    out = _bench(tmp_path, "--sort-budget", "0.5", "--rounds", "1", "--files", "2")
    # The records are several budgets large, and the reduce saw them in order.
    assert "x a budget of 0.5 MB" in out
    assert "sort_buffer_size=0.5M" in out
    assert "keys reached the reduce in order (its check), and counts" in out
    assert out.rstrip().endswith("EQUAL")


def test_empty_tasks_prints_the_overhead_with_and_without_the_fork_server(
    tmp_path: Path,
) -> None:
    out = _bench(tmp_path, "--empty-tasks", "3", "--rounds", "1")
    assert "forked from the job's fork server" in out
    assert "a new interpreter per task" in out
