"""The embedded master: a Disco master on this machine, tasks as local worker processes.

``EmbeddedMaster`` is loaded on first use: a task that only needs the local DDFS (its
out-of-band results) does not import the master, nor its log's dependencies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from discoworker.adapters.embedded.master import EmbeddedMaster

__all__ = ["EmbeddedMaster"]


def __getattr__(name: str) -> Any:
    if name == "EmbeddedMaster":
        from discoworker.adapters.embedded.master import EmbeddedMaster

        return EmbeddedMaster
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
