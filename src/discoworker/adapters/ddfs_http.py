"""DDFS over HTTP: the :class:`~discoworker.app.ports.Ddfs` port against a real Disco master.

Tags live under ``/ddfs/tag/<tag>`` on the master; a blob is made by asking
``/ddfs/new_blob/<name>`` where to put it and ``PUT``-ting the bytes to the URLs it returns
(the nodes' put port). Also the small HTTP client the master adapter shares: one request, its
status and body, and a :class:`~discoworker.errors.CommError` naming the URL when it fails.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from email.message import Message
from typing import Any, BinaryIO

import attrs

from discoworker.domain.inputs import http_url, url_scheme
from discoworker.domain.task import safe_name
from discoworker.errors import CommError

#: Seconds a request may take before the client gives up (a get_results wait adds its own).
DEFAULT_TIMEOUT = 60.0
#: The master's port when a URL gives none: Disco's ``DISCO_PORT`` default.
DISCO_PORT = 8989

# DDFS names (tags and blob prefixes): the master's ddfs_util:is_valid_name, 1 to 511 of these.
_NAME = re.compile(r"[A-Za-z0-9_\-@:]{1,511}\Z")
# How much of an unexpected body an error message shows.
_SHOWN = 200

# Direct connections, as the original client makes them: a cluster's master and nodes are
# addressed by their own names, never through an HTTP proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def master_base(url: str) -> str:
    """``http://host:port`` of a master given as an HTTP URL, ``disco://host``, or ``host[:port]``.

    ValueError for anything else.
    """
    text = url.strip()
    scheme = url_scheme(text)
    text = text.rstrip("/")
    if scheme == "disco":
        text = f"http://{text[len('disco://') :]}"
    elif not scheme:
        text = f"http://{text}"
    elif scheme not in ("http", "https"):
        raise ValueError(f"not a Disco master URL: {url!r}")
    parts = urllib.parse.urlsplit(text)
    if not text.partition("://")[2] or not parts.hostname or parts.path.strip("/") or parts.query:
        raise ValueError(f"not a Disco master URL (want http://host:port): {url!r}")
    if parts.port is None and parts.scheme == "http" and url_scheme(url.strip()) != "http":
        # Only an explicit http:// URL means port 80; a bare host is a master on DISCO_PORT.
        return f"http://{parts.netloc}:{DISCO_PORT}"
    return f"{parts.scheme}://{parts.netloc}"


def base_port(base: str) -> int:
    """The port a ``master_base`` URL names, or its scheme's default."""
    parts = urllib.parse.urlsplit(base)
    return parts.port or (443 if parts.scheme == "https" else 80)


def show(body: bytes) -> str:
    """The start of a reply body, for an error message."""
    text = body[:_SHOWN].decode("utf-8", "replace")
    return repr(text) + (" ..." if len(body) > _SHOWN else "")


@attrs.frozen
class Reply:
    """An HTTP reply: its status, headers and whole body."""

    status: int
    headers: Message
    body: bytes


def request(
    method: str,
    url: str,
    body: bytes | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    what: str = "the Disco master",
) -> Reply:
    """One request; CommError naming ``url`` when unreachable or answered with an error status."""
    req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with _OPENER.open(req, timeout=timeout) as response:
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as exc:
        error_body = b""
        with contextlib.suppress(OSError):
            error_body = exc.read()
        code = exc.code
        text = error_body.decode("utf-8", "replace").strip()[:_SHOWN] if error_body else ""
        raise CommError(
            f"{method} {_path(url)}: HTTP {code} {exc.reason}" + (f": {text}" if text else ""),
            url,
            code,
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        # URLError wraps the socket error (refused, unknown host); a timeout comes bare.
        reason = getattr(exc, "reason", exc)
        raise CommError(f"cannot reach {what}: {reason}", url) from exc
    except http.client.HTTPException as exc:
        # Something answered, but not in HTTP (or it hung up in the middle of a reply).
        raise CommError(f"{what} did not answer in HTTP: {exc!r}", url) from exc


def json_body(body: bytes, endpoint: str, url: str) -> Any:
    """The JSON value of a reply body; CommError naming the endpoint when it is not JSON."""
    try:
        return json.loads(body)
    except ValueError:
        raise CommError(
            f"{endpoint} replied with something that is not JSON: {show(body)}", url
        ) from None


def _path(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _split_auth(tag: str) -> tuple[str, str]:
    # ``[tag://][user[:token]@/]name`` as ``(user[:token]@/, name)``: a Disco client's tag URL.
    name = tag[len("tag://") :] if tag.startswith("tag://") else tag
    auth, sep, rest = name.partition("@/")
    return (auth + sep, rest) if sep and "/" not in auth else ("", name)


def tag_name(tag: str) -> str:
    """The bare name of ``tag``, ``tag://tag`` or ``tag://user:token@/tag``; CommError when
    DDFS would refuse it."""
    name = _split_auth(tag)[1]
    if not _NAME.match(name):
        raise CommError(f"invalid tag name {name!r}: DDFS allows 1 to 511 of A-Za-z0-9_-@:", tag)
    return name


def tag_token(tag: str) -> str | None:
    """The DDFS token a Disco client sends for ``tag``, read from it as from a URL's user info.

    Every job name holds an ``@``, so ``disco:job:oob:Name@...`` reads as user ``disco``
    with token ``job``: the original's client creates and reads its OOB tags with that token,
    and DDFS then refuses them to a client that sends none. (Untokened tags ignore it.)
    """
    name = tag[len("tag://") :] if tag.startswith("tag://") else tag
    where = name.split("/", 1)[0]
    if "@" not in where:
        return None
    auth = where.split("@", 1)[0]
    return auth.split(":")[1] if ":" in auth else auth


def _auth(tag: str) -> dict[str, str] | None:
    token = tag_token(tag)
    if token is None:
        return None
    return {"Authorization": "Basic " + base64.b64encode(f"token:{token}".encode()).decode()}


def _attr_name(attr: str) -> str:
    if not attr or "/" in attr:
        raise CommError(f"invalid tag attribute name {attr!r}: 1 or more characters, no '/'")
    return attr


def _replica_lists(urls: object) -> list[list[str]]:
    # What a tag's urls may hold: lists of URL strings (a bare string is a one-replica blob).
    if not isinstance(urls, list):
        raise ValueError(f"urls must be a list, got {type(urls).__name__}")
    out: list[list[str]] = []
    for reps in urls:
        reps = [reps] if isinstance(reps, str) else reps
        if not isinstance(reps, list) or not all(isinstance(u, str) for u in reps):
            raise ValueError(f"a blob must be a list of URL strings, got {reps!r}")
        out.append(list(reps))
    return out


@attrs.define
class HttpDdfs:
    """The master's DDFS over HTTP (``master_url`` as for :class:`HttpMaster`)."""

    _base: str = attrs.field(converter=master_base, alias="master_url")
    #: Seconds one request may take.
    timeout: float = DEFAULT_TIMEOUT
    #: Replicas of each pushed blob; None lets the master choose (its DDFS_BLOB_REPLICAS).
    replicas: int | None = None
    #: How many times a push asks for new targets after a node refused the upload.
    retries: int = 3

    @property
    def master_url(self) -> str:
        """``http://host:port`` of the master."""
        return self._base

    def _tag_url(self, tag: str, attr: str | None = None) -> str:
        url = f"{self._base}/ddfs/tag/{tag_name(tag)}"
        return url if attr is None else f"{url}/{urllib.parse.quote(_attr_name(attr), safe=':@')}"

    def _call(
        self,
        method: str,
        url: str,
        endpoint: str,
        body: bytes | None = None,
        tag: str | None = None,
    ) -> Any:
        headers = _auth(tag) if tag is not None else None
        try:
            reply = request(
                method, url, body, headers=headers, timeout=self.timeout, what="the DDFS master"
            )
        except CommError as exc:
            if exc.code == 401 and tag is not None:
                given = "a wrong token" if tag_token(tag) is not None else "no token"
                raise CommError(
                    f"tag {tag_name(tag)!r} is guarded by a token and {given} was given "
                    f"(give it as tag://user:TOKEN@/{tag_name(tag)}): {exc.msg}",
                    url, 401,
                ) from None
            raise
        return json_body(reply.body, endpoint, url)

    def get(self, tag: str) -> dict[str, Any]:
        """The tag object: ``id``, ``version``, ``last-modified``, ``urls``, ``user-data``."""
        url = self._tag_url(tag)
        try:
            obj = self._call("GET", url, "GET /ddfs/tag", tag=tag)
        except CommError as exc:
            if exc.code == 404:
                raise CommError(f"unknown tag {tag_name(tag)!r}", url, 404) from None
            raise
        try:
            if not isinstance(obj, dict):
                raise ValueError(f"a tag must be an object, got {type(obj).__name__}")
            obj["urls"] = _replica_lists(obj.get("urls"))
        except ValueError as exc:
            raise CommError(f"GET /ddfs/tag replied with a malformed tag: {exc}", url) from None
        return obj

    def tags(self, prefix: str = "") -> list[str]:
        """The names of every tag beginning with ``prefix``."""
        url = f"{self._base}/ddfs/tags/{urllib.parse.quote(prefix, safe=':@')}"
        names = self._call("GET", url, "GET /ddfs/tags")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise CommError(f"GET /ddfs/tags replied {show(json.dumps(names).encode())}", url)
        return names

    def blobs(self, tag: str) -> list[list[str]]:
        """The replica lists of every blob of ``tag``, following ``tag://`` links once each.

        A missing ``tag`` is a CommError; a missing tag it links to is skipped, as in DDFS,
        where deleting a tag leaves the links to it in place.
        """
        seen: set[str] = set()
        out: list[list[str]] = []
        auth, first = _split_auth(tag)
        tag_name(tag)
        # A link without a token of its own is read with its parent's, as Disco's client does.
        pending = [(auth, first)]
        while pending:
            where, name = pending.pop(0)
            if name in seen:
                continue
            seen.add(name)
            try:
                urls = self.get(where + name)["urls"]
            except CommError as exc:
                if exc.code == 404 and name != first:
                    continue
                raise
            for reps in urls:
                if reps and reps[0].startswith("tag://"):
                    own, linked = _split_auth(reps[0])
                    tag_name(linked)
                    pending.append((own or where, linked))
                else:
                    out.append(reps)
        return out

    def tag(self, tag: str, urls: Sequence[Sequence[str]], update: bool = False) -> None:
        """Append blobs (their replica URLs) to ``tag``, creating it; with ``update``, DDFS
        leaves out a blob whose name the tag already has."""
        url = self._tag_url(tag) + ("?update=1" if update else "")
        body = [[str(u) for u in reps] for reps in urls]
        if not all(body):
            # The master answers an empty replica list with a bare 403; say what is wrong here.
            raise CommError(f"every blob appended to {tag_name(tag)!r} needs a replica URL", url)
        data = json.dumps(body).encode("utf-8")
        reply = self._call("POST", url, "POST /ddfs/tag", data, tag=tag)
        if not isinstance(reply, list):
            raise CommError(f"POST /ddfs/tag replied {show(json.dumps(reply).encode())}", url)

    def push(self, tag: str, name: str, data: BinaryIO, update: bool = False) -> list[str]:
        """Upload ``data`` as a blob named after ``name`` and add it to ``tag`` (with
        ``update``, only when the tag has no blob of that name); its replicas."""
        tag_name(tag)
        replicas = self.store(name, data)
        self.tag(tag, [replicas], update=update)
        return replicas

    def store(self, name: str, data: BinaryIO) -> list[str]:
        """Upload ``data`` as a blob named after ``name``, in no tag yet; its replicas."""
        blob = safe_name(os.path.basename(name)) or "blob"
        payload = data.read()
        excluded: list[str] = []
        for attempt in range(self.retries + 1):
            targets = self._new_blob(blob, excluded)
            try:
                replicas = [self._put(target, payload) for target in targets]
            except CommError as exc:
                host = urllib.parse.urlsplit(exc.url).hostname
                # A node that refused an upload is left out of the next placement.
                if attempt == self.retries or exc.url not in targets or not host:
                    raise
                excluded.append(host)
                continue
            return replicas
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _new_blob(self, blob: str, excluded: list[str]) -> list[str]:
        query = [(k, v) for k, v in (("replicas", self.replicas), ("exclude", ",".join(excluded)))
                 if v]
        url = f"{self._base}/ddfs/new_blob/{blob}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        targets = self._call("GET", url, "GET /ddfs/new_blob")
        if (
            not isinstance(targets, list)
            or not targets
            or not all(isinstance(t, str) and url_scheme(t) in ("http", "https") for t in targets)
        ):
            raise CommError(
                f"GET /ddfs/new_blob replied {show(json.dumps(targets).encode())}, "
                "not a list of upload URLs",
                url,
            )
        return targets

    def _put(self, target: str, payload: bytes) -> str:
        reply = request(
            "PUT", target, payload, timeout=self.timeout, what="the DDFS node",
            headers={"Content-Type": "application/octet-stream"},
        )
        stored = json_body(reply.body, "PUT (blob upload)", target)
        if not isinstance(stored, str) or not url_scheme(stored):
            raise CommError(f"PUT (blob upload) replied {show(reply.body)}, not a URL", target)
        return stored

    def getattr(self, tag: str, attr: str) -> Any:
        """Attribute ``attr`` of ``tag``: a user attribute, ``ddfs:urls``, ``ddfs:read-token``
        or ``ddfs:write-token`` (``GET /ddfs/tag/<tag>/<attr>``); 404 when it has none."""
        return self._call("GET", self._tag_url(tag, attr), "GET /ddfs/tag/<tag>/<attr>", tag=tag)

    def setattr(self, tag: str, attr: str, value: Any) -> None:
        """Set attribute ``attr`` of ``tag``, creating the tag (``PUT`` of the JSON value).

        DDFS keeps strings (and ``ddfs:urls`` as replica lists); setting ``ddfs:read-token`` or
        ``ddfs:write-token`` guards the tag, after which the token goes in the tag:
        ``user:TOKEN@/tag``.
        """
        data = json.dumps(value).encode("utf-8")
        self._call("PUT", self._tag_url(tag, attr), "PUT /ddfs/tag/<tag>/<attr>", data, tag=tag)

    def delattr(self, tag: str, attr: str) -> None:
        """Remove attribute ``attr`` of ``tag`` (no error when it has none; 404 with no tag)."""
        self._call("DELETE", self._tag_url(tag, attr), "DELETE /ddfs/tag/<tag>/<attr>", tag=tag)

    def attrs(self, tag: str) -> dict[str, Any]:
        """The user attributes of ``tag`` (its ``user-data``)."""
        user = self.get(tag).get("user-data")
        if not isinstance(user, dict):
            raise CommError(f"GET /ddfs/tag replied a tag whose user-data is {user!r}",
                            self._tag_url(tag))
        return user

    def delete(self, tag: str) -> None:
        """Remove ``tag`` (DDFS replies the same whether or not it existed)."""
        self._call("DELETE", self._tag_url(tag), "DELETE /ddfs/tag", tag=tag)

    def read(self, url: str) -> bytes:
        """The bytes of a blob, given one of its ``disco://`` (or ``http://``) replica URLs."""
        where = http_url(url, base_port(self._base)) if url_scheme(url) == "disco" else url
        return request("GET", where, timeout=self.timeout, what="the DDFS node").body
