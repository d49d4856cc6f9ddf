"""A running job's progress as any master's ``jobinfo`` and events tell it, and its text.

A jobinfo ``pipeline`` row is ``[stage, pending, waiting, running, done, failed]`` on the real
master and the embedded one alike; ``failed`` counts failed attempts (a retried task counts
again), so a stage's tasks are the pending, waiting, running and done ones.

jobinfo does not say how much of a stage's input was read: tasks know it, and a classic
worker's periodic status (``100000 entries mapped``, a ``MSG`` every master keeps in the job's
events as ``MSG: [map:0] <text>``) carries it as ``[input read: 25.0%, 5242880 of 20971520
bytes]``. :class:`ReadShares` gathers those figures from the events, and a stage's share of
its input read is its tasks' shares averaged (a done task read all of its input).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from discoworker.domain.events import task_event

#: The figure a worker's status text carries: ``[input read: 25.0%, <detail>]``.
#: Only at a line's end, as written: a job's own printed line is seldom taken for it.
_READ_FIGURE = re.compile(r" \[input read: (\d{1,3}\.\d)%, [^\]\n]*\]$", re.M)


def read_figure(
    share: float, *, read: int | None, size: int | None, index: int, inputs: int
) -> str:
    """The figure a status line carries: the task's share of its input read, and how it was
    reckoned (bytes of the input being read, and which input it is when there are several).

    ``[input read: 25.0%, 5242880 of 20971520 bytes]``,
    ``[input read: 45.0%, input 3 of 5 at 5242880 of 20971520 bytes]``,
    ``[input read: 40.0%, input 3 of 5]`` (its size unknown).
    """
    percent = min(100.0, max(0.0, share * 100))
    detail = f"input {index} of {inputs}" if inputs > 1 else ""
    if read is not None and size:
        where = f"{read} of {size} bytes"
        detail = f"{detail} at {where}" if detail else where
    elif not detail:
        detail = f"input {index} of {inputs}"
    return f"[input read: {percent:.1f}%, {detail}]"


def figure_share(text: str) -> float | None:
    """The last share of input read (0 to 1) a status text carries, or None."""
    found = _READ_FIGURE.findall(text)
    return float(found[-1]) / 100 if found else None


@attrs.frozen
class StageProgress:
    """One stage's tasks right now."""

    name: str
    waiting: int
    running: int
    done: int
    failed: int
    #: The share of the stage's input read, in whole percent; None: no task said.
    read: int | None = None

    @property
    def tasks(self) -> int:
        """The stage's tasks so far (a stage fed as it runs may get more)."""
        return self.waiting + self.running + self.done

    def text(self, left: float | None = None) -> str:
        """``map 2/6 done, 2 running, 0 failed, 45% read, 12 s left``."""
        text = (f"{self.name} {self.done}/{self.tasks} done, {self.running} running, "
                f"{self.failed} failed")
        if self.read is not None:
            text += f", {self.read}% read"
        if left is not None:
            text += f", {left:.0f} s left"
        return text


def time_left(read: float | None, elapsed: float) -> float | None:
    """Seconds left to read the rest of a stage's input at the pace of its first ``elapsed``
    seconds (``read`` is the share read, 0 to 1); None before there is a pace or once done."""
    if read is None or not 0 < read < 1 or elapsed <= 0:
        return None
    return elapsed * (1 - read) / read


class ReadShares:
    """Each task's share of its input read, as the job's events tell it (fed incrementally)."""

    def __init__(self) -> None:
        self._tasks: dict[str, dict[str, float]] = {}
        self._done: dict[str, set[str]] = {}

    def feed(self, messages: Iterable[str]) -> None:
        """Take in event messages (oldest first)."""
        for message in messages:
            event = task_event(message)
            if event is None or ":" not in event.task:
                continue
            stage, _, task = event.task.partition(":")
            if event.kind == "MSG":
                share = figure_share(event.text)
                if share is not None:
                    self._tasks.setdefault(stage, {})[task] = share
            elif event.kind == "DONE":
                # Done: all of its input read, whether or not it sent figures.
                self._done.setdefault(stage, set()).add(task)
            elif event.kind in ("FATAL", "ERROR", "WARNING"):
                # A failed attempt starts over: its share is forgotten until the next figure.
                self._tasks.get(stage, {}).pop(task, None)
                self._done.get(stage, set()).discard(task)

    def stage(self, stage: StageProgress) -> int | None:
        """The whole percent of ``stage``'s input read: its tasks' shares averaged, a done task
        counting whole; None when no task of the stage said anything yet."""
        shares = self._tasks.get(stage.name)
        if not shares or not stage.tasks:
            return None
        # jobinfo may be ahead of the events read so far: a task it counts done may still show
        # its last partial figure here. Never add both: the stage has read at least its done
        # tasks, and its figures' sum (a DONE counting whole) when that says more.
        done = self._done.get(stage.name, set())
        read = sum(shares[t] for t in shares if t not in done) + len(done)
        total = max(read, float(stage.done))
        # A task that never runs again cannot have read more than all.
        total = min(total, stage.done + stage.running)
        return int(min(1.0, total / stage.tasks) * 100 + 1e-9)

    def apply(self, progress: JobProgress) -> JobProgress:
        """``progress`` with each stage's share of its input read."""
        stages = tuple(attrs.evolve(s, read=self.stage(s)) for s in progress.stages)
        return attrs.evolve(progress, stages=stages)


@attrs.frozen
class JobProgress:
    """A job's status and its stages' progress, as read at one moment."""

    job: str
    status: str
    stages: tuple[StageProgress, ...]

    def line(self, elapsed: float, left: Mapping[str, float | None] | None = None) -> str:
        """One line for a log or a pipe: every stage (with its time ``left`` when known), the
        status once over, the time."""
        left = left or {}
        stages = " | ".join(s.text(left.get(s.name)) for s in self.stages) or "no stages yet"
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
