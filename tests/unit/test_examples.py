"""Each example runs with one command on the embedded master and prints what it promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(tmp_path: Path, *argv: str) -> str:
    env = {**os.environ, "DISCOWORKER_DATA": str(tmp_path)}
    done = subprocess.run([sys.executable, str(EXAMPLES / argv[0]), *argv[1:]], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("script", ["wordcount.py", "wordcount_pipeline.py"])
def test_word_counts_print_the_most_frequent_words(tmp_path: Path, script: str) -> None:
    out = run_example(tmp_path, script).splitlines()
    assert out[0].split() == ["11", "the"]
    assert "43 distinct words" in out[-1]


def test_grep_prints_the_matching_lines(tmp_path: Path) -> None:
    out = run_example(tmp_path, "grep.py", "straße").splitlines()
    assert out == ["to Heaven, we were all going direct the other way. Übermorgen, straße, café:"]


def test_join_pairs_cities_with_countries(tmp_path: Path) -> None:
    out = run_example(tmp_path, "join.py").splitlines()
    assert "Lisbon: Portugal" in out and "Seville: Spain" in out
    assert not any(line.startswith("Oslo") for line in out)
    assert len(out) == 6
