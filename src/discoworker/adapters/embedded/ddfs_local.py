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
    return _split_tag(tag)[0]


def _split_tag(tag: str) -> tuple[str, str | None]:
    """``(name, token)`` of ``[tag://][user[:token]@/]name``, as Disco's client reads a token."""
    if tag.startswith("tag://"):
        tag = tag[len("tag://") :]
    token = None
    if "@/" in tag:
        auth, _, tag = tag.partition("@/")
        if auth:
            token = auth.split(":", 1)[1] if ":" in auth else auth
    if not _TAG.match(tag):
        raise CommError(f"invalid tag name {tag!r}", code=400)
    return tag, token


def _privilege(obj: dict[str, Any], token: str | None, write: bool) -> str | None:
    """``"read"``, ``"write"`` or None (refused): DDFS's ddfs_tag_util:check_token.

    A token that is unset lets anyone in; a write token also grants reading, except when only
    the read token is set; a read that passes grants writing only when the write token is
    unset or the same as the read token.
    """
    read_token, write_token = obj.get("read-token"), obj.get("write-token")
    may_write = write_token is None or token == write_token
    if write:
        return "write" if may_write else None
    if read_token is None or token == read_token:
        return "write" if write_token is None or write_token == read_token else "read"
    return "write" if write_token is not None and may_write else None


def _allowed(obj: dict[str, Any], token: str | None, write: bool) -> bool:
    return _privilege(obj, token, write) is not None


#: Tag attributes DDFS keeps outside ``user-data``: the attribute name, its key in the tag.
_TOKENS = {"ddfs:read-token": "read-token", "ddfs:write-token": "write-token"}
#: DDFS's limits on user attributes (config.hrl): name bytes, value bytes (as JSON), how many.
MAX_ATTR_NAME = 1024
MAX_ATTR_VALUE = 4096
MAX_ATTRS = 1000


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

    def _existing(self, tag: str, write: bool = False) -> dict[str, Any]:
        """The stored tag object, tokens included; CommError 404 when missing, 401 when the
        tag's token is not the one given (``user:token@/name``)."""
        name, token = _split_tag(tag)
        obj = self._read(name)
        if obj is None:
            raise CommError(f"unknown tag {name!r}", url=f"tag://{name}", code=404)
        if not _allowed(obj, token, write):
            raise CommError(f"unauthorized: tag {name!r} has a {'write' if write else 'read'} "
                            "token and it was not given", url=f"tag://{name}", code=401)
        return obj

    def exists(self, tag: str) -> bool:
        """Whether ``tag`` exists (whoever may read it)."""
        return self._read(_check_tag(tag)) is not None

    def get(self, tag: str) -> dict[str, Any]:
        """The tag object: ``id``, ``version``, ``last-modified``, ``urls``, ``user-data``
        (its tokens are never shown, as DDFS's)."""
        obj = self._existing(tag)
        return {k: v for k, v in obj.items() if k not in ("read-token", "write-token")}

    def getattr(self, tag: str, attr: str) -> Any:
        """Attribute ``attr`` of ``tag``: ``ddfs:urls``, a token (``ddfs:read-token``...) or
        a user one. Reading the write token takes write rights, as in DDFS."""
        _check_attr(tag, attr)
        name, token = _split_tag(tag)
        obj = self._existing(tag)
        if attr == "ddfs:write-token" and _privilege(obj, token, write=False) != "write":
            raise CommError(f"unauthorized: reading the write token of tag {name!r} takes it",
                            url=f"tag://{name}", code=401)
        if attr == "ddfs:urls":
            return obj["urls"]
        if attr in _TOKENS:
            return obj.get(_TOKENS[attr])
        if attr not in obj.get("user-data", {}):
            raise CommError(f"tag {name!r} has no attribute {attr!r}", code=404)
        return obj["user-data"][attr]

    def setattr(self, tag: str, attr: str, value: Any) -> None:
        """Set attribute ``attr`` of ``tag`` (creating it): ``ddfs:read-token`` and
        ``ddfs:write-token`` guard the tag as in DDFS, ``ddfs:urls`` replaces its blobs; any
        other name is user data (a string, within DDFS's limits)."""
        _check_attr(tag, attr)
        if attr == "ddfs:urls":
            if not isinstance(value, list) or not all(
                isinstance(reps, list) and all(isinstance(u, str) for u in reps)
                for reps in value
            ):
                raise CommError(f"ddfs:urls: a list of replica URL lists, got {value!r}"[:200],
                                code=400)
        elif not isinstance(value, str):
            raise CommError(f"attribute {attr!r}: a value is a string, got {value!r}", code=400)
        elif attr not in _TOKENS and len(json.dumps(value).encode("utf-8")) > MAX_ATTR_VALUE:
            raise CommError(f"attribute {attr!r}: a value takes at most {MAX_ATTR_VALUE} bytes",
                            code=403)
        self._update(tag, lambda obj: _set_attr(obj, attr, value))

    def delattr(self, tag: str, attr: str) -> None:
        """Remove attribute ``attr`` of ``tag`` (a token removed lets anyone in); an attribute
        the tag does not have is no error, a tag that does not exist is (404)."""
        _check_attr(tag, attr)
        self._update(tag, lambda obj: _del_attr(obj, attr), create=False)

    def _update(self, tag: str, change: Any, create: bool = True) -> None:
        """Apply ``change`` to ``tag`` under the lock and save it, unless ``change`` returns
        False for a tag that exists (as DDFS: a change of nothing keeps the tag's id)."""
        name, token = _split_tag(tag)
        with self._locked():
            created = self._read(name) is None and create
            if created:
                # As DDFS: a tag made with a token is guarded by it for reading and writing.
                obj = {"version": 1, "id": "", "urls": [], "user-data": {},
                       "read-token": token, "write-token": token}
            else:
                obj = self._existing(tag, write=True)
            if change(obj) is False and not created:
                return
            obj["id"] = f"{name}${_stamp()}"
            obj["last-modified"] = event_time()
            atomic_write(self._tag_path(name), json.dumps(obj).encode("utf-8"))

    def tags(self) -> list[str]:
        """Every tag name, sorted."""
        base = self.root / "tags"
        return sorted(p.name for p in base.iterdir()) if base.is_dir() else []

    def tag(self, tag: str, urls: Sequence[Sequence[str]], update: bool = False) -> None:
        """Add blobs (their replica URLs) to ``tag``, creating it, in front of those it has, as
        DDFS does (so its blobs read newest first); with ``update``, a blob whose name
        (``<name>$stamp``, or a linked tag) the tag already has is left out."""
        new = [[str(u) for u in reps] for reps in urls]

        def add(obj: dict[str, Any]) -> bool:
            # DDFS's merge_urls: a plain update is New ++ Old; a "nodup" update puts each
            # unseen blob in front in turn, so the new ones end up reversed.
            added = _unseen(new, obj["urls"])[::-1] if update else new
            obj["urls"] = [*added, *obj["urls"]]
            return bool(added)

        self._update(tag, add)

    def push(self, tag: str, name: str, data: BinaryIO, update: bool = False) -> list[str]:
        """Store ``data`` as a new blob named after ``name`` and add it to ``tag`` (with
        ``update``, only when the tag has no blob of that name)."""
        _check_tag(tag)
        urls = self.store(name, data)
        self.tag(tag, [urls], update=update)
        return urls

    def store(self, name: str, data: BinaryIO) -> list[str]:
        """Store ``data`` as a new blob named after ``name``, in no tag yet; its replicas."""
        blob = f"{safe_name(os.path.basename(name)) or 'blob'}${_stamp()}"
        rel = f"vol0/blob/{hexhash(blob)}/{blob}"
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with open(partial, "wb") as f:
            shutil.copyfileobj(data, f, 1 << 20)
        os.replace(partial, path)
        return [f"disco://{self.host}/ddfs/{rel}"]

    def blobs(self, tag: str) -> list[list[str]]:
        """The replica lists of every blob of ``tag``, following ``tag://`` links once each."""
        seen: set[str] = set()
        out: list[list[str]] = []

        token = _split_tag(tag)[1]

        def walk(name: str) -> None:
            name = _check_tag(name)
            if name in seen:
                return
            seen.add(name)
            # The token given for the tag is offered to each tag it links to.
            for reps in self.get(f"user:{token}@/{name}" if token else name)["urls"]:
                if len(reps) == 1 and reps[0].startswith("tag://"):
                    walk(reps[0])
                else:
                    out.append(list(reps))

        walk(tag)
        return out

    def delete(self, tag: str) -> None:
        """Remove ``tag`` (its blobs stay, as DDFS leaves them to garbage collection)."""
        with self._locked(), contextlib.suppress(FileNotFoundError):
            if self._read(_check_tag(tag)) is not None:
                self._existing(tag, write=True)
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


# A blob's name in its URL, as ddfs_util:url_to_name finds it: after a 2-character directory,
# up to the last "$".
_URL_NAME = re.compile(r"/../(.*)[$]")


def _url_name(url: str) -> str | None:
    if url.startswith("tag://"):
        return url[len("tag://") :]
    match = _URL_NAME.search(url)
    return match.group(1) if match else None


def _unseen(new: list[list[str]], old: list[list[str]]) -> list[list[str]]:
    """The blobs of ``new`` whose names neither ``old`` nor an earlier one of ``new`` has
    (DDFS's update, "nodup"); a URL without a name is always new."""
    seen = {_url_name(reps[0]) for reps in old if reps} - {None}
    out = []
    for reps in new:
        name = _url_name(reps[0]) if reps else None
        if name is None or name not in seen:
            out.append(reps)
            if name is not None:
                seen.add(name)
    return out


def _check_attr(tag: str, attr: str) -> None:
    # DDFS's parse_tag_attribute: the ddfs: names it knows, or a user name of bounded size.
    if attr.startswith("ddfs:") and attr != "ddfs:urls" and attr not in _TOKENS:
        raise CommError(f"tag {_check_tag(tag)!r}: {attr!r} is no attribute (ddfs: names are "
                        "DDFS's own)", code=404)
    if not attr or "/" in attr or len(attr.encode("utf-8")) > MAX_ATTR_NAME:
        raise CommError(f"invalid attribute name {attr[:80]!r}: 1 to {MAX_ATTR_NAME} bytes, "
                        "no '/'", code=403)


def _set_attr(obj: dict[str, Any], attr: str, value: Any) -> None:
    user = obj.setdefault("user-data", {})
    if attr == "ddfs:urls":
        obj["urls"] = value
    elif attr in _TOKENS:
        obj[_TOKENS[attr]] = value
    elif len(user) >= MAX_ATTRS:
        # As DDFS: at the limit, even a new value of an attribute it has is refused.
        raise CommError(f"too many attributes: a tag keeps at most {MAX_ATTRS}", code=403)
    else:
        user[attr] = value


def _del_attr(obj: dict[str, Any], attr: str) -> None:
    if attr == "ddfs:urls":
        obj["urls"] = []
    elif attr in _TOKENS:
        obj[_TOKENS[attr]] = None
    else:
        obj.get("user-data", {}).pop(attr, None)
