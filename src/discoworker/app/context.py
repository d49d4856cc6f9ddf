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


class InputReading:
    """Which of a task's inputs are read, and where the one being read is, for the share of
    its input a task has read. Told per input and per opened stream, never per record."""

    def __init__(self) -> None:
        self._done: set[int] = set()
        self._streams: dict[int, tuple[Any, int | None]] = {}
        self._current: int | None = None
        self._order: dict[int, int] = {}
        self._last: int | None = None

    def begin(self, input_ids: list[int]) -> None:
        """The task reads these inputs."""
        self._order = {input_id: n for n, input_id in enumerate(input_ids, start=1)}

    @property
    def total(self) -> int:
        """How many inputs the task reads."""
        return len(self._order)

    def reading(self, input_id: int) -> None:
        """The input ``input_id`` is read now (its replicas opened from now on are its)."""
        self._current = input_id

    def opened(self, url: str, stream: Any, size: int | None) -> None:
        """A replica of the input being read was opened."""
        if self._current is not None:
            self._streams[self._current] = (stream, size)

    def finished(self, input_id: int) -> None:
        """Every record of the input ``input_id`` was read."""
        self._done.add(input_id)
        _stream, size = self._streams.pop(input_id, (None, None))
        if size:
            self._last = size

    def figure(self) -> str:
        """The status line's figure of the share read (see ``read_figure``); "" when the task
        was not told its inputs."""
        from discoworker.domain.progress import read_figure

        if not self.total:
            return ""
        share = float(len(self._done))
        # The bytes of the input being read; else those of the last input read whole.
        read = size = self._last
        for stream, length in self._streams.values():
            at = _position(stream, length)
            if at is not None and length:
                share += min(1.0, at / length)
                read, size = at, length
        index = self._order.get(self._current, len(self._done)) if self._current is not None \
            else len(self._done)
        return read_figure(share / self.total, read=read, size=size, index=max(1, index),
                           inputs=self.total)


def _position(stream: Any, size: int | None) -> int | None:
    """Bytes of ``stream`` read so far; None when it cannot say."""
    try:
        at = stream.tell()
    except (OSError, ValueError, AttributeError):
        # An HTTP response cannot tell, but knows what is left of its Content-Length.
        left = getattr(stream, "length", None)
        if isinstance(left, int) and size is not None:
            return size - left
        return None
    return at if isinstance(at, int) else None


@attrs.define
class TaskContext:
    """The running task, its master, its job home and how it opens URLs."""

    task: Task
    line: MasterLine
    home: Path
    opener: Opener
    #: The input URL being read now ("" between inputs): a failure names it.
    reading: str = ""
    #: How much of the task's input was read, for its status lines.
    read: InputReading = attrs.field(factory=InputReading)

    @property
    def locality(self) -> Locality:
        """What makes a replica local to this task's node."""
        return locality_of(self.task)

    def open(self, url: str) -> tuple[Any, int | None]:
        """A binary stream of ``url`` and its size when known."""
        opened = self.opener(url)
        if url == self.reading:
            # The replica of an input itself (not a file a dir:// index names): its bytes
            # read are the input's.
            self.read.opened(url, *opened)
        return opened

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
