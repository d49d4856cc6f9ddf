"""The classic map/reduce worker (``disco.worker.classic``)."""

from disco.worker.classic.worker import Worker

__all__ = ["Worker"]
