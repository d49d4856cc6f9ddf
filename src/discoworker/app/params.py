"""``Params``: the classic container of a job's parameters and per-task state.

Each task works on its own copy (:meth:`Params.for_task`), so what one task stores in it is
never seen by another, even when tasks run in one process. It pickles with cloudpickle like the
rest of the jobdata, so functions, lambdas and closures may be attributes.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any


class Params:
    """Parameters given as keywords, available to job functions as attributes.

    ``Params(n=3, f=str.upper).n == 3``; each task receives its own copy of the object.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)

    if TYPE_CHECKING:
        # Any keyword given is an attribute: let type checkers see them all.
        def __getattr__(self, name: str) -> Any: ...

    def __repr__(self) -> str:
        items = ", ".join(f"{key}={value!r}" for key, value in self.__dict__.items())
        return f"{type(self).__name__}({items})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # mutable state: not hashable

    def for_task(self) -> Params:
        """A fresh deep copy for one task (functions are shared: they are immutable)."""
        return copy.deepcopy(self)


def task_copy(params: Any) -> Any:
    """A task's own copy of any params object: deep when it can be, else the object itself."""
    if isinstance(params, Params):
        return params.for_task()
    try:
        return copy.deepcopy(params)
    except Exception:
        # Something that cannot be copied (a lock, an open file) is shared, as it must be.
        return params
