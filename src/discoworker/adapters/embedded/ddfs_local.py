"""A local DDFS: tags and blobs as files under the embedded master's data directory.

Tags are JSON objects shaped like the real ``GET /ddfs/tag/<tag>`` reply, kept in
``<ddfs_data>/tags/<tag>``; blobs live in ``<ddfs_data>/vol0/blob/<2 hex>/<name>$<stamp>``
and are named by ``disco://<host>/ddfs/vol0/blob/...`` URLs, which a worker on this host maps
back under ``ddfs_data`` (a path beginning ``ddfs/``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import attrs

from discoworker.adapters.embedded.store import abspath, atomic_write, event_time
from discoworker.domain.task import hexhash, safe_name
from discoworker.errors import CommError

# DDFS tag names: what the original's DDFS.safe_name keeps.
_TAG = re.compile(r"[A-Za-z0-9_\-@:]+\Z")


def _stamp() -> str:
    # Erlang now() in hex, as the real DDFS suffixes ids: <Mega>-<Secs>-<Micro>.
    micros = time.time_ns() // 1000
    secs, micro = divmod(micros, 1_000_000)
    mega, sec = divmod(secs, 1_000_000)
    return f"{mega:x}-{sec:x}-{micro:x}"


def _check_tag(tag: str) -> str:
    if tag.startswith("tag://"):
        tag = tag[len("tag://") :]
    if not _TAG.match(tag):
        raise CommError(f"invalid tag name {tag!r}", code=400)
    return tag


@attrs.define
class LocalDdfs:
    """The :class:`~discoworker.app.ports.Ddfs` port over files; safe across processes."""

    root: Path = attrs.field(converter=abspath)
    host: str = "localhost"

    def _tag_path(self, tag: str) -> Path:
        return self.root / "tags" / _check_tag(tag)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # One lock file for every tag update: updates are rare and tiny.
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _read(self, tag: str) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = json.loads(self._tag_path(tag).read_bytes())
        except FileNotFoundError:
            return None
        return obj

    def get(self, tag: str) -> dict[str, Any]:
        """The tag object: ``id``, ``version``, ``last-modified``, ``urls``, ``user-data``."""
        obj = self._read(tag)
        if obj is None:
            raise CommError(f"unknown tag {tag!r}", url=f"tag://{_check_tag(tag)}", code=404)
        return obj

    def tags(self) -> list[str]:
        """Every tag name, sorted."""
        base = self.root / "tags"
        return sorted(p.name for p in base.iterdir()) if base.is_dir() else []

    def tag(self, tag: str, urls: Sequence[Sequence[str]]) -> None:
        """Append blobs (their replica URLs) to ``tag``, creating it."""
        name = _check_tag(tag)
        with self._locked():
            obj = self._read(name) or {"version": 1, "id": "", "urls": [], "user-data": {}}
            obj["id"] = f"{name}${_stamp()}"
            obj["last-modified"] = event_time()
            obj["urls"] = [*obj["urls"], *([str(u) for u in reps] for reps in urls)]
            atomic_write(self._tag_path(name), json.dumps(obj).encode("utf-8"))

    def push(self, tag: str, name: str, data: BinaryIO) -> list[str]:
        """Store ``data`` as a new blob named after ``name`` and append it to ``tag``."""
        _check_tag(tag)
        blob = f"{safe_name(os.path.basename(name)) or 'blob'}${_stamp()}"
        rel = f"vol0/blob/{hexhash(blob)}/{blob}"
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with open(partial, "wb") as f:
            shutil.copyfileobj(data, f, 1 << 20)
        os.replace(partial, path)
        urls = [f"disco://{self.host}/ddfs/{rel}"]
        self.tag(tag, [urls])
        return urls

    def blobs(self, tag: str) -> list[list[str]]:
        """The replica lists of every blob of ``tag``, following ``tag://`` links once each."""
        seen: set[str] = set()
        out: list[list[str]] = []

        def walk(name: str) -> None:
            name = _check_tag(name)
            if name in seen:
                return
            seen.add(name)
            for reps in self.get(name)["urls"]:
                if len(reps) == 1 and reps[0].startswith("tag://"):
                    walk(reps[0])
                else:
                    out.append(list(reps))

        walk(tag)
        return out

    def delete(self, tag: str) -> None:
        """Remove ``tag`` (its blobs stay, as DDFS leaves them to garbage collection)."""
        with self._locked(), contextlib.suppress(FileNotFoundError):
            self._tag_path(tag).unlink()

    def blob_path(self, url: str) -> Path | None:
        """The local file of a blob URL of this DDFS; None when it is not one."""
        prefix = f"disco://{self.host}/ddfs/"
        if not url.startswith(prefix):
            return None
        rel = url[len(prefix) :]
        if ".." in rel.split("/") or rel.startswith("/"):
            return None
        return self.root / rel
