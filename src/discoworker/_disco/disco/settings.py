"""Disco's settings (``disco.settings``): a dict of ``DISCO_*`` names, the environment first.

Only what a client needs is here. ``DISCO_MASTER`` unset means discoworker's embedded master.
"""

from __future__ import annotations

import os
import socket
from typing import Any

__all__ = ["DiscoSettings"]


def _defaults() -> dict[str, Any]:
    host = socket.gethostname()
    return {
        "DISCO_MASTER": "",
        "DISCO_PORT": "8989",
        "DISCO_PROXY": "",
        "DISCO_DEBUG": "off",
        "DISCO_EVENTS": "",
        "DISCO_PROFILE": "False",
        "DISCO_JOB_OWNER": "",
        "DISCO_DATA": os.environ.get("DISCOWORKER_DATA", ""),
        "DDFS_DATA": "",
        "DDFS_PUT_PORT": "8990",
        "DDFS_READ_TOKEN": None,
        "DDFS_WRITE_TOKEN": None,
        "DISCO_TEST_HOST": host,
        "DISCO_TEST_PORT": "9444",
        "DISCO_TEST_PROFILE": "",
        "DISCO_TEST_PURGE": "purge",
        "DISCO_TEST_DISCODB": "",
    }


class DiscoSettings(dict[str, Any]):
    """``DISCO_*`` settings: keyword arguments, else the environment, else the defaults."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)

    def __getitem__(self, key: str) -> Any:
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        if key in os.environ:
            return os.environ[key]
        defaults = _defaults()
        if key in defaults:
            return defaults[key]
        raise KeyError(f"no Disco setting {key!r}")

    def get(self, key: str, default: Any = None) -> Any:
        """The setting ``key``, or ``default`` when it has none."""
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None
