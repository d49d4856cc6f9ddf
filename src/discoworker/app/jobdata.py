"""The job pack's jobdata: ``(job, jobargs)`` as cloudpickle, behind a one-line header.

The header names the client's Python (major.minor): pickled code objects only load on the same
version, and a node on another one must say so rather than fail obscurely while unpickling.

Code pickled by value keeps the client's file names (cloudpickle writes ``<dynamic-code>``),
and the source lines of those files follow the job as a second pickle: a node registers them
with :mod:`linecache`, so a traceback through job code shows the user's file, line and source
line even where that file does not exist.
"""

from __future__ import annotations

import io
import sys
import types
from collections.abc import Iterable
from typing import Any

from discoworker.errors import FatalError

MAGIC = b"discoworker-jobdata 1 python "

#: What cloudpickle writes as the file name of every code object it pickles by value.
_DYNAMIC = "<dynamic-code>"


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
    buffer = io.BytesIO()
    pickler = _pickler(cloudpickle, buffer)
    try:
        pickler.dump((job, jobargs))
    finally:
        for module in registered:
            cloudpickle.unregister_pickle_by_value(module)
    import pickle

    pickle.dump(_sources(pickler.filenames), buffer, protocol=5)
    return MAGIC + python_version().encode() + b"\n" + buffer.getvalue()


def loads_jobdata(data: bytes, where: str = "jobdata") -> tuple[Any, dict[str, Any]]:
    """The ``(job, jobargs)`` of :func:`dumps_jobdata`; FatalError on a foreign Python.

    The sources that came with the job are registered with :mod:`linecache`.
    """
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

    stream = io.BytesIO(body)
    job, jobargs = pickle.load(stream)
    if stream.tell() < len(body):
        register_sources(pickle.load(stream))
    return job, dict(jobargs)


def register_sources(sources: dict[str, list[str]]) -> None:
    """Make ``linecache`` (hence tracebacks) read these files' lines from memory."""
    import linecache

    for filename, lines in sources.items():
        # mtime None: checkcache() keeps the entry even though no such file exists here.
        linecache.cache[filename] = (sum(map(len, lines)), None, lines, filename)


def _sources(filenames: Iterable[str]) -> dict[str, list[str]]:
    """The lines of each file (or notebook cell) that ``linecache`` knows, by file name."""
    import linecache

    found: dict[str, list[str]] = {}
    for filename in sorted(filenames):
        lines = linecache.getlines(filename)
        if lines:
            found[filename] = list(lines)
    return found


def _pickler(cloudpickle: types.ModuleType, buffer: io.BytesIO) -> Any:
    """A cloudpickle Pickler that keeps each code object's file name and notes it."""

    class Pickler(cloudpickle.Pickler):  # type: ignore[misc, name-defined]
        def __init__(self, file: io.BytesIO) -> None:
            super().__init__(file, protocol=5)
            self.filenames: set[str] = set()

        def reducer_override(self, obj: Any) -> Any:
            if type(obj) is types.CodeType and types.CodeType in self.dispatch_table:
                filename = obj.co_filename
                self.filenames.add(filename)
                kind, args = self.dispatch_table[types.CodeType](obj)
                return kind, tuple(
                    filename if type(a) is str and a == _DYNAMIC else a for a in args
                )
            return super().reducer_override(obj)

    return Pickler(buffer)
