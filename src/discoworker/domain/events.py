"""What masters write in a job's events about one task, read in one place.

Both masters write a task's messages as ``KIND: [stage:id] text`` (``MSG``, ``DONE``,
``ERROR``, ``FATAL``, ``WARNING``, the master's own ``SYS``) and the start of an attempt as
``stage:id assigned to host``. The failure, the task logs, the progress and the pages read
them through :func:`task_event` and :func:`assigned_task`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import attrs

_TASK_EVENT = re.compile(r"(MSG|DONE|ERROR|FATAL|WARNING|SYS): \[([^\]\s]+)\] ?(.*)", re.S)
_ASSIGNED = re.compile(r"(\S+) assigned to (.*)", re.S)


@attrs.frozen
class TaskEvent:
    """One message about a task: its kind, the task (``map:0``) and the text after it."""

    kind: str
    task: str
    text: str

    @property
    def stage(self) -> str:
        """The task's stage: ``map`` of ``map:0``."""
        return self.task.partition(":")[0]


def task_event(message: str) -> TaskEvent | None:
    """The task message ``message`` is, or None when it is about no task."""
    match = _TASK_EVENT.match(message)
    return None if match is None else TaskEvent(*match.groups())


def assigned_task(message: str) -> tuple[str, str] | None:
    """``(task, host)`` when ``message`` says an attempt of a task started, else None."""
    match = _ASSIGNED.match(message)
    if match is None or ":" not in match.group(1):
        return None
    return match.group(1), match.group(2).strip()


def log_lines(data: bytes) -> Iterator[tuple[int, tuple[str, str, str]]]:
    """``(end, (time, host, message))`` for each whole line of a master's event log in
    ``data`` (``end``: the byte just past its newline). A line not yet ended by a newline is
    still being written and is left for the next read; a line that is not an event, skipped.
    """
    start = 0
    while (newline := data.find(b"\n", start)) != -1:
        line, start = data[start:newline], newline + 1
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, list) and len(entry) == 3 and all(isinstance(e, str) for e in entry):
            yield start, (entry[0], entry[1], entry[2])
