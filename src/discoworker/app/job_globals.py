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

from discoworker.app import classic_func
from discoworker.errors import FatalError

__all__ = ["PROVIDED_NAMES", "give_globals", "job_globals"]

#: The task's own names among those :func:`job_globals` gives.
_TASK_NAMES = ("Task", "put", "get", "Params", "this_host", "this_inputs", "this_master",
               "this_name", "this_partition")
#: Every name :func:`job_globals` gives besides the required modules (module discovery must
#: not take ``Task.host`` for a module named ``Task``).
PROVIDED_NAMES = (*_TASK_NAMES, *classic_func.__all__)


def job_globals(task: Any) -> dict[str, Any]:
    """``Task`` (the running task), the task's helpers and the ready-made functions, by name."""
    from discoworker.app import classic
    from discoworker.app.oob import get, put
    from discoworker.app.params import Params

    names: dict[str, Any] = {name: getattr(classic_func, name) for name in classic_func.__all__}
    given = {"Task": task, "put": put, "get": get, "Params": Params}
    names.update({n: given[n] if n in given else getattr(classic, n) for n in _TASK_NAMES})
    return names


def give_globals(
    functions: Iterable[Any], names: dict[str, Any], required_modules: Iterable[Any] | None,
    host: str = "?",
) -> None:
    """Add ``names`` and each required module, by its last dotted name, to the globals of
    each function (a partial's function included), keeping every name its module defines.

    A module is imported only when some function's globals lack its name: a task does not
    pay for modules its functions already import.
    """
    wanted = [str(m[0] if isinstance(m, tuple | list) else m) for m in required_modules or ()]
    imported: dict[str, Any] = {}
    for function in functions:
        while isinstance(function, functools.partial):
            function = function.func
        function = getattr(function, "__func__", function)  # staticmethod, bound method
        namespace = getattr(function, "__globals__", None)
        if not isinstance(namespace, dict):
            continue
        for name, value in names.items():
            namespace.setdefault(name, value)
        for module in wanted:
            short = module.rsplit(".", 1)[-1]
            if short in namespace:
                continue
            if module not in imported:
                try:
                    imported[module] = importlib.import_module(module)
                except ImportError as exc:
                    raise FatalError(f"required module {module!r} cannot be imported on node "
                                     f"{host}: {exc}") from exc
            namespace[short] = imported[module]
