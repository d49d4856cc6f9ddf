"""A new user's first steps: the README's job, saved as a file, runs as the README says."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
COUNTS = ["cat 2", "hello 1", "mat 1", "on 1", "sat 1", "the 2"]

pytestmark = pytest.mark.slow


def saved_example(where: Path) -> Path:
    match = re.search(r"Save this as `wordcount.py`:\n\n```python\n(.*?)```", README.read_text(),
                      re.S)
    assert match, "the README no longer shows its job to save as wordcount.py"
    path = where / "wordcount.py"
    path.write_text(match.group(1))
    return path


def run(where: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DISCOWORKER_DATA": str(where / "data")}
    env.pop("DISCO_MASTER", None)
    return subprocess.run(argv, cwd=where, env=env, capture_output=True, text=True, timeout=180,
                          check=False)


def test_the_readme_job_run_as_a_script_prints_plain_words_and_counts(tmp_path: Path) -> None:
    saved_example(tmp_path)
    done = run(tmp_path, sys.executable, "wordcount.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == COUNTS


def test_the_readme_job_run_with_discoworker_run_prints_the_same(tmp_path: Path) -> None:
    saved_example(tmp_path)
    (tmp_path / "words.txt").write_text("the cat sat\non the mat\n")
    command = shutil.which("discoworker", path=os.path.dirname(sys.executable))
    assert command is not None
    done = run(tmp_path, command, "run", "wordcount.py", "-i", "words.txt", "-i",
               "raw://hello cat", "-p", "partitions=2", "-p", "sort=True", "-q")
    assert done.returncode == 0, done.stderr
    assert [line.replace("\t", " ") for line in done.stdout.splitlines()] == COUNTS
