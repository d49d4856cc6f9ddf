"""Opening input URLs by scheme: file, raw, http(s), disco, dir, tag.

``disco://`` and ``dir://`` URLs of this node are read as local files under the data
directories; those of other nodes over HTTP on their ``disco_port``, as a real node serves them.
"""

from __future__ import annotations

import io
import os
import urllib.parse
from typing import BinaryIO

import attrs

from discoworker.app.ports import Ddfs
from discoworker.domain.inputs import SCHEMES, Locality, http_url, url_scheme
from discoworker.errors import DataError, InputURLError

#: The URL schemes a task can read (an input of another scheme ends the job: no retry helps).

#: Seconds before an HTTP read gives up; a stalled replica must fail over, not hang the task.
HTTP_TIMEOUT = 60.0


def open_file(path: str, url: str | None = None, raw: bool = False) -> tuple[BinaryIO, int]:
    """A local file and its size; DataError naming the URL when it cannot be opened.

    ``raw``: the unbuffered ``FileIO`` itself (what the original gave a reader of task data).
    """
    try:
        stream = open(path, "rb", buffering=0 if raw else -1)  # noqa: SIM115 - to the caller
    except OSError as exc:
        raise DataError(f"cannot open {path}: {exc.strerror or exc}", url or path) from exc
    return stream, os.fstat(stream.fileno()).st_size


def open_raw(url: str) -> tuple[BinaryIO, int]:
    """The data of a ``raw://`` URL: the rest of the URL, URL-decoded."""
    data = urllib.parse.unquote_to_bytes(url[len("raw://") :])
    return io.BytesIO(data), len(data)


def open_http(url: str, timeout: float = HTTP_TIMEOUT) -> tuple[BinaryIO, int | None]:
    """A streamed HTTP(S) response and its Content-Length when given."""
    # Imported here: most tasks read local files, and urllib.request is slow to import.
    import urllib.error
    import urllib.request

    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise DataError(f"HTTP {exc.code} {exc.reason}", url, exc.code) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DataError(f"cannot reach: {getattr(exc, 'reason', exc)}", url) from exc
    length = response.headers.get("Content-Length")
    stream: BinaryIO = response
    return stream, int(length) if length and length.isdigit() else None


@attrs.frozen
class UrlOpener:
    """Opens any input URL a task may get, preferring this node's local files."""

    locality: Locality
    ddfs: Ddfs | None = None
    http_timeout: float = HTTP_TIMEOUT

    def __call__(self, url: str) -> tuple[BinaryIO, int | None]:
        """A binary stream of ``url`` and its size when known."""
        scheme = url_scheme(url)
        if scheme in ("", "file"):
            path = urllib.parse.unquote(url[len("file://") :]) if scheme else url
            return open_file(path, url)
        if scheme == "raw":
            return open_raw(url)
        if scheme in ("disco", "dir"):
            local = self.locality.local_path(url)
            if local is not None:
                # Task data is read a hunk at a time: a buffer would only copy it once more.
                return open_file(local, url, raw=scheme == "disco")
            if self.locality.disco_port is None:
                raise DataError("a remote node's file, and no disco_port to reach it", url)
            return open_http(http_url(url, self.locality.disco_port), self.http_timeout)
        if scheme in ("http", "https"):
            local = self.locality.local_path(url)
            if local is not None:
                return open_file(local, url)
            return open_http(url, self.http_timeout)
        if scheme == "tag":
            return self._open_tag(url)
        raise InputURLError(
            f"unknown URL scheme {scheme!r} (discoworker reads {', '.join(SCHEMES)})", url
        )

    def _open_tag(self, url: str) -> tuple[BinaryIO, int | None]:
        """A tag given as an input: its blobs one after the other (first readable replica)."""
        if self.ddfs is None:
            raise DataError("tag:// input, but no DDFS to resolve it", url)
        tag = url[len("tag://") :]
        parts: list[bytes] = []
        for replicas in self.ddfs.blobs(tag):
            errors: list[str] = []
            for replica in replicas:
                try:
                    stream, _ = self(replica)
                    with stream:
                        parts.append(stream.read())
                    break
                except DataError as exc:
                    errors.append(str(exc))
            else:
                raise DataError(f"no readable replica of a blob: {'; '.join(errors)}", url)
        data = b"".join(parts)
        return io.BytesIO(data), len(data)
