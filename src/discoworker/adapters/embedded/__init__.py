"""The embedded master: a Disco master on this machine, tasks as local worker processes."""

from discoworker.adapters.embedded.master import EmbeddedMaster

__all__ = ["EmbeddedMaster"]
