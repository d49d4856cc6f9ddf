"""The embedded master's decisions, without I/O: which tasks a job has, which runs next, retries.

A job is its pipeline of stages. The job inputs feed the first stage; each finished task's
outputs feed the next stage, grouped by the stage's grouping (``domain.grouping``); the last
stage's outputs are the job's results. A ``concurrent`` stage starts as soon as the previous
one has started and gets its inputs as they appear (``INPUT`` flag ``more``). Task ids are
numbered across the whole job, as on the real master (``map:0``, ``map:1``, ``reduce:2``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeAlias

import attrs

from discoworker.domain.grouping import (
    DataOutput,
    DirOutput,
    Group,
    GroupInput,
    OutputRef,
    StageOutput,
    group_outputs,
    refs_of,
)
from discoworker.domain.inputs import Replica, TaskInput
from discoworker.domain.jobdict import PipelineStage

TaskStatus: TypeAlias = Literal["waiting", "running", "done", "failed"]
InputFlag: TypeAlias = Literal["more", "done"]
Decision: TypeAlias = Literal["retry", "give_up"]


@attrs.frozen
class StageStarted:
    """A stage got its first tasks (for the event ``Stage S scheduled with N tasks``)."""

    stage: str
    tasks: int


@attrs.frozen
class StageFinished:
    """Every task of a stage is done and no more inputs will come."""

    stage: str


Note: TypeAlias = StageStarted | StageFinished


@attrs.define
class TaskState:
    """One task of the job: its stage, group, inputs so far, attempts and status."""

    taskid: int
    stage: int
    label: int
    host: str
    inputs: list[GroupInput]
    attempts: int = 0
    status: TaskStatus = "waiting"
    outputs: list[StageOutput] = attrs.field(factory=list)

    @property
    def group(self) -> tuple[int, str]:
        """The ``group`` of the TASK reply: ``[label, host]``."""
        return (self.label, self.host)


@attrs.define
class _Stage:
    spec: PipelineStage
    refs: list[OutputRef] = attrs.field(factory=list)
    tasks: dict[tuple[object, ...], int] = attrs.field(factory=dict)
    started: bool = False
    finished: bool = False


def _group_key(grouping: str, group: Group) -> tuple[object, ...]:
    # Under split each input is a task of its own, even when two share a label and a host.
    if grouping == "split":
        first = group.inputs[0]
        return (first.ref.task_id, first.ref.output_id, group.label)
    return (group.label, group.host)


def _replicas(urls: Sequence[str]) -> tuple[Replica, ...]:
    return tuple(Replica(i, url) for i, url in enumerate(urls))


def output_urls(output: StageOutput) -> list[str]:
    """The replica list a job result (or stage result) is published as."""
    if isinstance(output, DirOutput):
        return [output.url]
    return list(output.urls)


@attrs.define(init=False)
class Scheduler:
    """The pipeline state of one job; every method is a decision, the caller does the I/O.

    ``workers`` is the number of task slots: a task whose stage may still receive inputs
    never takes the last free slot, so the tasks feeding it can always run.
    """

    _stages: list[_Stage]
    _tasks: dict[int, TaskState]
    _max_attempts: int
    _workers: int
    _next_id: int
    _notes: list[Note]
    _job_inputs: list[OutputRef]

    def __init__(
        self,
        pipeline: Sequence[PipelineStage],
        inputs: Sequence[StageOutput],
        *,
        max_attempts: int = 3,
        workers: int = 1,
    ) -> None:
        if max_attempts < 1 or workers < 1:
            raise ValueError("max_attempts and workers must be at least 1")
        self._stages = [_Stage(spec) for spec in pipeline]
        self._tasks = {}
        self._max_attempts = max_attempts
        self._workers = workers
        self._next_id = 0
        self._notes = []
        self._job_inputs = refs_of(-1, list(inputs))
        if self._stages:
            self._stages[0].refs.extend(self._job_inputs)
            self._advance()

    # --- queries ------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """True when every stage is done: the job's results are final."""
        return all(s.finished for s in self._stages)

    def task(self, taskid: int) -> TaskState:
        """The state of task ``taskid``; KeyError for an unknown one."""
        return self._tasks[taskid]

    def tasks(self) -> list[TaskState]:
        """Every task created so far, by id."""
        return [self._tasks[t] for t in sorted(self._tasks)]

    def stage_spec(self, taskid: int) -> PipelineStage:
        """The pipeline entry of task ``taskid``'s stage."""
        return self._stages[self._tasks[taskid].stage].spec

    def results(self) -> list[list[str]]:
        """The job's results as replica lists: the last stage's outputs (or the inputs)."""
        if not self._stages:
            return [output_urls(r.output) for r in self._job_inputs]
        last = self._stages[-1]
        return [
            output_urls(out)
            for t in sorted(last.tasks.values())
            for out in self._tasks[t].outputs
        ]

    def stage_results(self, stage: str) -> list[list[str]] | None:
        """The outputs of the tasks of ``stage`` done so far; None for an unknown stage."""
        for s in self._stages:
            if s.spec.name == stage:
                return [
                    output_urls(out)
                    for t in sorted(s.tasks.values())
                    for out in self._tasks[t].outputs
                ]
        return None

    def counts(self) -> list[list[object]]:
        """Per stage ``[name, pending, waiting, running, done, failed]`` as jobinfo shows."""
        rows: list[list[object]] = []
        for i, s in enumerate(self._stages):
            ts = [t for t in self._tasks.values() if t.stage == i]
            # A task given up on stays one of the stage's tasks, waiting, as the real master
            # counts it; its failures are in ``failed``.
            waiting = sum(t.status in ("waiting", "failed") for t in ts)
            running = sum(t.status == "running" for t in ts)
            done = sum(t.status == "done" for t in ts)
            failed = sum(max(0, t.attempts - (1 if t.status in ("running", "done") else 0))
                         for t in ts)
            rows.append([s.spec.name, 0, waiting, running, done, failed])
        return rows

    def take_notes(self) -> list[Note]:
        """Stage events decided since the last call (for the job's event log)."""
        notes, self._notes = self._notes, []
        return notes

    def running(self) -> list[int]:
        """Ids of the tasks running now."""
        return [t.taskid for t in self.tasks() if t.status == "running"]

    # --- decisions ----------------------------------------------------------------------

    def _fed(self, stage: int) -> bool:
        # No more inputs will come to this stage.
        return stage == 0 or self._stages[stage - 1].finished

    def next_task(self, running: int) -> TaskState | None:
        """The task to start now given ``running`` busy slots, marked running; None if none.

        Lowest id first, so earlier stages (and retries of them) go before later ones.
        """
        if running >= self._workers:
            return None
        for t in self.tasks():
            if t.status != "waiting":
                continue
            if not self._fed(t.stage) and running + 1 >= self._workers:
                # Keep one slot for the stages that feed this one, or they could starve.
                continue
            t.status = "running"
            t.attempts += 1
            return t
        return None

    def inputs(
        self, taskid: int, mode: str = "all", ids: Sequence[int] = ()
    ) -> tuple[InputFlag, tuple[TaskInput, ...]] | None:
        """The ``INPUT`` reply for ``mode`` (``all``, ``exclude``, ``include``) and ``ids``.

        None means: hold the reply back (more inputs may come and none is new yet).
        """
        t = self._tasks[taskid]
        flag: InputFlag = "done" if self._fed(t.stage) else "more"
        chosen = set(ids)
        items = tuple(
            TaskInput(i, "ok", gi.label, _replicas(gi.urls))
            for i, gi in enumerate(t.inputs)
            if mode == "all"
            or (mode == "exclude" and i not in chosen)
            or (mode == "include" and i in chosen)
        )
        if flag == "more" and not items:
            return None
        return flag, items

    def replicas(self, taskid: int, input_id: int) -> tuple[Replica, ...] | None:
        """The replicas of input ``input_id`` of the task; None for an unknown input."""
        t = self._tasks[taskid]
        if not 0 <= input_id < len(t.inputs):
            return None
        return _replicas(t.inputs[input_id].urls)

    def task_done(self, taskid: int, outputs: Sequence[StageOutput]) -> None:
        """Record a task's outputs; feeds the next stage and moves the pipeline on."""
        t = self._tasks[taskid]
        if t.status != "running":
            raise ValueError(f"task {taskid} is {t.status}, not running")
        t.status = "done"
        t.outputs = list(outputs)
        if t.stage + 1 < len(self._stages):
            self._stages[t.stage + 1].refs.extend(refs_of(taskid, t.outputs))
        self._advance()

    def task_failed(self, taskid: int, *, fatal: bool) -> Decision:
        """A task run failed: ``retry`` (it waits again) or ``give_up`` (the job is dead)."""
        t = self._tasks[taskid]
        if fatal or t.attempts >= self._max_attempts:
            t.status = "failed"
            return "give_up"
        t.status = "waiting"
        return "retry"

    def _advance(self) -> None:
        # Start, feed and finish stages until nothing changes.
        changed = True
        while changed:
            changed = False
            for i, s in enumerate(self._stages):
                if s.finished:
                    continue
                prev = self._stages[i - 1] if i else None
                may_start = prev is None or prev.finished or (s.spec.concurrent and prev.started)
                if not may_start:
                    break
                new = self._regroup(i)
                if not s.started:
                    s.started = True
                    self._notes.append(StageStarted(s.spec.name, new))
                    changed = True
                if self._fed(i) and all(
                    self._tasks[t].status == "done" for t in s.tasks.values()
                ):
                    s.finished = True
                    self._notes.append(StageFinished(s.spec.name))
                    changed = True

    def _regroup(self, stage: int) -> int:
        """Make tasks for new groups, add new inputs to existing ones; the new task count."""
        s = self._stages[stage]
        new = 0
        for group in group_outputs(s.spec.grouping, s.refs):
            key = _group_key(s.spec.grouping, group)
            taskid = s.tasks.get(key)
            if taskid is None:
                taskid = self._next_id
                self._next_id += 1
                s.tasks[key] = taskid
                self._tasks[taskid] = TaskState(
                    taskid, stage, group.label, group.host, list(group.inputs)
                )
                new += 1
                continue
            t = self._tasks[taskid]
            # Input ids are positions: keep them stable, append only what is new.
            known = {(gi.ref, gi.label) for gi in t.inputs}
            t.inputs.extend(gi for gi in group.inputs if (gi.ref, gi.label) not in known)
        return new


def job_inputs(items: Sequence[tuple[int, int, Sequence[str]]]) -> list[StageOutput]:
    """Job inputs ``(label, size_hint, urls)`` as data outputs feeding the first stage."""
    return [DataOutput(label, size, tuple(urls)) for label, size, urls in items]
