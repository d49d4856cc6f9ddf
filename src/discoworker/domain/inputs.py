"""A task's inputs as the master describes them: ids, status, label and replicas.

Also the pure rules around them: parsing an ``INPUT`` reply's items, reading a URL's scheme
and host the way the master does, mapping a replica on this node to a local file, ordering
replicas local-first, and the replica failover state behind ``INPUT_ERR``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from typing import Literal, TypeAlias

import attrs

from discoworker.errors import DataError

InputStatus: TypeAlias = Literal["ok", "busy", "failed"]
#: An input's label: an int, or ``"all"`` (every label of a ``dir://`` index).
InputLabel: TypeAlias = int | Literal["all"]

_STATUSES: tuple[InputStatus, ...] = ("ok", "busy", "failed")


def _is_int(value: object) -> bool:
    # JSON true/false decode to bool, a subclass of int: never a valid id or label.
    return isinstance(value, int) and not isinstance(value, bool)


@attrs.frozen
class Replica:
    """One copy of an input: the master's replica id and its URL."""

    id: int
    url: str

    @classmethod
    def from_json(cls, obj: object) -> Replica:
        """Read ``[rep_id, url]``; ValueError naming the fault when the shape is wrong."""
        if not isinstance(obj, list) or len(obj) != 2:
            raise ValueError(f"replica must be [rep_id, url], got {obj!r}")
        rep_id, url = obj
        if not _is_int(rep_id) or rep_id < 0:
            raise ValueError(f"replica id must be a non-negative integer, got {rep_id!r}")
        if not isinstance(url, str) or not url:
            raise ValueError(f"replica url must be a non-empty string, got {url!r}")
        return cls(rep_id, url)

    def to_json(self) -> list[object]:
        """The replica as the master writes it: ``[rep_id, url]``."""
        return [self.id, self.url]


@attrs.frozen
class TaskInput:
    """One input of a task, from an ``INPUT`` reply: ``[id, status, label, [[rep_id, url]...]]``."""

    id: int
    status: InputStatus
    label: InputLabel
    replicas: tuple[Replica, ...]

    @classmethod
    def from_json(cls, obj: object) -> TaskInput:
        """Read one item of an ``INPUT`` reply's list; ValueError naming the fault if malformed."""
        if not isinstance(obj, list) or len(obj) != 4:
            raise ValueError(f"input must be [id, status, label, replicas], got {obj!r}")
        input_id, status, label, replicas = obj
        if not _is_int(input_id) or input_id < 0:
            raise ValueError(f"input id must be a non-negative integer, got {input_id!r}")
        if status not in _STATUSES:
            raise ValueError(f"input status must be one of ok, busy, failed, got {status!r}")
        if not (_is_int(label) or label == "all"):
            raise ValueError(f'input label must be an integer or "all", got {label!r}')
        if not isinstance(replicas, list):
            raise ValueError(f"input replicas must be a list, got {replicas!r}")
        reps = tuple(Replica.from_json(r) for r in replicas)
        return cls(input_id, status, label, reps)

    def to_json(self) -> list[object]:
        """The input as the master writes it in an ``INPUT`` reply."""
        return [self.id, self.status, self.label, [r.to_json() for r in self.replicas]]


# --- URLs as the master and the worker read them -------------------------------------------


#: The URL schemes a worker reads (``file`` also as a plain path): its openers' schemes.
SCHEMES = ("file", "raw", "http", "https", "disco", "dir", "tag")


def url_scheme(url: str) -> str:
    """The text before ``://``, or ``""`` for a URL without one (a plain path)."""
    scheme, sep, _rest = url.partition("://")
    return scheme if sep else ""


def url_host(url: str) -> str:
    """The node of a URL as the master sees it: after ``scheme://`` up to the first ``/`` or ``:``.

    A URL without ``scheme://`` has the host ``""``; so every distinct ``raw://`` payload is a
    node of its own, as on the real master.
    """
    _scheme, sep, rest = url.partition("://")
    if not sep:
        return ""
    end = len(rest)
    for stop in ("/", ":"):
        pos = rest.find(stop)
        if pos != -1:
            end = min(end, pos)
    return rest[:end]


def url_port(url: str) -> str:
    """The port text of ``scheme://host:port/...``, or ``""`` when there is none."""
    _scheme, sep, rest = url.partition("://")
    if not sep:
        return ""
    netloc = rest.split("/", 1)[0]
    return netloc.split(":", 1)[1] if ":" in netloc else ""


def url_path(url: str) -> str:
    """The path after ``scheme://netloc/``, without its leading slash (``""`` if none)."""
    _scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    return rest.split("/", 1)[1] if "/" in rest else ""


def _safe_relpath(path: str, url: str) -> str:
    # The path comes from the network: a '..' or absolute component must not leave the
    # data directory it is mapped into.
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise DataError(f"refusing unsafe path {path!r}", url)
    return "/".join(parts)


def localize(path: str, *, disco_data: str, ddfs_data: str, url: str = "") -> str | None:
    """Map a node URL path ``disco/<rest>`` or ``ddfs/<rest>`` to the file under the data dirs.

    None for any other first component (the node serves only those two trees).
    """
    prefix, _sep, rest = path.partition("/")
    if prefix == "disco":
        return posixpath.join(disco_data, _safe_relpath(rest, url or path))
    if prefix == "ddfs":
        return posixpath.join(ddfs_data, _safe_relpath(rest, url or path))
    return None


def local_path(
    url: str,
    host: str,
    *,
    disco_data: str,
    ddfs_data: str,
    disco_port: int | None = None,
) -> str | None:
    """The local file behind a ``disco://``/``dir://`` URL of this host, else None.

    With ``disco_port``, ``http://<this host>:<disco_port>/...`` counts as local too (the
    original's rule). DataError for a path that would escape the data directories.
    """
    scheme = url_scheme(url)
    if url_host(url) != host or not host:
        return None
    if scheme not in ("disco", "dir"):
        port_matches = disco_port is not None and url_port(url) == str(disco_port)
        if not (scheme == "http" and port_matches):
            return None
    return localize(url_path(url), disco_data=disco_data, ddfs_data=ddfs_data, url=url)


def http_url(url: str, disco_port: int) -> str:
    """Where a node serves a ``disco://``/``dir://`` URL: ``http://host:disco_port/path``."""
    scheme = url_scheme(url)
    if scheme not in ("disco", "dir"):
        raise ValueError(f"not a disco:// or dir:// URL: {url!r}")
    return f"http://{url_host(url)}:{disco_port}/{url_path(url)}"


@attrs.frozen
class Locality:
    """What makes a replica local: this node's name and its data directories."""

    host: str
    disco_data: str
    ddfs_data: str
    disco_port: int | None = None

    def local_path(self, url: str) -> str | None:
        """The local file of ``url`` on this node, or None (see :func:`local_path`)."""
        try:
            return local_path(
                url,
                self.host,
                disco_data=self.disco_data,
                ddfs_data=self.ddfs_data,
                disco_port=self.disco_port,
            )
        except DataError:
            # An unsafe path is not local; opening it remotely fails on its own.
            return None

    def is_local(self, url: str) -> bool:
        """True when ``url`` names a file on this node (a plain path or ``file://`` too)."""
        scheme = url_scheme(url)
        if scheme in ("", "file"):
            return True
        return self.local_path(url) is not None


def order_replicas(
    replicas: Iterable[Replica],
    host: str,
    *,
    disco_data: str = "",
    ddfs_data: str = "",
    disco_port: int | None = None,
) -> tuple[Replica, ...]:
    """The replicas to try, local ones first, otherwise in the master's order (stable)."""
    where = Locality(host, disco_data, ddfs_data, disco_port)
    return _order(replicas, where)


def _order(replicas: Iterable[Replica], where: Locality | None) -> tuple[Replica, ...]:
    reps = tuple(replicas)
    if where is None:
        return reps
    local = tuple(r for r in reps if where.is_local(r.url))
    return local + tuple(r for r in reps if not where.is_local(r.url))


# --- Failover -------------------------------------------------------------------------------


@attrs.frozen
class FailoverState:
    """Which replicas of one input are left to try and which failed (cumulative).

    The master does not remember earlier ``INPUT_ERR``s: the worker sends all ids it has
    failed each time, and a ``RETRY`` lists the replicas not in that list.
    """

    input_id: int
    remaining: tuple[Replica, ...]
    failed_ids: tuple[int, ...] = ()
    locality: Locality | None = None

    @classmethod
    def start(cls, task_input: TaskInput, locality: Locality | None = None) -> FailoverState:
        """The state before the first attempt: every replica, local ones first."""
        return cls(task_input.id, _order(task_input.replicas, locality), (), locality)

    @property
    def exhausted(self) -> bool:
        """True when no replica is left: time to send ``INPUT_ERR``."""
        return not self.remaining

    def next_replica(self) -> Replica | None:
        """The replica to try now, or None when every known one has failed."""
        return self.remaining[0] if self.remaining else None

    def failed(self, rep_id: int) -> FailoverState:
        """The state after replica ``rep_id`` failed."""
        failed = self.failed_ids if rep_id in self.failed_ids else (*self.failed_ids, rep_id)
        remaining = tuple(r for r in self.remaining if r.id != rep_id)
        return attrs.evolve(self, remaining=remaining, failed_ids=failed)

    def input_err(self) -> list[object]:
        """The ``INPUT_ERR`` payload: ``[input_id, [every failed rep_id]]``."""
        return [self.input_id, list(self.failed_ids)]

    def retry(self, new_replicas: Sequence[Replica]) -> FailoverState:
        """The state after a ``RETRY`` reply: its replicas not yet failed, local ones first."""
        fresh = [r for r in new_replicas if r.id not in self.failed_ids]
        return attrs.evolve(self, remaining=_order(fresh, self.locality))
