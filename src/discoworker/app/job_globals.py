"""The names job functions find as globals on the node, as the original's classic worker gave.

Disco jobs call ``put``, ``get``, ``this_name()``... and use the modules of
``required_modules`` without importing them: the original's classic worker added its own
module's names (``Task``, the task queries, the ready-made functions of ``func``) and each
required module, under its last dotted name, to every job function's globals. A name the
function's module already defines is left alone.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterable
from typing import Any

from discoworker.errors import FatalError

__all__ = ["PROVIDED_NAMES", "give_globals", "job_globals"]

#: The names :func:`job_globals` gives besides the required modules (module discovery must
#: not take ``Task.host`` for a module named ``Task``).
PROVIDED_NAMES = (
    "Task", "put", "get", "Params", "this_host", "this_inputs", "this_master", "this_name",
    "this_partition", "chain_reader", "default_partition", "disco_output_stream",
    "input_stream", "make_range_partition", "map_input_stream", "map_line_reader",
    "map_output_stream", "nop_map", "nop_reduce", "noop", "output_stream",
    "reduce_input_stream", "reduce_output_stream", "sum_combiner", "sum_reduce",
    "task_input_stream", "task_output_stream",
)


def job_globals(task: Any, required_modules: Iterable[Any] | None) -> dict[str, Any]:
    """``Task`` (the running task), the task's helpers and the required modules, by name."""
    from discoworker.app import classic_func
    from discoworker.app.classic import (
        this_host,
        this_inputs,
        this_master,
        this_name,
        this_partition,
    )
    from discoworker.app.oob import get, put
    from discoworker.app.params import Params

    names: dict[str, Any] = {name: getattr(classic_func, name) for name in classic_func.__all__}
    names.update(
        Task=task, put=put, get=get, Params=Params, this_host=this_host,
        this_inputs=this_inputs, this_master=this_master, this_name=this_name,
        this_partition=this_partition,
    )
    for module in required_modules or ():
        name = module[0] if isinstance(module, tuple | list) else module
        try:
            names[str(name).rsplit(".", 1)[-1]] = importlib.import_module(str(name))
        except ImportError as exc:
            raise FatalError(f"required module {name!r} cannot be imported on node "
                             f"{getattr(task, 'host', '?')}: {exc}") from exc
    return names


def give_globals(functions: Iterable[Any], names: dict[str, Any]) -> None:
    """Add ``names`` to the globals of each function (a partial's function included),
    keeping every name its module defines."""
    for function in functions:
        while isinstance(function, functools.partial):
            function = function.func
        function = getattr(function, "__func__", function)  # staticmethod, bound method
        namespace = getattr(function, "__globals__", None)
        if isinstance(namespace, dict):
            for name, value in names.items():
                namespace.setdefault(name, value)
