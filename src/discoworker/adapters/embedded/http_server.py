"""The embedded master over HTTP on loopback: the real master's job API, DDFS and data files.

One port serves what a Disco master and its node serve on three: the job API under
``/disco/job/`` and ``/disco/ctrl/`` (master-http.md), DDFS under ``/ddfs/`` (tags, new blob
URLs, blob uploads) and the data directory's files under ``/disco/<host>/...`` and
``/ddfs/vol0/...``, so ``dir://`` and ``disco://`` result URLs resolve over HTTP. Replies are
shaped as the real master's (golden/real-master/http), so :class:`HttpMaster` and any other
Disco client work against it unchanged.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import os
import re
import resource
import shutil
import socket
import threading
import time
import urllib.parse
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO, cast

import attrs
import structlog

from discoworker.adapters.embedded.ddfs_local import MAX_ATTR_VALUE
from discoworker.adapters.embedded.master import EmbeddedMaster
from discoworker.adapters.embedded.web_pages import WebPages
from discoworker.domain.jobdict import erlang_reason
from discoworker.domain.task import hexhash
from discoworker.errors import CommError, DiscoError, JobPackError

log = structlog.get_logger(__name__)

#: What ``/disco/version`` says: the master version this one is wire-compatible with.
VERSION = "0.5.4"
#: The real master's MAX_JOB_PACKET: a bigger job pack is refused with 413.
MAX_JOB_PACKET = 1 << 30
#: The most a JSON control or tag body may hold.
MAX_JSON_BODY = 64 << 20
#: The longest ``get_results`` wait, in ms: Erlang's ``receive ... after`` limit.
MAX_TIMEOUT_MS = (1 << 32) - 1
#: Seconds a connection may stay silent (before its request, or within one) before it is closed.
IDLE_TIMEOUT = 30.0
#: Connections waiting to be accepted: the kernel's queue (capped by ``somaxconn``).
BACKLOG = 4096
#: The most connections served at once, when the descriptor limit allows as many.
MAX_CONNECTIONS = 4096
# Descriptors kept for what is not a connection: workers' pipes, files served, the data dir.
_FD_RESERVE = 128

# mochiweb's reason phrases, which the recordings show.
_REASONS = {
    200: "OK", 201: "Created", 206: "Partial Content", 400: "Bad Request", 403: "Forbidden",
    404: "Object Not Found", 411: "Length Required", 413: "Request Entity Too Large",
    408: "Request Timeout", 500: "Internal Server Error", 501: "Not Implemented",
    503: "Service Unavailable",
}
# The master's reasons for a job pack it could not read (jobpack.erl); HttpMaster tells a
# pack fault from a jobdict fault by them.
_PACK_FAULTS = ("invalid header", "invalid payload", "unsupported version")
# DDFS names (ddfs_util:is_valid_name) and a blob's ``<name>$<stamp>`` as new_blob hands out.
_NAME = re.compile(r"[A-Za-z0-9_\-@:]{1,511}\Z")
_BLOB = re.compile(r"[A-Za-z0-9_\-@:]{1,511}\$[0-9a-f]+-[0-9a-f]+-[0-9a-f]+\Z")
_TAG_KEYS = ("version", "id", "last-modified", "urls", "user-data")
_RANGE = re.compile(r"bytes=(\d+)-(\d*)\Z")
# How often a get_results wait over several jobs looks again at the ones still active.
_POLL = 0.05


def _json(value: object) -> bytes:
    # Compact, as mochijson2 writes it.
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _loads(data: bytes) -> object:
    """The JSON of a request body; ValueError, with the reason, for anything unreadable."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _stamp() -> str:
    # Erlang now() in hex, <Mega>-<Secs>-<Micro>, as DDFS suffixes blob names.
    secs, micro = divmod(time.time_ns() // 1000, 1_000_000)
    mega, sec = divmod(secs, 1_000_000)
    return f"{mega:x}-{sec:x}-{micro:x}"


def safe_file(root: Path, rel: str) -> Path | None:
    """``root/rel`` when ``rel`` is a plain relative path staying inside ``root``, else None.

    Refuses ``..``, absolute paths, NULs, top-level dot entries (the master's own state) and
    symlinks leading out of ``root``.
    """
    parts = rel.split("/")
    if not rel or "\0" in rel or "\\" in rel or rel.startswith("/") or parts[0].startswith("."):
        return None
    if any(p in ("", ".", "..") for p in parts):
        return None
    path = root.joinpath(*parts)
    real_root = os.path.realpath(root)
    if os.path.commonpath([real_root, os.path.realpath(path)]) != real_root:
        return None
    return path


def pack_reason(exc: Exception) -> str:
    """The reason after ``Job failed to start: `` for a refused job pack, Erlang-printed."""
    reason = str(exc)
    if isinstance(exc, JobPackError) and not any(f in reason for f in _PACK_FAULTS):
        # The real master names every unreadable pack by one of its faults.
        fault = "invalid payload" if reason.startswith("jobhome") else "invalid header"
        reason = f"{fault}: {reason}"
    return erlang_reason(reason) if isinstance(exc, DiscoError) else erlang_reason(repr(exc))


@attrs.frozen
class Reply:
    """A reply: status, body (bytes, or a file to stream) and headers."""

    status: int
    body: bytes | Path = b""
    content_type: str | None = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, value: object) -> Reply:
        """200 with a JSON body."""
        return cls(200, _json(value))

    @classmethod
    def text(cls, status: int, text: str) -> Reply:
        """A short plain-text reply, as the master gives for errors."""
        return cls(status, text.encode("utf-8"), content_type="text/plain")

    @classmethod
    def html(cls, status: int, text: str) -> Reply:
        """A page for a person."""
        return cls(status, text.encode("utf-8"), content_type="text/html; charset=utf-8")

    @classmethod
    def bare(cls, status: int, text: str) -> Reply:
        """An error the master sends with no Content-Type at all (``Req:respond``)."""
        return cls(status, text.encode("utf-8"), content_type=None)


NOT_FOUND = Reply.text(404, "Not found.")


@attrs.define
class Api:
    """The routes: one method call per request, answering a :class:`Reply`."""

    master: EmbeddedMaster
    url: str
    workers: int
    config: list[list[str]] = attrs.field(factory=list)

    def __attrs_post_init__(self) -> None:
        if not self.config:
            self.config = [[self.master.locality.host, str(self.workers)]]

    # --- dispatch -------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: BinaryIO, length: int
    ) -> Reply:
        """Answer one request (``target`` is the request line's path and query)."""
        parts = urllib.parse.urlsplit(target)
        path = urllib.parse.unquote(parts.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        if path.startswith("/ddfs/"):
            if path.startswith("/ddfs/tag/"):
                ref = _tag_ref(path[len("/ddfs/tag/") :], headers.get("authorization"))
                return self._tag(method, ref, body, length, update="update" in query)
            return self._ddfs(method, path[len("/ddfs/") :], query, body, length)
        if method == "POST" and path.startswith("/disco/job/"):
            return self._submit(body, length)
        if path.startswith("/disco/ctrl/"):
            op = path[len("/disco/ctrl/") :]
            if method == "GET":
                return self._get(op, query, headers)
            if method == "POST":
                return self._post(op, body, length)
            return NOT_FOUND
        if path == "/disco/version" and method == "GET":
            return Reply.json(VERSION)
        if path.startswith("/disco/"):
            return _serve_file(self.master.store.disco_data, path[len("/disco/") :], method)
        if method in ("GET", "HEAD"):
            page = WebPages(self.master).page(path, query)
            if page is not None:
                return Reply.html(*page)
        return NOT_FOUND

    # --- the job API ----------------------------------------------------------------------

    def _submit(self, body: BinaryIO, length: int) -> Reply:
        if length > MAX_JOB_PACKET:
            return Reply.bare(413, "Job packet too large")
        pack = body.read(length)
        try:
            name = self.master.submit(pack)
        except Exception as exc:  # the master answers every refusal as ["error", reason]
            log.info("http.submit_refused", error=str(exc))
            return Reply.json(["error", f"Job failed to start: {pack_reason(exc)}"])
        return Reply.json(["ok", name])

    def _get(self, op: str, query: dict[str, str], headers: dict[str, str]) -> Reply:
        name = query.get("name", "")
        try:
            if op == "jobinfo":
                return Reply.json(self.master.jobinfo(name))
            if op == "get_stageresults":
                return Reply.json(self.master.stage_results(name, query.get("stage", "")))
            if op == "rawevents":
                self.master.jobinfo(name)  # an unknown job is a 404, as a missing file
                data = self.master.raw_events(name)
                return _ranged(data, headers.get("range", ""), "text/plain")
            if op == "parameters":
                pack = self.master.jobpack(name)
                return _ranged(pack, headers.get("range", ""), "text/plain")
        except (KeyError, ValueError):
            return NOT_FOUND
        if op == "joblist":
            return Reply.json([[int(start), status, job] for start, status, job in
                               self.master.jobs()])
        if op == "load_config_table":
            return Reply.json(self.config)
        return NOT_FOUND

    def _post(self, op: str, body: BinaryIO, length: int) -> Reply:
        if length > MAX_JSON_BODY:
            return Reply.bare(413, "Request body too large")
        try:
            payload = _loads(body.read(length))
        except ValueError as exc:
            return Reply.bare(400, _json(f"{op}: the body is not JSON ({exc})").decode())
        if op == "get_results":
            match payload:
                case [int() as timeout, list(names)] if not isinstance(timeout, bool) and all(
                    isinstance(n, str) for n in names
                ):
                    if timeout > MAX_TIMEOUT_MS:
                        return Reply.bare(400, _json(
                            f"get_results: timeout_ms {_cut(str(timeout), 40)} is over "
                            f"{MAX_TIMEOUT_MS}"
                        ).decode())
                    return Reply.json(self._results(timeout, names))
            return _bad_payload(op, "[timeout_ms, [jobname, ...]]", payload)
        if op in ("kill_job", "clean_job", "purge_job"):
            if not isinstance(payload, str):
                return _bad_payload(op, "a jobname string", payload)
            action = {"kill_job": self.master.kill, "clean_job": self.master.clean,
                      "purge_job": self.master.purge}[op]
            # A name no job can have names nothing to do: the reply is "" whatever the job.
            with contextlib.suppress(ValueError):
                action(payload)
            return Reply.json("")
        if op == "save_config_table":
            match payload:
                case list(rows) if all(
                    isinstance(r, list) and len(r) == 2 and all(isinstance(x, str) for x in r)
                    for r in rows
                ):
                    # Kept for load_config_table; this master's worker count is fixed at start.
                    self.config = [list(r) for r in rows]
                    return Reply.json("table saved!")
            return _bad_payload(op, '[[host, "workers"], ...]', payload)
        return NOT_FOUND

    def _results(self, timeout_ms: int, names: list[str]) -> list[Any]:
        # As the real master: wait until one of the active jobs ends or the time is up.
        deadline = time.monotonic() + max(0, timeout_ms) / 1000
        statuses = {n: self.master.results(n, 0) for n in names}
        active = [n for n, s in statuses.items() if s.status == "active"]
        if len(active) == 1:
            statuses[active[0]] = self.master.results(active[0], deadline - time.monotonic())
        elif active:
            while (left := deadline - time.monotonic()) > 0:
                if any(self.master.results(n, 0).status != "active" for n in active):
                    break
                time.sleep(min(_POLL, left))
        statuses = {n: self.master.results(n, 0) for n in names}
        return [[n, [statuses[n].status, statuses[n].results]] for n in names]

    # --- DDFS -----------------------------------------------------------------------------

    def _ddfs(
        self, method: str, rest: str, query: dict[str, str], body: BinaryIO, length: int
    ) -> Reply:
        ddfs = self.master.ddfs
        if rest == "tags" or rest.startswith("tags/"):
            if method != "GET":
                return NOT_FOUND
            prefix = rest[len("tags") :].strip("/")
            return Reply.json([t for t in ddfs.tags() if t.startswith(prefix)])
        if rest.startswith("new_blob/"):
            if method != "GET":
                return NOT_FOUND
            return self._new_blob(rest[len("new_blob/") :], query)
        if method == "PUT":
            return self._put_blob(rest, body, length)
        return _serve_file(ddfs.root, rest, method)

    def _tag(self, method: str, ref: tuple[str, str, str], body: BinaryIO, length: int,
             update: bool = False) -> Reply:
        # ddfs_web's /ddfs/tag/<tag>[/<attribute>]; the local DDFS keeps the rules.
        tag, attrib, who = ref
        ddfs = self.master.ddfs
        if not _NAME.match(tag):
            return Reply.bare(403, "Invalid tag.")
        if attrib.startswith("ddfs:") and attrib not in _DDFS_ATTRS and method != "POST":
            return Reply.bare(404, "Tag attribute not found.")
        try:
            if method == "GET" and attrib:
                return Reply.json(ddfs.getattr(who, attrib))
            if method == "GET":
                # The real DDFS's key order, then anything else the tag holds.
                order = {k: i for i, k in enumerate(_TAG_KEYS)}
                obj = ddfs.get(who)
                return Reply.json(dict(sorted(obj.items(), key=lambda kv: order.get(kv[0], 99))))
            if method == "DELETE":
                if attrib:
                    ddfs.delattr(who, attrib)
                else:
                    ddfs.delete(who)
                return Reply.json("deleted")
            if method in ("POST", "PUT"):
                if length > MAX_JSON_BODY:
                    return Reply.bare(403, "Invalid request.")
                try:
                    value = _loads(body.read(length))
                except ValueError:
                    return Reply.bare(403, "Invalid request body.")
                if method == "PUT":
                    # A PUT without an attribute replaces the tag's urls, as in DDFS.
                    attrib = attrib or "ddfs:urls"
                    if not attrib.startswith("ddfs:") and length > MAX_ATTR_VALUE:
                        return Reply.bare(403, "Attribute value too big.")
                    ddfs.setattr(who, attrib, value)
                    return Reply.json([f"tag://{tag}"])
                if attrib:
                    return NOT_FOUND
                if not isinstance(value, list) or not all(
                    isinstance(reps, list) and reps and all(isinstance(u, str) and u for u in reps)
                    for reps in value
                ):
                    return Reply.bare(403, "Invalid url object")
                ddfs.tag(who, value, update=update)
                return Reply.json([f"tag://{tag}"])
        except CommError as exc:
            found = method != "GET" or bool(attrib and ddfs.exists(tag))
            return _ddfs_refusal(exc, "Tag attribute not found." if found else "Tag not found.")
        return NOT_FOUND

    def _new_blob(self, name: str, query: dict[str, str]) -> Reply:
        if not _NAME.match(name):
            return Reply.bare(403, "Invalid prefix.")
        host = self.master.locality.host
        excluded = {h for h in query.get("exclude", "").split(",") if h}
        try:
            replicas = int(query.get("replicas", "1"))
        except ValueError:
            return Reply.bare(400, _json("replicas: not an integer").decode())
        # One node holds every blob: more replicas, or this node excluded, cannot be placed.
        if replicas > 1 or host in excluded:
            return Reply.bare(403, "Not enough nodes for replicas.")
        return Reply.json([f"{self.url}/ddfs/{name}${_stamp()}"])

    def _put_blob(self, blob: str, body: BinaryIO, length: int) -> Reply:
        if not _BLOB.match(blob):
            return Reply.bare(403, "Invalid blob name")
        rel = f"vol0/blob/{hexhash(blob)}/{blob}"
        path = self.master.ddfs.root / rel
        if path.exists():
            return Reply.bare(500, f"File exists (path: {rel})")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"!partial-{_stamp()}.{blob}")
        try:
            with open(partial, "wb") as f:
                _copy(body, f, length)
            os.replace(partial, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                partial.unlink()
            return Reply.bare(500, f"Write failed (path: {rel}): {exc}")
        return Reply(201, _json(f"disco://{self.master.locality.host}/ddfs/{rel}"))


#: The ``ddfs:`` attributes DDFS knows (ddfs_web:parse_tag_attribute); others are 404.
_DDFS_ATTRS = ("ddfs:urls", "ddfs:read-token", "ddfs:write-token")


def _tag_ref(rest: str, authorization: str | None) -> tuple[str, str, str]:
    """``(tag, attribute, tag as LocalDdfs reads it with the request's token)``.

    The token comes as DDFS's parse_auth_token reads it: ``Basic`` of ``token:<token>``.
    """
    tag, _, attrib = rest.partition("/")
    token = None
    if authorization and authorization.startswith("Basic "):
        with contextlib.suppress(ValueError):
            decoded = base64.b64decode(authorization[len("Basic ") :], validate=True)
            if decoded.startswith(b"token:"):
                token = decoded[len(b"token:") :].decode("utf-8", "surrogateescape")
    return tag, attrib, tag if token is None else f"token:{token}@/{tag}"


def _ddfs_refusal(exc: CommError, missing: str) -> Reply:
    # ddfs_web's texts for what the local DDFS refused.
    if exc.code == 401:
        return Reply.bare(401, "Incorrect or missing token.")
    if exc.code == 404:
        return Reply.bare(404, missing)
    if exc.code == 400:
        return Reply.bare(403, "Invalid attribute key or value")
    return Reply.bare(403, exc.msg)


def _cut(text: str, keep: int) -> str:
    return text if len(text) <= keep else text[:keep] + "..."


def _bad_payload(op: str, wanted: str, payload: object) -> Reply:
    try:
        got = _cut(json.dumps(payload), 80)
    except (RecursionError, ValueError):  # deep, or an integer past Python's digit limit
        got = f"a JSON {type(payload).__name__}"
    return Reply.bare(400, _json(f"{op}: expected {wanted}, got {got}").decode())


def _ranged(data: bytes, header: str, content_type: str) -> Reply:
    # mochiweb's serve_file: one satisfiable range gives 206; one it cannot satisfy (at or past
    # the end) is ignored and the whole file sent with 200, which HttpMaster relies on.
    stamp = (("last-modified", formatdate(usegmt=True)),)
    match = _RANGE.match(header.strip())
    if match:
        start = int(match.group(1))
        end = min(int(match.group(2)), len(data) - 1) if match.group(2) else len(data) - 1
        if start < len(data) and start <= end:
            crange = (("Content-Range", f"bytes {start}-{end}/{len(data)}"),)
            return Reply(206, data[start : end + 1], content_type, stamp + crange)
    return Reply(200, data, content_type, stamp)


def _serve_file(root: Path, rel: str, method: str) -> Reply:
    # ddfs_get:send_file: GET or HEAD of a regular file below the root, nothing else.
    if method not in ("GET", "HEAD"):
        return Reply.bare(501, "Method not supported")
    path = safe_file(root, rel)
    if path is None or not path.exists():
        return NOT_FOUND
    if not path.is_file():
        return Reply.bare(403, "Forbidden")
    return Reply(200, path, "application/octet-stream")


def _copy(src: BinaryIO, dst: BinaryIO, length: int) -> None:
    left = length
    while left > 0:
        chunk = src.read(min(left, 1 << 20))
        if not chunk:
            raise OSError(f"the body ended {left} bytes early")
        dst.write(chunk)
        left -= len(chunk)


class _Handler(BaseHTTPRequestHandler):
    """Reads a request, asks the :class:`Api`, writes its reply; one request a connection."""

    protocol_version = "HTTP/1.1"
    server: _HttpServer

    def version_string(self) -> str:
        """The Server header."""
        return "discoworker"

    def setup(self) -> None:
        """Every read and write on the connection gives up after the server's idle timeout."""
        super().setup()
        self.connection.settimeout(self.server.idle_timeout)

    def handle(self) -> None:
        """Serve the connection; a client that went silent or away is no error of ours."""
        try:
            super().handle()
        except OSError as exc:  # TimeoutError, ConnectionResetError, BrokenPipeError...
            log.debug("http.connection_dropped", client=self.client_address[0], error=str(exc))
            self.close_connection = True

    def parse_request(self) -> bool:
        """Read the request head; from then on the connection is busy, never shed as idle."""
        ok = super().parse_request()
        self.server.busy(self.request)
        return ok

    def _serve(self) -> None:
        self.close_connection = True  # as the master, which forces every connection closed
        method = self.command
        length_text = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self._send(Reply.bare(411, "Length Required"), method)
            return
        try:
            length = max(0, int(length_text or 0))
        except ValueError:
            self._send(Reply.bare(400, "Bad Content-Length"), method)
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            body = cast(BinaryIO, self.rfile)
            reply = self.server.api.handle(method, self.path, headers, body, length)
        except TimeoutError:
            reply = Reply.bare(408, f"No data for {self.server.idle_timeout:g} s")
        except Exception:  # a bug here must not leave the client waiting
            log.exception("http.request_failed", method=method, path=self.path)
            reply = Reply.bare(500, "Internal server error")
        self._send(reply, method)

    # The base class dispatches on these names.
    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve  # noqa: N815

    def _send(self, reply: Reply, method: str) -> None:
        self.send_response(reply.status, _REASONS.get(reply.status))
        self.send_header("Connection", "close")
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        for key, value in reply.headers:
            self.send_header(key, value)
        if isinstance(reply.body, Path):
            try:
                f = open(reply.body, "rb")  # noqa: SIM115 - closed below, after the headers
            except OSError:
                f = None
            if f is None:
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            with f:
                self.send_header("Content-Length", str(os.fstat(f.fileno()).st_size))
                self.end_headers()
                if method != "HEAD":
                    shutil.copyfileobj(f, self.wfile, 1 << 20)
            return
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http.request", line=format % args)


class _HttpServer(ThreadingHTTPServer):
    """The stdlib threading server with the limits a long-running service needs.

    A thread per connection, so a ``get_results`` long poll never holds up another request. A
    deep accept queue (:data:`BACKLOG`); a connection silent for ``idle_timeout`` seconds is
    closed; at most ``max_connections`` at once: past that the oldest connection still waiting
    for its request is closed to make room, or, when every one is busy, the newcomer is answered
    503 at once. Out of descriptors, it does the same instead of spinning on ``accept``.
    """

    daemon_threads = True
    request_queue_size = BACKLOG
    api: Api

    def __init__(
        self, address: tuple[str, int], idle_timeout: float, max_connections: int
    ) -> None:
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        # Every open connection, in the order accepted, and whether its request head is read.
        self._conns: dict[socket.socket, bool] = {}
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def busy(self, conn: socket.socket) -> None:
        """``conn`` has sent its request: it is no longer idle."""
        with self._conns_lock:
            if conn in self._conns:
                self._conns[conn] = True

    def _shed_idle(self) -> bool:
        # Shutting the socket down wakes its thread's read with EOF; the thread closes it.
        with self._conns_lock:
            oldest = next((c for c, busy in self._conns.items() if not busy), None)
            if oldest is None:
                return False
            del self._conns[oldest]
        with contextlib.suppress(OSError):
            oldest.shutdown(socket.SHUT_RDWR)
        log.debug("http.idle_connection_shed", open=len(self._conns))
        return True

    def get_request(self) -> tuple[socket.socket, Any]:
        """Accept; out of descriptors, free an idle connection's and pause rather than spin."""
        try:
            return self.socket.accept()
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                log.warning("http.out_of_descriptors", open=len(self._conns))
                if not self._shed_idle():
                    time.sleep(0.05)
            raise  # socketserver drops the attempt; the client waits in the queue

    def process_request(self, request: Any, client_address: Any) -> None:
        """Start the connection's thread, within the cap on connections."""
        with self._conns_lock:
            full = len(self._conns) >= self.max_connections
        if full and not self._shed_idle():
            log.warning("http.too_many_connections", open=len(self._conns))
            with contextlib.suppress(OSError):
                request.settimeout(1.0)
                text = f"{self.max_connections} connections open, all busy: try again"
                request.sendall(
                    f"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
                    f"Content-Type: text/plain\r\nContent-Length: {len(text)}\r\n\r\n{text}"
                    .encode()
                )
            self.shutdown_request(request)
            return
        with self._conns_lock:
            self._conns[request] = False
        super().process_request(request, client_address)

    def close_request(self, request: Any) -> None:
        """The connection is done: it no longer counts."""
        with self._conns_lock:
            self._conns.pop(request, None)
        super().close_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log, rather than print a traceback on the master's terminal."""
        log.exception("http.connection_failed", client=str(client_address))


def raise_fd_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit; the soft limit now.

    Each connection holds a descriptor, and the default soft limit (often 1024, or 256) is far
    below what the hard limit allows.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):  # e.g. macOS refuses more than OPEN_MAX
        return soft
    return target


@attrs.define
class MasterServer:
    """An :class:`EmbeddedMaster` served over HTTP; make one with :func:`serve`."""

    master: EmbeddedMaster
    _httpd: _HttpServer = attrs.field(alias="httpd")
    _thread: threading.Thread | None = attrs.field(default=None, init=False)

    @property
    def url(self) -> str:
        """``http://localhost:<port>``: what result URLs and new blob URLs point at."""
        return self._httpd.api.url

    @property
    def port(self) -> int:
        """The port served (the master's ``disco_port``)."""
        return int(self._httpd.server_address[1])

    def start(self) -> MasterServer:
        """Serve in a background thread; the server itself."""
        # A short poll interval: close() waits for the serving loop to look up.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name=f"discoworker master {self.url}",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`close` (from another thread) or an interrupt."""
        self._httpd.serve_forever()

    def close(self) -> None:
        """Stop serving, kill the master's jobs and free the port."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self.master.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> MasterServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(
    data_dir: str | os.PathLike[str],
    *,
    port: int = 8989,
    workers: int | None = None,
    max_attempts: int = 3,
    bind: str = "127.0.0.1",
    idle_timeout: float = IDLE_TIMEOUT,
    max_connections: int | None = None,
) -> MasterServer:
    """Bind ``port`` on loopback (0: a free one) and make the master advertising it.

    The master's host is ``localhost``, so its ``dir://localhost/...`` results resolve here;
    call :meth:`MasterServer.start` or :meth:`MasterServer.serve_forever` to answer. A connection
    silent for ``idle_timeout`` seconds is closed; at most ``max_connections`` are open at once
    (default: :data:`MAX_CONNECTIONS`, fewer if the descriptor limit, raised to its hard limit
    here, is lower).
    """
    if not 0 <= port <= 65535:
        raise ValueError("a port is a number from 0 to 65535")
    if idle_timeout <= 0:
        raise ValueError(f"idle_timeout must be positive, not {idle_timeout}")
    fds = raise_fd_limit()
    if max_connections is None:
        room = MAX_CONNECTIONS if fds == resource.RLIM_INFINITY else fds - _FD_RESERVE
        max_connections = max(16, min(MAX_CONNECTIONS, room))
    httpd = _HttpServer((bind, port), idle_timeout, max_connections)
    try:
        actual = int(httpd.server_address[1])
        url = f"http://localhost:{actual}"
        count = workers if workers is not None else (os.cpu_count() or 1)
        master = EmbeddedMaster(
            Path(data_dir), workers=count, max_attempts=max_attempts, host="localhost",
            master_url=url, disco_port=actual, put_port=actual,
        )
        httpd.api = Api(master, url, count)
    except BaseException:
        httpd.server_close()
        raise
    log.debug("http.serving", url=url, data_dir=str(data_dir))
    return MasterServer(master, httpd)
