"""A task's inputs as the master describes them: ids, status, label and replicas."""

from __future__ import annotations

from typing import Literal, TypeAlias

import attrs

InputStatus: TypeAlias = Literal["ok", "busy", "failed"]
#: An input's label: an int, or ``"all"`` (every label of a ``dir://`` index).
InputLabel: TypeAlias = int | Literal["all"]


@attrs.frozen
class Replica:
    """One copy of an input: the master's replica id and its URL."""

    id: int
    url: str


@attrs.frozen
class TaskInput:
    """One input of a task, from an ``INPUT`` reply: ``[id, status, label, [[rep_id, url]...]]``."""

    id: int
    status: InputStatus
    label: InputLabel
    replicas: tuple[Replica, ...]
