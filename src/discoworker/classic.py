"""The classic map/reduce worker (seed: ``disco.worker.classic.worker`` and ``.func``).

``Job().run(input=[...], map=fun_map, reduce=fun_reduce)`` runs with :class:`Worker`; the
helpers below are the original's ready-made job functions and task queries.
"""

from discoworker.app.classic import (
    Worker,
    external_sort,
    init,
    this_host,
    this_inputs,
    this_master,
    this_name,
    this_partition,
)
from discoworker.app.classic_func import (
    chain_reader,
    default_partition,
    disco_output_stream,
    input_stream,
    kvgroup,
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
from discoworker.app.oob import get, put
from discoworker.app.params import Params

__all__ = [
    "Params",
    "Worker",
    "chain_reader",
    "default_partition",
    "disco_output_stream",
    "external_sort",
    "get",
    "init",
    "input_stream",
    "kvgroup",
    "make_range_partition",
    "map_input_stream",
    "map_line_reader",
    "map_output_stream",
    "nop_map",
    "nop_reduce",
    "noop",
    "output_stream",
    "put",
    "reduce_input_stream",
    "reduce_output_stream",
    "sum_combiner",
    "sum_reduce",
    "task_input_stream",
    "task_output_stream",
    "this_host",
    "this_inputs",
    "this_master",
    "this_name",
    "this_partition",
]
