"""Distributed grep: the lines matching a regular expression, with where they were found.

    python examples/grep.py PATTERN [FILE ...]    (default: the files in examples/data)

A map-only job: no reduce, so its results are the map tasks' outputs.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

from discoworker.classic import Params
from discoworker.job import Job, result_iterator


def grep_map(line: str, params: Params) -> Iterator[tuple[str, str]]:
    """The line, keyed by the pattern, when it matches."""
    if params.pattern.search(line):
        yield params.pattern.pattern, line.rstrip("\n")


def main(pattern: str, paths: list[str]) -> None:
    files = [Path(p).resolve() for p in paths] or sorted(
        (Path(__file__).parent / "data").glob("*.txt")
    )
    job = Job(name="Grep").run(
        input=[f"file://{f}" for f in files],
        map=grep_map,
        params=Params(pattern=re.compile(pattern, re.IGNORECASE)),
    )
    for _, line in result_iterator(job.wait()):
        print(line)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2:])
