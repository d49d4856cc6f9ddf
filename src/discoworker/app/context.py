"""What a running task knows: its Task, its line to the master, its job home, its URL openers.

A worker process runs one task, so the context of the task being run is also kept as the
process's current one, for the seed API's objects (``Input(input)``) that are built without it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from discoworker.app.master_line import MasterLine
from discoworker.app.ports import Opener
from discoworker.domain.inputs import Locality
from discoworker.domain.task import Task
from discoworker.errors import FatalError


@attrs.define
class TaskContext:
    """The running task, its master, its job home and how it opens URLs."""

    task: Task
    line: MasterLine
    home: Path
    opener: Opener
    #: The input URL being read now ("" between inputs): a failure names it.
    reading: str = ""

    @property
    def locality(self) -> Locality:
        """What makes a replica local to this task's node."""
        return locality_of(self.task)

    def open(self, url: str) -> tuple[Any, int | None]:
        """A binary stream of ``url`` and its size when known."""
        return self.opener(url)

    def read_bytes(self, url: str) -> bytes:
        """The whole content of a (small) resource such as a ``dir://`` index."""
        stream, _ = self.opener(url)
        with stream:
            data: bytes = stream.read()
            return data

    def open_records(self, url: str) -> Iterator[Any]:
        """Records of ``url`` in Disco's internal format (what tasks write)."""
        from discoworker.domain.records import disco_input_stream

        stream, size = self.opener(url)
        with stream:
            yield from disco_input_stream(stream, size, url)

    def output_file(self, path: str) -> str:
        """The absolute file name of an output given relative to the job home."""
        return os.path.join(self.home, path)


def locality_of(task: Task) -> Locality:
    """What makes a replica local to ``task``'s node: its host, data dirs and port."""
    spec = task.spec
    return Locality(spec.host, spec.disco_data, spec.ddfs_data, spec.disco_port)


_current: TaskContext | None = None


def current_context() -> TaskContext:
    """The context of the task this process is running."""
    if _current is None:
        raise FatalError("no task is running in this process")
    return _current


def set_current_context(context: TaskContext | None) -> None:
    """Make ``context`` the process's running task (None when it ends)."""
    global _current  # noqa: PLW0603 - one task per process, by design
    _current = context
