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
    assert "counts (every run against a Counter over the files): EQUAL" in out


def test_empty_tasks_prints_the_overhead_with_and_without_the_fork_server(
    tmp_path: Path,
) -> None:
    out = _bench(tmp_path, "--empty-tasks", "3", "--rounds", "1")
    assert "forked from the job's fork server" in out
    assert "a new interpreter per task" in out
