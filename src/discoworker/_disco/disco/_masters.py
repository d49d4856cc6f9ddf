"""One discoworker Master per master URL in this process, shared by ``Disco``, ``Job``, ``DDFS``.

The embedded master keeps its running jobs in the object that started them, so every client
object of a process must reach the same one.
"""

from __future__ import annotations

import threading
from typing import Any

from discoworker.app.ports import Master

#: The name ``Disco().master`` gives the embedded master (URL-shaped, as callers expect).
EMBEDDED = "embedded://localhost"

_masters: dict[str, Master] = {}
_lock = threading.Lock()


def master_url(master: Any = None, settings: Any = None) -> str:
    """The URL a client means: ``master``, else ``DISCO_MASTER``, else the embedded master."""
    if isinstance(master, str) and master:
        return master
    url = settings["DISCO_MASTER"] if settings is not None else None
    if not url:
        import os

        url = os.environ.get("DISCO_MASTER", "")
    return url or EMBEDDED


def shared_master(url: str) -> Master:
    """The process's Master for ``url`` (made on first use)."""
    from discoworker.app.bootstrap import master_for

    key = "" if url.startswith("embedded:") else url
    with _lock:
        master = _masters.get(key)
        if master is None:
            master = _masters[key] = master_for(key or None)
        return master


def is_embedded(master: Master) -> bool:
    """Whether ``master`` is discoworker's embedded master (no HTTP API to call)."""
    return not hasattr(master, "url")
