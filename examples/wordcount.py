"""Count the words of text files with a classic map/reduce job on the embedded master.

    python examples/wordcount.py [FILE ...]      (default: the files in examples/data)

The same job runs on a Disco cluster when ``DISCO_MASTER`` names its master.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from discoworker.classic import Params
from discoworker.job import Job, result_iterator


def fun_map(line: str, params: Params) -> Iterator[tuple[str, int]]:
    """One ``(word, 1)`` per word of a line, lowercased and stripped of punctuation.

    Lines arrive as ``str`` from every kind of input (files, ``raw://``, HTTP, DDFS).
    """
    for word in line.split():
        word = word.strip(".,:;!?\"'()").lower()
        if word:
            yield word, 1


def fun_reduce(records: Iterable[tuple[str, int]], params: Params) -> Iterator[tuple[str, int]]:
    """The sum of the counts of each word (records arrive sorted by word)."""
    for word, group in itertools.groupby(records, key=lambda record: record[0]):
        yield word, sum(count for _, count in group)


def main(paths: list[str]) -> None:
    files = [Path(p).resolve() for p in paths] or sorted(
        (Path(__file__).parent / "data").glob("*.txt")
    )
    job = Job(name="WordCount").run(
        input=[f"file://{f}" for f in files],
        map=fun_map,
        reduce=fun_reduce,
        partitions=2,
        sort=True,
    )
    counts = sorted(result_iterator(job.wait()), key=lambda wc: (-wc[1], wc[0]))
    for word, count in counts:
        print(f"{count:6d} {word}")
    print(f"{len(counts)} distinct words, {sum(c for _, c in counts)} in all ({job.name})")


if __name__ == "__main__":
    main(sys.argv[1:])
