"""DDFS as a client sees it (``disco.ddfs.DDFS``), over discoworker's DDFS of a master."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from disco._masters import master_url, shared_master
from disco.settings import DiscoSettings
from discoworker.app.chunking import CHUNK_SIZE, MAX_RECORD_SIZE, chunk
from discoworker.app.oob import blob_key
from discoworker.errors import CommError, DiscoError

__all__ = ["DDFS"]


class DDFS:
    """The DDFS of the master at ``master`` (default ``DISCO_MASTER``, else the embedded one)."""

    def __init__(self, master: str | None = None, proxy: Any = None, settings: Any = None,
                 **kwargs: Any) -> None:
        self.settings = settings if settings is not None else DiscoSettings()
        self.master = master_url(master, self.settings)

    @property
    def port(self) -> Any:
        """discoworker's DDFS port of that master."""
        return shared_master(self.master).ddfs

    def push(self, tag: str, files: Iterable[Any], replicas: Any = None,
             token: str | None = None, update: bool = False, **kwargs: Any
             ) -> tuple[dict[str, Any], list[list[str]]]:
        """Store each file (a path, or a ``(file object, name)`` pair) as a blob of ``tag``
        (a tag it creates is guarded by ``token``, as in DDFS)."""
        blobs = []
        tag = self._ref(tag, token, write=True)
        for item in files:
            if isinstance(item, tuple | list):
                source, name = item
                blobs.append(self.port.store(str(name), source))
            else:
                with open(item, "rb") as f:
                    blobs.append(self.port.store(os.path.basename(str(item)), f))
        # One tag update for all, as DDFS's client does: the files keep their order in the
        # tag, and a push of nothing still makes the tag.
        self.port.tag(tag, blobs, update=update)
        return self.get(tag), blobs

    #: The name a blob was pushed under: its URL's last part up to the ``$`` stamp.
    blob_name = staticmethod(blob_key)

    def chunk(  # noqa: PLR0917 - the original's signature
        self, tag: str, urls: Iterable[Any], replicas: Any = None, forceon: Any = (),
        retries: int = 10, delayed: bool = False, update: bool = False,
        token: str | None = None, chunk_size: int = CHUNK_SIZE,
        max_record_size: int = MAX_RECORD_SIZE, **kwargs: Any,
    ) -> tuple[dict[str, Any], list[list[str]]]:
        """Read the records of each of ``urls`` (its lines, unless ``reader=`` says otherwise;
        other keywords go to ``result_iterator``), store them as blobs of Disco's record format
        of about ``chunk_size`` bytes, and add those to ``tag``; the tag and the blobs."""
        from disco.core import result_iterator

        kwargs.setdefault("reader", None)
        kwargs.setdefault("ddfs", self.master)

        def records_of(replicas: Any) -> Iterator[Any]:
            return result_iterator([replicas], **kwargs)

        inputs = [[u] if isinstance(u, str) else list(u) for u in urls]
        ref = self._ref(tag, token, write=True)
        blobs = chunk(self.port, ref, inputs, records_of, chunk_size=chunk_size,
                      max_record_size=max_record_size, update=update)
        return self.get(ref), blobs

    def put(self, tag: str, urls: list[list[str]], token: str | None = None) -> None:
        """Replace the blobs of ``tag`` (creating it) by ``urls``, lists of replica URLs."""
        self._attributes("setattr", "ddfs:urls")(self._ref(tag, token, write=True),
                                                 "ddfs:urls", urls)

    def tag(self, tag: str, urls: list[list[str]], token: str | None = None,
            update: bool = False, **kwargs: Any) -> None:
        """Append blobs, given by their replica URLs, to ``tag`` (creating it); with
        ``update``, blobs whose names the tag already has are left out."""
        self.port.tag(self._ref(tag, token, write=True), urls, update=update)

    def get(self, tag: str | Iterable[str], token: str | None = None) -> dict[str, Any]:
        """The tag object (``urls`` and its attributes)."""
        return dict(self.port.get(self._ref(tag, token)))

    def blobs(self, tag: str, ignore_missing: bool = True, token: str | None = None
              ) -> list[list[str]]:
        """The replica lists of every blob of ``tag`` and the tags it links to; a missing
        ``tag`` has none unless ``ignore_missing`` is false (then CommError 404)."""
        try:
            return list(self.port.blobs(self._ref(tag, token)))
        except CommError as exc:
            if ignore_missing and exc.code == 404:
                return []
            raise

    def walk(self, tag: str, ignore_missing: bool = True, tagpath: tuple[str, ...] = (),
             token: str | None = None) -> Iterator[tuple[tuple[str, ...], Any, Any]]:
        """``(tagpath, tags, blobs)`` of ``tag`` and, depth first, of each tag it links to.

        A missing tag gives ``((...), (), ())`` unless ``ignore_missing`` is false; a tag
        already on the path is not walked again (a cycle ends there).
        """
        tagpath = (*tagpath, _canon(tag))
        try:
            tags, blobs = _partition(self.get(tag, token=token).get("urls", []))
        except CommError as exc:
            if not (ignore_missing and exc.code == 404):
                yield tagpath, None, None
                raise
            tags, blobs = [], []
        yield tagpath, tags, blobs
        walked = {_bare(t) for t in tagpath}
        for linked in tags:
            if _bare(linked) not in walked:
                yield from self.walk(_relative(linked, tag), ignore_missing, tagpath, token)

    def findtags(self, tags: Any = (), ignore_missing: bool = True, token: str | None = None
                 ) -> Iterator[tuple[str, list[str], list[list[str]]]]:
        """``(tag, tags, blobs)`` of each tag reached from ``tags``, each once."""
        queue = [_canon(t) for t in ([tags] if isinstance(tags, str) else tags)]
        seen: set[str] = set()
        for tag in queue:
            if tag in seen:
                continue
            try:
                linked, blobs = _partition(self.get(tag, token=token).get("urls", []))
            except CommError as exc:
                if ignore_missing and exc.code == 404:
                    continue
                raise
            seen.add(tag)
            yield tag, linked, blobs
            queue.extend(_canon(_relative(t, tag)) for t in linked)

    def urls(self, tag: str, token: str | None = None) -> list[list[str]]:
        """The tag's own ``urls`` (blobs and tags it points at)."""
        return list(self.get(tag, token=token)["urls"])

    def exists(self, tag: str) -> bool:
        """Whether ``tag`` exists."""
        try:
            self.get(tag)
        except CommError as exc:
            # A tag guarded by a token we lack exists all the same, as the original says.
            if exc.code == 401:
                return True
            if exc.code in (403, 404):
                return False
            raise
        return True

    def list(self, prefix: str = "") -> list[str]:
        """Names of the tags beginning with ``prefix``."""
        names = self.port.tags(prefix) if _takes_prefix(self.port) else self.port.tags()
        return [n for n in names if n.startswith(prefix)]

    def delete(self, tag: str, token: str | None = None) -> None:
        """Remove ``tag``."""
        self.port.delete(self._ref(tag, token, write=True))

    def setattr(self, tag: str, attr: str, val: Any, token: str | None = None) -> None:
        """Set attribute ``attr`` of ``tag`` (where the master's DDFS keeps attributes)."""
        self._attributes("setattr", attr)(self._ref(tag, token, write=True), attr, val)

    def getattr(self, tag: str, attr: str, token: str | None = None) -> Any:
        """Attribute ``attr`` of ``tag``."""
        return self._attributes("getattr", attr)(self._ref(tag, token), attr)

    def delattr(self, tag: str, attr: str, token: str | None = None) -> None:
        """Remove attribute ``attr`` of ``tag``."""
        self._attributes("delattr", attr)(self._ref(tag, token, write=True), attr)

    def attrs(self, tag: str, token: str | None = None) -> dict[str, Any]:
        """The user attributes of ``tag``."""
        return dict(self.get(tag, token=token).get("user-data") or {})

    def _ref(self, tag: str | Iterable[str], token: str | None, write: bool = False) -> str:
        """``tag`` with the token to send, as the original client picks it: the ``token``
        argument, else one in the tag (``user:TOKEN@/tag``), else ``DDFS_READ_TOKEN`` (or
        ``DDFS_WRITE_TOKEN`` for a change) of the settings."""
        name = _name(tag)
        if token is None and "@/" not in name:
            setting = self.settings["DDFS_WRITE_TOKEN" if write else "DDFS_READ_TOKEN"]
            token = setting if isinstance(setting, str) else None
        if token is None:
            return name
        return f"token:{token}@/{name.rpartition('@/')[2]}"

    def _attributes(self, method: str, attr: str) -> Any:
        call = getattr(self.port, method, None)
        if call is None:
            raise CommError(f"this master's DDFS keeps no tag attributes ({attr})", method)
        return call

    def pull(self, tag: str, blobfilter: Callable[[str], bool] = lambda name: True,
             token: str | None = None) -> Iterator[Blob]:
        """Each blob of ``tag``'s own urls whose name ``blobfilter`` keeps, read whole from
        the first replica that opens (the last replica's error when none does); a missing
        tag is CommError 404."""
        from discoworker.app.bootstrap import client_opener

        opener = client_opener(shared_master(self.master))
        for replicas in self.urls(tag, token=token):
            if not replicas or not blobfilter(self.blob_name(replicas[0])):
                continue
            failed: Exception | None = None
            for url in replicas:
                try:
                    stream, _ = opener(url)
                    with stream:
                        data = stream.read()
                except (DiscoError, OSError) as exc:
                    failed = exc
                    continue
                yield Blob(data, url)
                break
            else:
                if failed is not None:
                    raise failed


class Blob(io.BytesIO):
    """A blob read by :meth:`DDFS.pull`: a file object with its ``url`` and ``len()``."""

    def __init__(self, data: bytes, url: str) -> None:
        super().__init__(data)
        self.url = url
        self._size = len(data)

    def __len__(self) -> int:
        return self._size


def _name(tag: Any) -> str:
    # A tag as the original's canonizetag takes it: a name, tag:// URL, or a list (its first).
    if not isinstance(tag, str):
        tag = next(iter(tag))
    return str(tag)[len("tag://"):] if str(tag).startswith("tag://") else str(tag)


def _bare(tag: str) -> str:
    return _name(tag).rpartition("@/")[2]


def _canon(tag: Any) -> str:
    return f"tag://{_name(tag)}"


def _partition(urls: list[Any]) -> tuple[list[str], list[list[str]]]:
    # A tag's urls as (linked tags as tag:// URLs, blobs' replica lists).
    tags = [reps[0] for reps in urls if reps and str(reps[0]).startswith("tag://")]
    return tags, [reps for reps in urls if not (reps and str(reps[0]).startswith("tag://"))]


def _relative(linked: str, parent: str) -> str:
    # A link with no user info of its own is read with its parent's (relativizetag).
    name = _name(linked)
    auth = _name(parent).rpartition("@/")[0]
    return name if "@/" in name or not auth else f"{auth}@/{name}"


def _takes_prefix(port: Any) -> bool:
    import inspect

    return len(inspect.signature(port.tags).parameters) > 0
