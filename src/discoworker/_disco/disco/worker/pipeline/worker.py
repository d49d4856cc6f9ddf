"""The pipeline worker (``disco.worker.pipeline.worker``): discoworker's ``Worker``, ``Stage``."""

from discoworker.pipeline import DiscoTask, Stage, TaskInfo, Worker, input_hook

__all__ = ["DiscoTask", "Stage", "TaskInfo", "Worker", "input_hook"]
