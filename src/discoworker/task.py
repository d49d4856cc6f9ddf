"""The task a worker runs (seed: ``disco.task.Task``): its uid, paths and output names."""

from discoworker.domain.task import Task, TaskSpec

__all__ = ["Task", "TaskSpec"]
