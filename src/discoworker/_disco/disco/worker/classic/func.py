"""Ready-made classic job functions (``disco.worker.classic.func``), discoworker's."""

from typing import Any

from discoworker.classic import (
    chain_reader,
    default_partition,
    disco_output_stream,
    init,
    input_stream,
    make_range_partition,
    map_input_stream,
    map_line_reader,
    map_output_stream,
    noop,
    nop_map,
    nop_reduce,
    output_stream,
    reduce_input_stream,
    reduce_output_stream,
    sum_combiner,
    sum_reduce,
    task_input_stream,
    task_output_stream,
)

__all__ = [
    "chain_reader", "default_partition", "disco_output_stream", "init", "input_stream",
    "make_range_partition", "map_input_stream", "map_line_reader", "map_output_stream",
    "noop", "nop_map", "nop_reduce", "notifier", "output_stream", "reduce_input_stream",
    "reduce_output_stream", "sum_combiner", "sum_reduce", "task_input_stream",
    "task_output_stream",
]


def notifier(urls: Any) -> None:
    """Called with each result's replica URLs as it is read; does nothing by default."""
