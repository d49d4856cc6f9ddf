"""Task outputs: files that appear under their final name only when complete.

Every output is written as ``<path>.partial`` and renamed into place on close, so a task that
fails or is killed half-way leaves nothing a later stage could mistake for a result.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import Any

from discoworker.domain.records import DiscoOutputStream

PARTIAL_SUFFIX = ".partial"


class AtomicFile(io.FileIO):
    """A binary file written beside ``path`` and renamed onto it by :meth:`close`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.partial = self.path + PARTIAL_SUFFIX
        directory = os.path.dirname(self.partial)
        if directory:
            os.makedirs(directory, exist_ok=True)
        super().__init__(self.partial, "w")

    def close(self) -> None:
        """Finish the file: flush, close, and move it under its final name."""
        if self.closed:
            return
        super().close()
        os.replace(self.partial, self.path)

    def discard(self) -> None:
        """Abandon the file: nothing appears under the final name."""
        if not self.closed:
            super().close()
        try:
            os.unlink(self.partial)
        except FileNotFoundError:
            pass


class DiscoOutput:
    """An output file in Disco's internal record format: ``add(key, value)``, atomic on close."""

    def __init__(self, path: str | os.PathLike[str], **stream_options: Any) -> None:
        self.file = AtomicFile(path)
        self.path = self.file.path
        self.stream = DiscoOutputStream(self.file, **stream_options)

    def add(self, key: Any, value: Any) -> None:
        """Append one record."""
        self.stream.add(key, value)

    def append(self, record: Any) -> None:
        """Append one record given as a (key, value) pair."""
        self.stream.append(record)

    def close(self) -> None:
        """Write the end of the stream and put the file in place."""
        self.stream.close()
        self.file.close()

    def discard(self) -> None:
        """Abandon what was written."""
        self.file.discard()


class Output:
    """A container for one output of a task (seed: ``disco.worker.Output``).

    ``path`` is relative to the job home, ``type`` is ``"disco"`` or ``"part"``, ``label`` the
    output's label (0 when unlabelled) and ``file`` what ``open(path)`` returned.
    """

    def __init__(
        self,
        path_type_label: tuple[str, str, int | None],
        open: Callable[[str], Any] | None = None,
    ) -> None:
        self.path, self.type, label = path_type_label
        self.label = 0 if label is None else label
        self.open = open or DiscoOutput
        self.file = self.open(self.path)

    @property
    def partition(self) -> int:
        """The older name of :attr:`label` (Disco 0.4)."""
        return self.label

    def close(self) -> None:
        """Close the file, putting it in place."""
        self.file.close()

    def discard(self) -> None:
        """Abandon the file when it can be abandoned (an atomic one leaves nothing behind)."""
        discard = getattr(self.file, "discard", None)
        if discard is not None:
            discard()
