"""The classic worker (``disco.worker.classic.worker``): discoworker's, and the task helpers.

Jobs written with the ``disco`` names get lines as Disco 0.5 gave them under Python 3: a map
reads ``bytes`` from files, HTTP and DDFS and ``str`` from ``raw://``
(:func:`discoworker.task_io.stream_line_reader`), as their code and tests expect.
"""

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
    """discoworker's classic worker with Disco 0.5's map lines (see the module)."""

    def defaults(self) -> dict[str, Any]:
        """The classic defaults; ``map_reader`` gives lines as the stream gives them."""
        defaults = super().defaults()
        defaults["map_reader"] = stream_line_reader
        return defaults


__all__ = [
    "Params", "Worker", "get", "put", "this_host", "this_inputs", "this_master", "this_name",
    "this_partition",
]
