"""The pipeline worker (``disco.worker.pipeline``)."""

from disco.worker.pipeline.worker import Stage, Worker

__all__ = ["Stage", "Worker"]
