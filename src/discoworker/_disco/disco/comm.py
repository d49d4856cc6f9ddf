"""HTTP reads (``disco.comm``): ``download`` and ``open_remote``, discoworker's HTTP opener."""

from __future__ import annotations

from typing import Any

from discoworker.adapters.openers import open_http

__all__ = ["download", "open_remote"]


def open_remote(url: str, token: Any = None) -> Any:
    """A readable stream of the HTTP resource ``url``."""
    stream, _ = open_http(url)
    return stream


def download(  # noqa: PLR0917 - the original's signature
    url: str, method: str = "GET", data: Any = None, offset: Any = (),
             token: Any = None, sleep: int = 0) -> bytes:
    """The body of ``url`` (GET) or of POSTing ``data`` to it."""
    import urllib.request

    body = data.encode() if isinstance(data, str) else data
    with urllib.request.urlopen(urllib.request.Request(url, data=body, method=method)) as r:
        out: bytes = r.read()
    return out
