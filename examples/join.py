"""A reduce-side join of two CSV files on their country code.

    python examples/join.py      (joins examples/data/join/cities.csv and countries.csv)

The map tags each row with its table; rows of one key meet in one reduce task (``sort``
hands them over grouped), which pairs every city with its country's name.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from discoworker.classic import Params
from discoworker.job import Job, result_iterator

HERE = Path(__file__).parent / "data" / "join"


def join_map(line: str, params: Params) -> Iterator[tuple[str, tuple[str, str]]]:
    """``(country, (table, value))`` of a CSV row; headers are skipped."""
    text = line.strip()
    left, _, right = text.partition(",")
    if not right or left in ("city", "country"):
        return
    if len(left) == 2 and left.isupper():
        yield left, ("country", right)
    else:
        yield right, ("city", left)


def join_reduce(
    records: Iterable[tuple[str, tuple[str, str]]], params: Params
) -> Iterator[tuple[str, str]]:
    """``(city, country name)`` for each city whose country is known."""
    for _code, group in itertools.groupby(records, key=lambda record: record[0]):
        rows = [value for _, value in group]
        names = [v for table, v in rows if table == "country"]
        for table, city in rows:
            if table == "city" and names:
                yield city, names[0]


def main(paths: list[str]) -> None:
    files = [Path(p).resolve() for p in paths] or sorted(HERE.glob("*.csv"))
    job = Job(name="Join").run(
        input=[f"file://{f}" for f in files],
        map=join_map,
        reduce=join_reduce,
        partitions=2,
        sort=True,
    )
    for city, country in sorted(result_iterator(job.wait())):
        print(f"{city}: {country}")


if __name__ == "__main__":
    main(sys.argv[1:])
