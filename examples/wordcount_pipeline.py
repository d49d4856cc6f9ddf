"""The word count as a pipeline: ``split`` maps words to labels, ``group_label`` sums them.

    python examples/wordcount_pipeline.py [FILE ...]    (default: the files in examples/data)
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from discoworker.job import Job, result_iterator
from discoworker.pipeline import Stage, Worker

LABELS = 4


def split(interface: Any, state: Any, label: int, inp: Iterable[bytes | str]) -> None:
    """Each word to the label of its first letter, so every word is counted in one task."""
    for line in inp:
        text = line.decode("utf-8") if isinstance(line, bytes) else line
        for word in text.lower().split():
            word = word.strip(".,:;!?\"'()")
            if word:
                interface.output(ord(word[0]) % LABELS).add(word, 1)


def count(interface: Any, state: Any, label: int, inp: Iterable[tuple[str, int]]) -> None:
    """The sum of each word's counts; ``combine`` and ``sort`` hand them over grouped."""
    out = interface.output(0)
    for word, group in itertools.groupby(inp, key=lambda record: record[0]):
        out.add(word, sum(n for _, n in group))


def main(paths: list[str]) -> None:
    files = [Path(p).resolve() for p in paths] or sorted(
        (Path(__file__).parent / "data").glob("*.txt")
    )
    worker = Worker(
        pipeline=[
            ("split", Stage("words", process=split)),
            ("group_label", Stage("counts", process=count, combine=True, sort=True)),
        ]
    )
    job = Job(name="PipelineWordCount", worker=worker).run(input=[f"file://{f}" for f in files])
    counts = sorted(result_iterator(job.wait()), key=lambda wc: (-wc[1], wc[0]))
    for word, n in counts[:20]:
        print(f"{n:6d} {word}")
    print(f"{len(counts)} distinct words ({job.name})")


if __name__ == "__main__":
    main(sys.argv[1:])
