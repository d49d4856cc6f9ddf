"""The pipeline worker (seed: ``disco.worker.pipeline.worker``): ``Worker`` and ``Stage``.

``Worker(pipeline=[("split", Stage("map", process=...)), ("group_label", Stage("reduce",
...))])`` is a job of two stages; see :class:`Stage` for the order its functions are called in.
"""

from discoworker.app.pipeline import DiscoTask, Stage, TaskInfo, Worker, input_hook

__all__ = ["DiscoTask", "Stage", "TaskInfo", "Worker", "input_hook"]
