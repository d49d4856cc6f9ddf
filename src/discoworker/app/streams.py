"""Chains of stream functions (seed: ``disco.worker.task_io``, its chaining half).

An input chain turns a URL into records: each function ``(stream, size, url, params)`` gets
what the previous one returned (the first gets ``None, None, url``) and returns a new
``(stream, size, url)``, a ``(stream, url)`` pair or just a stream; the last stream is iterated.
A *reader* is the last function of an input chain that yields the records itself. Output
chains work alike with ``(stream, label, url, params)`` and the last stream's ``add``.
As in the original, ``params`` is optional: a function is given it only when it takes a
fourth parameter that is required or named ``params``.
"""

from __future__ import annotations

import inspect
import io
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from discoworker.app.context import current_context
from discoworker.domain.inputs import url_scheme

#: A function of an input or output chain; see the module's docstring for its shapes.
StreamFunction = Callable[..., Any]


@runtime_checkable
class InputStream(Protocol):
    """A file-like object an input chain returns: iterated for records, or read for bytes."""

    def __iter__(self) -> Iterator[Any]:
        """The records of the input."""
        ...

    def read(self, num_bytes: int = -1) -> Any:
        """At most ``num_bytes`` of the input (all that is left when negative)."""
        ...


@runtime_checkable
class OutputStream(Protocol):
    """A file-like object an output chain returns: ``add(key, value)`` encodes one record."""

    def add(self, key: Any, value: Any) -> None:
        """Add one record to the output."""
        ...

    def close(self) -> None:
        """Finish the output."""
        ...


def input_stream(
    stream: Any, size: int | None, url: str, params: Any
) -> tuple[Any, int | None, str]:
    """The shape of an input chain's function: here, the identity."""
    return stream, size, url


def output_stream(stream: Any, partition: int | None, url: str, params: Any) -> tuple[Any, str]:
    """The shape of an output chain's function: here, the identity."""
    return stream, url


def task_input_stream(
    stream: Any, size: int | None, url: str, params: Any
) -> tuple[Any, int | None, str]:
    """Open ``url`` by its scheme through the running task's openers.

    ``raw://`` data comes as text (a ``StringIO``), as in the original; every other scheme
    as a binary stream. The classic map's default reader makes lines ``str`` from either.
    """
    data, length = current_context().open(url)
    if url_scheme(url) == "raw":
        with data:
            text = data.read().decode("utf-8", "surrogateescape")
        return io.StringIO(text), len(text), url
    return data, length, url


def task_output_stream(stream: Any, partition: int | None, url: str, params: Any) -> Any:
    """An atomic file for the task output at ``url``: nothing is visible unless it completes.

    A relative ``url`` is taken relative to the running task's job home.
    """
    from discoworker.app.writing import AtomicFile

    path = url if os.path.isabs(url) else current_context().output_file(url)
    return AtomicFile(path)


def disco_output_stream(
    stream: Any, partition: int | None, url: str, params: Any
) -> tuple[Any, str]:
    """Records encoded in Disco's internal format onto ``stream`` (``records`` does it)."""
    from discoworker.domain import records

    return records.disco_output_stream(stream, partition, url, params)


def _chain_reader(stream: Any, size: int | None, url: str, params: Any = None) -> Iterator[Any]:
    # The default reduce reader and interior pipeline reader: records of the internal
    # format. Its fourth parameter is ``params`` (unlike disco_input_stream's
    # ``ignore_corrupt``, to which the original passed params by accident). The decoder's
    # own generator is returned: no layer of ours per record.
    from discoworker.domain.records import disco_input_stream

    return disco_input_stream(stream, size, url)


# -- composition ---------------------------------------------------------------------------


def takes_params(function: StreamFunction) -> bool:
    """True when ``function`` is to be given ``params`` as its fourth argument."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(positional) < 4:
        return False
    fourth = positional[3]
    return fourth.default is inspect.Parameter.empty or fourth.name == "params"


def call_stream(
    function: StreamFunction, stream: Any, size: Any, url: str, params: Any
) -> tuple[Any, Any, str]:
    """Call one chain function and read its result as ``(stream, size, url)``."""
    args = (stream, size, url, params) if takes_params(function) else (stream, size, url)
    result = function(*args)
    if isinstance(result, tuple):
        if len(result) == 3:
            return result[0], result[1], result[2]
        if len(result) == 2:
            return result[0], size, result[1]
    return result, size, url


class StreamChain:
    """The streams a chain made for one URL, the last one in front (``ClassicFile``)."""

    def __init__(
        self,
        url: str,
        functions: Iterable[StreamFunction],
        params: Any = None,
        *,
        stream: Any = None,
        size: Any = None,
    ) -> None:
        self.url = url
        self.fds: list[Any] = []
        try:
            for function in functions:
                stream, size, url = call_stream(function, stream, size, url, params)
                self.fds.append(stream)
        except BaseException:
            self.discard()
            raise
        self.size = size

    @property
    def last(self) -> Any:
        """The stream the chain ends with."""
        if not self.fds:
            raise ValueError(f"an empty stream chain for {self.url}")
        return self.fds[-1]

    @property
    def path(self) -> Any:
        """The path of the file underneath, when one of the streams has one."""
        for fd in reversed(self.fds):
            path = getattr(fd, "path", None)
            if path is not None:
                return path
        return None

    def __iter__(self) -> Iterator[Any]:
        try:
            yield from self.last
        finally:
            self.close()

    def add(self, key: Any, value: Any) -> None:
        """Add a record through the last stream."""
        self.last.add(key, value)

    def close(self) -> None:
        """Close every stream, the last one first (so an encoder ends before its file)."""
        for fd in reversed(self.fds):
            close = getattr(fd, "close", None)
            if close is not None:
                close()

    def discard(self) -> None:
        """Abandon an output: the streams that can be discarded are; if none can, all close."""
        discardable = [fd for fd in self.fds if getattr(fd, "discard", None) is not None]
        for fd in reversed(discardable):
            fd.discard()
        if discardable:
            return
        for fd in reversed(self.fds):
            try:
                close = getattr(fd, "close", None)
                if close is not None:
                    close()
            except Exception:
                # The output is abandoned: an encoder failing to finish changes nothing.
                pass


def input_chain(
    streams: Sequence[StreamFunction | None], reader: StreamFunction | None, params: Any
) -> Callable[[str], StreamChain]:
    """An opener of records: ``streams`` then ``reader`` (None entries skipped) per URL."""
    functions = [f for f in (*streams, reader) if f is not None]

    def open_url(url: str) -> StreamChain:
        return StreamChain(url, functions, params)

    return open_url


def output_chain(
    streams: Sequence[StreamFunction | None], params: Any, label: int | None = None
) -> Callable[[str], StreamChain]:
    """An opener of outputs: the chain ``streams`` per output path, given ``label``."""
    functions = [f for f in streams if f is not None]

    def open_path(path: str) -> StreamChain:
        return StreamChain(path, functions, params, size=label)

    return open_path


def as_chain(value: StreamFunction | Sequence[StreamFunction | None] | None) -> list[Any]:
    """A parameter given as one function, a sequence of them or None, as a list."""
    if value is None:
        return []
    if callable(value):
        return [value]
    return list(value)


#: Records in Disco's internal format: the default reader of reduces and later stages.
chain_reader: StreamFunction = _chain_reader
