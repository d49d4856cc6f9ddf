"""The master's five groupings: how a stage's inputs (the previous stage's outputs) become tasks.

A previous-stage output is either a *data* output (one labelled file with replica URLs: a job
input or a remote ``OUTPUT``) or a *dir* output (a task's ``dir://`` index file on its host,
with the labels it holds). :func:`group_outputs` makes the groups the master makes; each
group is one task, whose ``group`` (``[label, host]``) and inputs (``INPUT`` reply items) it
gives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Literal, TypeAlias

import attrs

from discoworker.domain.index import IndexEntry
from discoworker.domain.inputs import InputLabel, Replica, TaskInput, url_host

Grouping: TypeAlias = Literal["split", "group_label", "group_node", "group_node_label", "group_all"]
GROUPINGS: tuple[Grouping, ...] = (
    "split",
    "group_label",
    "group_node",
    "group_node_label",
    "group_all",
)

#: Picks the node of a data output among its replicas' hosts (the master picks at random).
HostPicker = Callable[[Sequence[str]], str]


def first_host(hosts: Sequence[str]) -> str:
    """The deterministic host picker: the first replica's host."""
    return hosts[0]


@attrs.frozen
class DataOutput:
    """A labelled data file with its replica URLs (a job input, or a remote task output)."""

    label: int
    size: int
    urls: tuple[str, ...]


@attrs.frozen
class DirOutput:
    """A task's ``dir://`` index file on ``host`` and the ``(label, size)`` pairs it lists."""

    host: str
    url: str
    labels: tuple[tuple[int, int], ...]

    @classmethod
    def from_entries(cls, host: str, url: str, entries: Iterable[IndexEntry]) -> DirOutput:
        """The dir output of an index file whose lines are ``entries``."""
        return cls(host, url, tuple((e.label, e.size) for e in entries))

    def unique_labels(self) -> tuple[int, ...]:
        """The distinct labels in the index, ascending."""
        return tuple(sorted({label for label, _size in self.labels}))


StageOutput: TypeAlias = DataOutput | DirOutput


@attrs.frozen(order=True)
class OutputRef:
    """One output of the previous stage: the task that made it, its index there, the output.

    Job inputs come from a pseudo task; give them ``task_id=-1`` and ``output_id`` 0, 1, ...
    """

    task_id: int
    output_id: int
    output: StageOutput = attrs.field(eq=False, order=False)


@attrs.frozen
class GroupInput:
    """One input of a grouped task: which output, the label it is read with, its URLs."""

    ref: OutputRef
    label: InputLabel
    urls: tuple[str, ...]


@attrs.frozen
class Group:
    """One task of the stage: its ``group`` ``[label, host]`` and its inputs, in order."""

    label: int
    host: str
    inputs: tuple[GroupInput, ...]

    @property
    def group(self) -> tuple[int, str]:
        """The ``group`` of the task's ``TASK`` reply."""
        return (self.label, self.host)

    def task_inputs(self) -> tuple[TaskInput, ...]:
        """The task's inputs as an ``INPUT`` reply lists them (ids from 0, status ``ok``)."""
        return tuple(
            TaskInput(
                i,
                "ok",
                gi.label,
                tuple(Replica(r, url) for r, url in enumerate(gi.urls)),
            )
            for i, gi in enumerate(self.inputs)
        )


def data_host(output: DataOutput, pick: HostPicker = first_host) -> str:
    """The node of a data output: one of its replicas' hosts (``""`` if none has one)."""
    hosts = [h for h in (url_host(u) for u in output.urls) if h]
    return pick(hosts) if hosts else ""


def _input(ref: OutputRef, grouping: Grouping, group_label: int) -> GroupInput:
    out = ref.output
    if isinstance(out, DataOutput):
        # A data input always carries its own label, whatever the grouping.
        return GroupInput(ref, out.label, out.urls)
    if grouping in ("group_node", "group_all"):
        return GroupInput(ref, "all", (out.url,))
    return GroupInput(ref, group_label, (out.url,))


def _usable(outputs: Iterable[OutputRef]) -> list[OutputRef]:
    # Data without replicas and index files without labels feed no task.
    kept = [
        r
        for r in outputs
        if (r.output.urls if isinstance(r.output, DataOutput) else r.output.labels)
    ]
    return sorted(kept)


def group_outputs(
    grouping: str,
    outputs: Iterable[OutputRef],
    *,
    pick: HostPicker = first_host,
) -> list[Group]:
    """The tasks the master makes of ``outputs`` under ``grouping``, in task id order.

    Outputs are taken in (task_id, output_id) order. ``split``: index files first (one task
    per label of each), then data outputs, one task each. ``group_label``: one task per
    label, ascending. ``group_node``: one per node, ascending (``""`` first).
    ``group_node_label``: one per (label, node), ascending. ``group_all``: one task, or none
    without inputs. Within a group, inputs keep output order (index files first for
    ``group_node_label``, as the master does).
    """
    if grouping not in GROUPINGS:
        raise ValueError(f"unknown grouping {grouping!r}; expected one of {', '.join(GROUPINGS)}")
    g: Grouping = grouping
    refs = _usable(outputs)
    if not refs:
        return []
    if g == "group_all":
        dirs = [r for r in refs if isinstance(r.output, DirOutput)]
        dats = [r for r in refs if isinstance(r.output, DataOutput)]
        return [Group(0, "", tuple(_input(r, g, 0) for r in dirs + dats))]
    if g == "split":
        groups: list[Group] = []
        for r in refs:
            if isinstance(r.output, DirOutput):
                host = r.output.host
                groups.extend(
                    Group(label, host, (_input(r, g, label),)) for label in r.output.unique_labels()
                )
        for r in refs:
            if isinstance(r.output, DataOutput):
                dat = r.output
                groups.append(Group(dat.label, data_host(dat, pick), (_input(r, g, dat.label),)))
        return groups
    keyed: dict[tuple[int, str], tuple[list[OutputRef], list[OutputRef]]] = {}
    for r in refs:
        out = r.output
        if isinstance(out, DirOutput):
            for key in _dir_keys(g, out):
                keyed.setdefault(key, ([], []))[0].append(r)
        else:
            key = _data_key(g, out, pick)
            keyed.setdefault(key, ([], []))[1].append(r)
    result: list[Group] = []
    for (label, host), (dirs, dats) in sorted(keyed.items()):
        # group_label and group_node interleave index files and data by output order.
        ordered = sorted(dirs + dats) if g != "group_node_label" else dirs + dats
        result.append(Group(label, host, tuple(_input(r, g, label) for r in ordered)))
    return result


def _dir_keys(grouping: Grouping, out: DirOutput) -> list[tuple[int, str]]:
    if grouping == "group_label":
        return [(label, "") for label in out.unique_labels()]
    if grouping == "group_node":
        return [(0, out.host)]
    # group_node_label. The master lists an index once per (label, size) pair; a label
    # twice in one index would read its lines twice, so we list it once per label.
    return [(label, out.host) for label in out.unique_labels()]


def _data_key(grouping: Grouping, out: DataOutput, pick: HostPicker) -> tuple[int, str]:
    if grouping == "group_label":
        return (out.label, "")
    if grouping == "group_node":
        return (0, data_host(out, pick))
    return (out.label, data_host(out, pick))


def task_outputs(
    host: str,
    index_url: str | None,
    local: Sequence[tuple[int, int]],
    remote: Sequence[tuple[int, str, int]],
) -> list[StageOutput]:
    """What one finished task hands the next stage, as the master records it.

    ``local``: the ``(label, size)`` of each local ``OUTPUT`` (they are the lines of the
    task's index file at ``index_url``); ``remote``: ``(label, url, size)`` of each remote
    ``OUTPUT``, each its own data output.
    """
    result: list[StageOutput] = []
    if local:
        if index_url is None:
            raise ValueError("local outputs need the task's index file URL")
        result.append(DirOutput(host, index_url, tuple(local)))
    result.extend(DataOutput(label, size, (url,)) for label, url, size in remote)
    return result


def refs_of(task_id: int, outputs: Sequence[StageOutput]) -> list[OutputRef]:
    """Number the outputs of one task: ``OutputRef(task_id, 0..)``."""
    return [OutputRef(task_id, i, out) for i, out in enumerate(outputs)]
