"""The classic worker (``disco.worker.classic.worker``): discoworker's, and the task helpers.

Jobs written with the ``disco`` names get lines as Disco 0.5 gave them under Python 3: a map
reads ``bytes`` from files, HTTP and DDFS and ``str`` from ``raw://``
(:func:`discoworker.task_io.stream_line_reader`), as their code and tests expect.
"""

from __future__ import annotations

from typing import Any

from discoworker import classic
from discoworker.classic import (
    Params,
    get,
    put,
    this_host,
    this_inputs,
    this_master,
    this_name,
    this_partition,
)
from discoworker.task_io import stream_line_reader


class Worker(classic.Worker):
    """discoworker's classic worker with Disco 0.5's map lines (see the module), its stages
    run by the original's method names.

    A stage runs as ``Worker.map``, ``Worker.shuffle`` or ``Worker.reduce`` of this module,
    so a profile (``profile=True``) reads as the original's does:
    ``job.profile_stats().print_stats('worker', 'reduce')`` counts the reduce tasks.
    """

    def defaults(self) -> dict[str, Any]:
        """The classic defaults; ``map_reader`` gives lines as the stream gives them."""
        defaults = super().defaults()
        defaults["map_reader"] = stream_line_reader
        return defaults

    def run_map(self, task: Any, params: Any) -> None:
        self.map(task, params)

    def run_shuffle(self, task: Any, params: Any) -> None:
        self.shuffle(task, params)

    def run_reduce(self, task: Any, params: Any) -> None:
        self.reduce(task, params)

    def map(self, task: Any, params: Any) -> None:
        """Run a map task."""
        super().run_map(task, params)

    def shuffle(self, task: Any, params: Any) -> None:
        """Run a shuffle task (``map_shuffle``, ``reduce_shuffle``)."""
        super().run_shuffle(task, params)

    def reduce(self, task: Any, params: Any) -> None:
        """Run a reduce task."""
        super().run_reduce(task, params)


__all__ = [
    "Params", "Worker", "get", "put", "this_host", "this_inputs", "this_master", "this_name",
    "this_partition",
]
