"""The job pack's jobdata: ``(job, jobargs)`` as cloudpickle, behind a one-line header.

The header names the client's Python (major.minor): pickled code objects only load on the same
version, and a node on another one must say so rather than fail obscurely while unpickling.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from discoworker.errors import FatalError

MAGIC = b"discoworker-jobdata 1 python "


def python_version() -> str:
    """This interpreter's ``major.minor``."""
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def dumps_jobdata(
    job: Any, jobargs: dict[str, Any], by_value: Iterable[str] = ()
) -> bytes:
    """Serialize what the node needs to rebuild the job and its worker.

    Functions and classes of the modules named in ``by_value`` are pickled with their code,
    not as references to a module the node may not have.
    """
    import cloudpickle

    registered = []
    for name in by_value:
        module = sys.modules.get(name)
        if module is not None and name not in cloudpickle.list_registry_pickle_by_value():
            cloudpickle.register_pickle_by_value(module)
            registered.append(module)
    try:
        body: bytes = cloudpickle.dumps((job, jobargs), protocol=5)
    finally:
        for module in registered:
            cloudpickle.unregister_pickle_by_value(module)
    return MAGIC + python_version().encode() + b"\n" + body


def loads_jobdata(data: bytes, where: str = "jobdata") -> tuple[Any, dict[str, Any]]:
    """The ``(job, jobargs)`` of :func:`dumps_jobdata`; FatalError on a foreign Python."""
    if not data.startswith(MAGIC):
        raise FatalError(f"{where}: not discoworker jobdata (it starts {data[:24]!r})")
    header, _, body = data.partition(b"\n")
    client = header[len(MAGIC) :].decode("ascii", "replace")
    if client != python_version():
        raise FatalError(
            f"Python version mismatch: the job was packed by Python {client}, "
            f"this node runs Python {python_version()} ({sys.executable})"
        )
    import pickle

    job, jobargs = pickle.loads(body)
    return job, dict(jobargs)
