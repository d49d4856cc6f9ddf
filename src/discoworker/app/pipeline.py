"""The pipeline worker (seed: ``disco.worker.pipeline.worker``): a job as a list of stages.

``Worker(pipeline=[(grouping, Stage), ...])`` makes a version-2 jobdict. On the node, the
task's stage runs as ``init(interface, params)`` -> ``input_hook(state, labels)`` ->
``process(interface, state, label, input)`` per input (or once per label with ``combine``)
-> ``done(interface, state)``, where ``interface.output(label).add(key, value)`` writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import attrs

from discoworker.app import worker as base
from discoworker.app.classic import external_sort, job_inputs, parse_buffer_size
from discoworker.app.context import TaskContext, current_context
from discoworker.app.params import Params, task_copy
from discoworker.app.reading import Input
from discoworker.app.streams import (
    StreamFunction,
    as_chain,
    chain_reader,
    disco_output_stream,
    input_chain,
    output_chain,
    task_input_stream,
    task_output_stream,
)
from discoworker.domain.index import read_index
from discoworker.domain.inputs import Replica, TaskInput, url_scheme
from discoworker.domain.jobdict import GROUPINGS
from discoworker.errors import DiscoError, FatalError

#: Memory the sort of a combined, sorted stage may use (the original's ``10%``).
SORT_BUFFER_SIZE = "10%"


def input_hook(state: Any, input_labels: Iterable[int]) -> Iterable[int]:
    """The default input hook: the labels in the order they came."""
    return input_labels


class TaskInfo(NamedTuple):
    """What a stage's functions may know of the running task (``stage.taskinfo``)."""

    jobname: str
    host: str
    stage: str
    group: str
    label: int


class DiscoTask(NamedTuple):
    """The ``interface`` given to a stage's functions: ``output(label)`` to write to."""

    output: Callable[[int], Any]


#: The input chain of the first stage (raw job inputs) and of later ones (task outputs).
PIPELINE_INPUT_CHAIN: tuple[StreamFunction, ...] = (task_input_stream,)
INTERIOR_INPUT_CHAIN: tuple[StreamFunction, ...] = (task_input_stream, chain_reader)
DEFAULT_OUTPUT_CHAIN: tuple[StreamFunction, ...] = (task_output_stream, disco_output_stream)


@attrs.define(eq=False)
class Stage:
    """One stage of a pipeline: its name and the functions its tasks call, in this order:
    ``init``, ``input_hook``, ``process`` (per input, or per label when ``combine``; sorted by
    key when ``sort`` is also set), ``done``. Empty chains mean the defaults."""

    name: str = ""
    init: Callable[..., Any] | None = None
    process: Callable[..., Any] | None = None
    done: Callable[..., Any] | None = None
    input_hook: Callable[[Any, Iterable[int]], Iterable[int]] = input_hook
    input_chain: Sequence[StreamFunction] = attrs.field(factory=list)
    output_chain: Sequence[StreamFunction] = attrs.field(factory=list)
    combine: bool = False
    sort: bool = False
    #: Set on the node just before the stage runs.
    taskinfo: TaskInfo | None = attrs.field(default=None, init=False)

    @staticmethod
    def default_input_chain(pipe_index: int) -> list[StreamFunction]:
        """The input chain of the stage at ``pipe_index`` when it gives none."""
        return list(PIPELINE_INPUT_CHAIN if pipe_index == 0 else INTERIOR_INPUT_CHAIN)

    def callables(self) -> list[Callable[..., Any]]:
        """Every function of the stage (for module discovery)."""
        functions = [self.init, self.input_hook, self.process, self.done]
        return [f for f in (*functions, *self.input_chain, *self.output_chain) if callable(f)]


def pipeline_entries(pipeline: Iterable[Any]) -> list[tuple[str, Stage, bool]]:
    """``(grouping, Stage)`` pairs or ``(grouping, Stage, concurrent)`` triples, checked.

    DiscoError for an unknown grouping, a repeated stage name or a malformed entry.
    """
    entries: list[tuple[str, Stage, bool]] = []
    names: set[str] = set()
    for entry in pipeline:
        if not isinstance(entry, tuple | list) or len(entry) not in (2, 3):
            raise DiscoError(f"a pipeline entry is (grouping, Stage[, concurrent]), got {entry!r}")
        grouping, stage = entry[0], entry[1]
        concurrent = bool(entry[2]) if len(entry) == 3 else False
        if grouping not in GROUPINGS:
            raise DiscoError(
                f"Unknown grouping {grouping!r} for stage {getattr(stage, 'name', stage)!r}: "
                f"use one of {', '.join(GROUPINGS)}"
            )
        if not isinstance(stage, Stage):
            raise DiscoError(f"a pipeline entry's second item must be a Stage, got {stage!r}")
        if not stage.name or not isinstance(stage.name, str):
            raise DiscoError(f"a pipeline stage needs a name, got {stage.name!r}")
        if stage.name in names:
            raise DiscoError(f"Repeated stage {stage.name!r}: stage names must be unique")
        names.add(stage.name)
        entries.append((grouping, stage, concurrent))
    return entries


class Worker(base.Worker):
    """The pipeline worker: ``pipeline=[(grouping, Stage), ...]`` (seed page)."""

    def defaults(self) -> dict[str, Any]:
        """The base parameters plus ``pipeline`` (empty)."""
        defaults = super().defaults()
        defaults["pipeline"] = []
        return defaults

    def jobarg_names(self) -> frozenset[str]:
        """The base arguments, ``pipeline`` and the ``params`` its stages get."""
        return super().jobarg_names() | {"params"}

    def jobdict(self, job: Any, **jobargs: Any) -> dict[str, Any]:
        """The version-2 jobdict: ``pipeline`` entries ``[name, grouping, concurrent]`` and
        ``inputs`` as ``[label, size_hint, [urls]]``."""
        entries = pipeline_entries(self.getitem("pipeline", job, jobargs, []))
        inputs = job_inputs(job, self.getitem("input", job, jobargs, []))
        jobdict = super().jobdict(job, **jobargs)
        jobdict.update(
            {
                "worker": self.bin,
                "pipeline": [[s.name, g, c] for g, s, c in entries],
                "inputs": [[0, 0, [i] if isinstance(i, str) else list(i)] for i in inputs],
            }
        )
        return jobdict

    def run(self, task: Any, job: Any, **jobargs: Any) -> None:
        """Find the task's stage in the pipeline and run it."""
        for key in list(self):
            self[key] = self.getitem(key, job, jobargs)
        params = task_copy(self.getitem("params", job, jobargs, Params()))
        entries = pipeline_entries(self["pipeline"])
        stages = {s.name: (i, s) for i, (_g, s, _c) in enumerate(entries)}
        if task.stage not in stages:
            raise FatalError(f"the pipeline has no stage {task.stage!r}: {sorted(stages)}")
        index, stage = stages[task.stage]
        stage.taskinfo = TaskInfo(task.jobname, task.host, task.stage, task.group,
                                  task.group_label)
        self.run_stage(task, stage, index, params)

    def run_stage(self, task: Any, stage: Stage, index: int, params: Any) -> None:
        """Call the stage's functions in their order over the task's inputs."""
        in_chain = list(stage.input_chain) or Stage.default_input_chain(index)
        out_chain = as_chain(stage.output_chain) or list(DEFAULT_OUTPUT_CHAIN)
        interface = self.make_interface(task, out_chain, params)
        state = stage.init(interface, params) if callable(stage.init) else None
        if not callable(stage.process):
            if callable(stage.done):
                stage.done(interface, state)
            return
        context = current_context()
        inputs = self.input_map(context, task, input_chain(in_chain, None, params))
        for label in stage.input_hook(state, list(inputs)):
            if stage.combine:
                records: Iterable[Any] = _concat(inputs.get(label, ()))
                if stage.sort:
                    records = external_sort(
                        records,
                        buffer_size=parse_buffer_size(SORT_BUFFER_SIZE),
                        directory=context.output_file(task.taskpath),
                    )
                stage.process(interface, state, label, records)
            else:
                for task_input in inputs.get(label, ()):
                    stage.process(interface, state, label, task_input)
        if callable(stage.done):
            stage.done(interface, state)

    def make_interface(self, task: Any, chain: list[StreamFunction], params: Any) -> DiscoTask:
        """The ``interface`` of a task: ``output(label)`` opens the label's output once."""

        def output(label: int) -> Any:
            opened = self.output(task, label, open=output_chain(chain, params, label))
            fds = getattr(opened.file, "fds", None)
            return fds[-1] if fds else opened.file

        return DiscoTask(output=output)

    def input_map(
        self, context: TaskContext, task: Any, opener: Callable[[str], Any]
    ) -> dict[int, list[Input]]:
        """The task's inputs by label, in order; a ``dir://`` input gives one input per
        index line of its label (lines sorted)."""
        inputs: dict[int, list[Input]] = defaultdict(list)
        for task_input in context.line.all_inputs():
            first = task_input.replicas[0].url if task_input.replicas else ""
            if url_scheme(first) == "dir":
                for entry in sorted(read_index(context.read_bytes(first), first)):
                    if task_input.label in ("all", entry.label):
                        line = TaskInput(task_input.id, "ok", entry.label,
                                         (Replica(0, entry.url),))
                        inputs[entry.label].append(Input(line, task, opener, context))
            else:
                label = task_input.label if isinstance(task_input.label, int) else 0
                inputs[label].append(Input(task_input, task, opener, context))
        return dict(inputs)


def _concat(inputs: Iterable[Iterable[Any]]) -> Iterator[Any]:
    for records in inputs:
        yield from records
