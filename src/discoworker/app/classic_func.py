"""Ready-made job functions of the classic interface (seed: ``disco.worker.classic.func``).

No-op and summing maps, reduces and combiners, the partitions, and the stream functions
under the names the original's ``func`` module gave them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import groupby
from operator import itemgetter
from typing import Any

from discoworker.app.streams import (
    chain_reader,
    disco_output_stream,
    input_stream,
    output_stream,
    task_input_stream,
    task_output_stream,
)
from discoworker.domain.partition import default_partition, make_range_partition

__all__ = [
    "chain_reader",
    "default_partition",
    "disco_output_stream",
    "input_stream",
    "make_range_partition",
    "map_input_stream",
    "map_line_reader",
    "map_output_stream",
    "nop_map",
    "nop_reduce",
    "noop",
    "output_stream",
    "reduce_input_stream",
    "reduce_output_stream",
    "sum_combiner",
    "sum_reduce",
    "task_input_stream",
    "task_output_stream",
]

#: The default first function of a map's / reduce's input chain.
map_input_stream = reduce_input_stream = task_input_stream
#: The default first function of a map's / reduce's output chain.
map_output_stream = reduce_output_stream = task_output_stream


def noop(*args: Any, **kwargs: Any) -> None:
    """Does nothing, whatever it is given."""


def nop_map(entry: Any, params: Any) -> Iterator[Any]:
    """A map that passes each input record through unchanged."""
    yield entry


def nop_reduce(iter: Iterable[Any], out: Any, params: Any) -> None:
    """A reduce that writes each record it reads: one result file per partition."""
    for key, value in iter:
        out.add(key, value)


def sum_combiner(
    key: Any, value: Any, buf: dict[Any, Any], done: bool, params: Any
) -> Iterable[tuple[Any, Any]] | None:
    """A combiner summing the values of each key; the sums come out with the ``done`` call."""
    if not done:
        buf[key] = buf.get(key, 0) + value
        return None
    return list(buf.items())


def sum_reduce(iter: Iterable[Any], params: Any) -> Iterator[tuple[Any, Any]]:
    """A reduce summing the values of each key (the two-argument form)."""
    sums: dict[Any, Any] = {}
    for key, value in iter:
        sums[key] = sums.get(key, 0) + value
    yield from sums.items()


def kvgroup(records: Iterable[tuple[Any, Any]]) -> Iterator[tuple[Any, Iterator[Any]]]:
    """``(key, values)`` for each run of equal keys in ``records``: a reduce's grouping, once
    its input is sorted (``sort=True``, or ``kvgroup(sorted(iter))``)."""
    for key, group in groupby(records, key=itemgetter(0)):
        yield key, (value for _, value in group)


def map_line_reader(fd: Any, size: int | None, url: str, params: Any) -> Iterator[Any]:
    """A ``map_reader`` giving the input's lines without their line ends (text or bytes)."""
    for line in fd:
        yield line.rstrip("\r\n" if isinstance(line, str) else b"\r\n")
