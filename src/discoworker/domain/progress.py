"""A running job's progress as any master's ``jobinfo`` tells it, and its one-line text.

A jobinfo ``pipeline`` row is ``[stage, pending, waiting, running, done, failed]`` on the real
master and the embedded one alike; ``failed`` counts failed attempts (a retried task counts
again), so a stage's tasks are the pending, waiting, running and done ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs


@attrs.frozen
class StageProgress:
    """One stage's tasks right now."""

    name: str
    waiting: int
    running: int
    done: int
    failed: int

    @property
    def tasks(self) -> int:
        """The stage's tasks so far (a stage fed as it runs may get more)."""
        return self.waiting + self.running + self.done

    def text(self) -> str:
        """``map 2/6 done, 2 running, 0 failed``."""
        return (f"{self.name} {self.done}/{self.tasks} done, {self.running} running, "
                f"{self.failed} failed")


@attrs.frozen
class JobProgress:
    """A job's status and its stages' progress, as read at one moment."""

    job: str
    status: str
    stages: tuple[StageProgress, ...]

    def line(self, elapsed: float) -> str:
        """One line for a log or a pipe: every stage, the status once over, the time."""
        stages = " | ".join(s.text() for s in self.stages) or "no stages yet"
        over = "" if self.status == "active" else f" {self.status}"
        return f"{self.job}: {stages}{over} [{elapsed:.1f} s]"


def _count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}: expected a task count, got {value!r}")
    return value


def job_progress(job: str, info: Mapping[str, Any]) -> JobProgress:
    """The progress in a jobinfo object; ValueError naming what is malformed.

    Once the job is over nothing runs, whatever a row still says (a master may not update
    its counts for the tasks it stopped).
    """
    status = info.get("active")
    if not isinstance(status, str):
        raise ValueError(f"jobinfo of {job}: 'active' is {status!r}, not a status")
    pipeline = info.get("pipeline")
    if not isinstance(pipeline, Sequence) or isinstance(pipeline, str):
        raise ValueError(f"jobinfo of {job}: 'pipeline' is {pipeline!r}, not a list")
    stages = []
    for i, row in enumerate(pipeline):
        where = f"jobinfo of {job}: pipeline row {i}"
        if not isinstance(row, Sequence) or isinstance(row, str) or len(row) != 6:
            raise ValueError(f"{where}: expected [stage, pending, waiting, running, done, "
                             f"failed], got {row!r}")
        name = row[0]
        if not isinstance(name, str):
            raise ValueError(f"{where}: the stage name is {name!r}")
        pending, waiting, running, done, failed = (_count(v, where) for v in row[1:])
        if status != "active":
            waiting, running = waiting + running, 0
        stages.append(StageProgress(name, pending + waiting, running, done, failed))
    return JobProgress(job, status, tuple(stages))
