"""The task a worker runs (``disco.task``), discoworker's."""

from discoworker.task import Task

__all__ = ["Task"]
