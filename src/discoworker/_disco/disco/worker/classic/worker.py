"""The classic worker (``disco.worker.classic.worker``): discoworker's, and the task helpers."""

from discoworker.classic import (
    Params,
    Worker,
    get,
    put,
    this_host,
    this_inputs,
    this_master,
    this_name,
    this_partition,
)

__all__ = [
    "Params", "Worker", "get", "put", "this_host", "this_inputs", "this_master", "this_name",
    "this_partition",
]
