"""Helpers jobs import from ``disco.util``: grouping, list shaping, URLs, out-of-band reads."""

from __future__ import annotations

import hashlib
import inspect
import random
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from typing import Any

from discoworker.app.classic_func import kvgroup

__all__ = [
    "argcount", "chainify", "external", "flatten", "hexhash", "identity", "ilen",
    "isiterable", "iskv", "iterify", "jobname", "key", "kvgroup", "kvify", "listify",
    "load_oob", "partition", "reify", "schemesplit", "shuffled", "urlresolve", "urlsplit",
]


def chainify(iterable: Iterable[Iterable[Any]]) -> list[Any]:
    """The items of each iterable of ``iterable``, one flat list."""
    return list(chain.from_iterable(iterable))


def flatten(iterable: Any) -> Iterator[Any]:
    """Every non-iterable leaf of nested iterables, depth first (strings are leaves)."""
    for item in iterable:
        if isiterable(item):
            yield from flatten(item)
        else:
            yield item


def hexhash(data: bytes) -> str:
    """The first 2 hex digits of the MD5 of ``data`` (a spread-out directory name)."""
    return hashlib.md5(data).hexdigest()[:2]


def identity(value: Any) -> Any:
    """``value`` itself."""
    return value


def isiterable(value: Any) -> bool:
    """Whether ``value`` is iterable and not a string or bytes."""
    return hasattr(value, "__iter__") and not isinstance(value, str | bytes)


def iskv(value: Any) -> bool:
    """Whether ``value`` is a ``(key, value)`` pair."""
    return isinstance(value, tuple) and len(value) == 2


def iterify(value: Any) -> Any:
    """``value`` when iterable (not a string), else ``[value]``."""
    return value if isiterable(value) else [value]


def ilen(iterable: Iterable[Any]) -> int:
    """How many items ``iterable`` yields (consuming it)."""
    return sum(1 for _ in iterable)


def key(record: tuple[Any, Any]) -> Any:
    """The key of a ``(key, value)`` record."""
    return record[0]


def kvify(entry: Any) -> tuple[Any, Any]:
    """``entry`` as a record: itself when a pair, else ``(entry, None)``."""
    return entry if iskv(entry) else (entry, None)


def listify(value: Any) -> list[Any]:
    """``value`` as a list (a lone value becomes a list of one)."""
    return list(iterify(value))


def partition(iterable: Iterable[Any], fn: Callable[[Any], Any]) -> tuple[list[Any], list[Any]]:
    """``(items where fn is true, items where it is false)``."""
    yes: list[Any] = []
    no: list[Any] = []
    for item in iterable:
        (yes if fn(item) else no).append(item)
    return yes, no


def reify(dotted_name: str, globals: dict[str, Any] | None = None) -> Any:
    """The object a dotted name such as ``package.module.function`` refers to."""
    import importlib

    if globals and dotted_name in globals:
        return globals[dotted_name]
    module, _, attr = dotted_name.rpartition(".")
    if not module:
        return importlib.import_module(dotted_name)
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError:
        return importlib.import_module(dotted_name)


def shuffled(items: Iterable[Any]) -> list[Any]:
    """The items of ``items`` in a random order (a new list)."""
    out = list(items)
    random.shuffle(out)
    return out


def argcount(function: Any) -> int:
    """How many positional parameters ``function`` takes (a partial's bound ones excluded)."""
    params = inspect.signature(function).parameters.values()
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


def schemesplit(url: str | bytes) -> tuple[str, str]:
    """``(scheme, rest)`` of ``url`` (``str``, or UTF-8 ``bytes`` as a line read from an input
    is); a bare path has the scheme ``""``."""
    if isinstance(url, bytes):
        url = url.decode("utf-8", "surrogateescape")
    scheme, sep, rest = url.partition("://")
    return (scheme, rest) if sep else ("", url)


class netloc(tuple[str, Any]):  # noqa: N801 - the original's name
    """``(host, port)`` of a URL; ``str()`` gives ``host[:port]``."""

    @classmethod
    def parse(cls, text: str) -> netloc:
        """The host and port of ``host[:port]`` (port None when absent)."""
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit():
            return cls((text, None))
        return cls((host, port))

    def __str__(self) -> str:
        host, port = self
        return f"{host}:{port}" if port else host


def urlsplit(url: str | bytes, localhost: str | None = None, disco_port: Any = None,
             **kwargs: Any) -> tuple[str, netloc, str]:
    """``(scheme, (host, port), path)`` of ``url``; ``disco://`` gets ``disco_port``."""
    scheme, rest = schemesplit(url)
    host, _, path = rest.partition("/")
    location = netloc.parse(host)
    if scheme == "disco" and location[1] is None and disco_port is not None:
        location = netloc((location[0], str(disco_port)))
    return scheme or "file", location, path


def urlresolve(url: str, master: str | None = None) -> str:
    """``url`` with ``tag://`` and ``disco://`` resolved to HTTP URLs of ``master``'s data."""
    scheme, _location, path = urlsplit(url)
    if scheme in ("dir", "disco"):
        from disco.settings import DiscoSettings
        from discoworker.domain.inputs import http_url

        return http_url(url, int(DiscoSettings()["DISCO_PORT"]))
    if scheme == "tag" and master:
        return f"{master.rstrip('/')}/ddfs/tag/{path}"
    return url


def jobname(url: str) -> str:
    """The job a result or input URL belongs to (its path segment after the data hash)."""
    scheme, _, path = urlsplit(url)
    parts = path.split("/")
    if scheme == "tag":
        return parts[-1].rsplit(":", 1)[-1]
    for i, part in enumerate(parts):
        if len(part) == 2 and i + 1 < len(parts) and all(c in "0123456789abcdef" for c in part):
            return parts[i + 1]
    raise ValueError(f"no job name in {url!r}")


def external(files: list[str]) -> Any:
    """External (non-Python) job functions are not supported by discoworker."""
    from discoworker.errors import DiscoError

    raise DiscoError("external (non-Python) job functions are not supported by discoworker: "
                     f"{files!r} (see docs/compatibility.md)")


def load_oob(host: str, name: str, key: str) -> bytes:
    """Job ``name``'s out-of-band result ``key``, from the master at ``host``.

    Inside a task the task's own master is asked (its DDFS as the node reaches it).
    """
    from discoworker.app.context import current_context
    from discoworker.errors import FatalError

    try:
        running = current_context()
    except FatalError:  # on the client
        from disco.job import Job

        return Job(name, master=host or None).oob_get(key)
    from discoworker.app.bootstrap import node_ddfs
    from discoworker.app.oob import read_result

    return read_result(node_ddfs(running.task), name, key, running.read_bytes)
