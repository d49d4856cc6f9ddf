"""discoworker: Disco's Python worker interface (``disco.worker``), compatible with Disco 0.5.4.

The names are loaded on first use: a worker process imports only what its task needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: This release of discoworker.
__version__ = "0.1.0"

if TYPE_CHECKING:
    from discoworker.app.params import Params
    from discoworker.app.reading import Input, MergedInput, ParallelInput, SerialInput
    from discoworker.app.worker import Worker
    from discoworker.app.writing import Output
    from discoworker.errors import (
        CommError,
        DataError,
        DiscoError,
        FatalError,
        InputURLError,
        JobArgumentError,
        JobDictError,
        JobError,
        JobPackError,
        ModUtilImportError,
        ProtocolError,
    )

_WHERE = {
    "Worker": "discoworker.app.worker",
    "Input": "discoworker.app.reading",
    "SerialInput": "discoworker.app.reading",
    "ParallelInput": "discoworker.app.reading",
    "MergedInput": "discoworker.app.reading",
    "Output": "discoworker.app.writing",
    "Params": "discoworker.app.params",
    **{
        name: "discoworker.errors"
        for name in (
            "CommError",
            "DataError",
            "DiscoError",
            "FatalError",
            "InputURLError",
            "JobDictError",
            "JobArgumentError",
            "JobError",
            "JobPackError",
            "ModUtilImportError",
            "ProtocolError",
        )
    },
}

__all__ = [
    "CommError",
    "DataError",
    "DiscoError",
    "FatalError",
    "Input",
    "InputURLError",
    "JobArgumentError",
    "JobDictError",
    "JobError",
    "JobPackError",
    "MergedInput",
    "ModUtilImportError",
    "Output",
    "ParallelInput",
    "Params",
    "ProtocolError",
    "SerialInput",
    "Worker",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'discoworker' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
