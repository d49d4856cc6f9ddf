"""Openers of input URLs by scheme (``disco.schemes``), discoworker's."""

from __future__ import annotations

from typing import Any

__all__ = ["input_stream", "open"]


def open(url: str, task: Any = None) -> Any:
    """A readable binary stream of ``url`` (on a node, local data is read as local files)."""
    from discoworker.app.context import current_context

    try:
        stream, _ = current_context().open(url)
    except Exception:  # not inside a task: read as a client does
        from disco._masters import master_url, shared_master
        from discoworker.app.bootstrap import client_opener

        stream, _ = client_opener(shared_master(master_url()))(url)
    return stream


def input_stream(stream: Any, size: Any, url: str, params: Any) -> tuple[Any, Any, str]:
    """The input stream function of any scheme: the opened URL, its size, the URL."""
    opened = open(url)
    return opened, getattr(opened, "length", None), url
