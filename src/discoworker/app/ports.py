"""The ports: what the use cases need from the outside world, as ``typing.Protocol``s.

Adapters implement them (``discoworker.adapters``); ``app.bootstrap`` picks which ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, Protocol, TypeAlias

import attrs

if TYPE_CHECKING:
    from discoworker.domain.inputs import Locality
    from discoworker.domain.protocol import MasterMessage, WorkerMessage


class Transport(Protocol):
    """The worker's line to its master: send a message, receive the master's replies in order."""

    def send(self, message: WorkerMessage) -> None:
        """Write one message, flushed."""

    def receive(self) -> MasterMessage:
        """The next reply; ProtocolError on end of input or a malformed reply."""

    def close(self) -> None:
        """Release the line (after DONE, ERROR or FATAL nothing more is said)."""


class Opener(Protocol):
    """Opens one replica URL for reading: a binary stream and its size when known."""

    def __call__(self, url: str) -> tuple[BinaryIO, int | None]: ...


class Ddfs(Protocol):
    """The Disco Distributed Filesystem, as far as jobs need it."""

    def blobs(self, tag: str) -> list[list[str]]:
        """The replica URLs of every blob of ``tag`` (following tags it points at)."""

    def push(self, tag: str, name: str, data: BinaryIO) -> list[str]:
        """Store ``data`` as a new blob named ``name`` and add it to ``tag``; its replicas."""

    def store(self, name: str, data: BinaryIO) -> list[str]:
        """Store ``data`` as a new blob named ``name``, in no tag yet; its replicas."""

    def tag(self, tag: str, urls: Sequence[Sequence[str]], update: bool = False) -> None:
        """Add blobs, given by their replica URLs, in front of those of ``tag`` (creating
        it): a tag lists its blobs newest first, as DDFS does; with ``update``, blobs whose
        names the tag has already are left out."""

    def get(self, tag: str) -> dict[str, Any]:
        """The tag object (``urls`` and the rest of its attributes)."""

    def delete(self, tag: str) -> None:
        """Remove ``tag``."""


JobStatus: TypeAlias = Literal["active", "ready", "dead", "unknown job"]


@attrs.frozen
class JobResults:
    """A job's status and, when ready, its results as a list of replica lists."""

    status: JobStatus
    results: list[list[str]]


@attrs.frozen
class Event:
    """One line of a job's event log: when, on which host, what."""

    time: str
    host: str
    message: str


class Master(Protocol):
    """A Disco master as a client sees it: the job API of master-http.md."""

    def submit(self, jobpack: bytes) -> str:
        """Submit a job pack; the job's name. JobDictError/JobPackError/CommError if refused."""

    def results(self, jobname: str, timeout: float | None) -> JobResults:
        """The job's status and results, waiting up to ``timeout`` seconds for it to end."""

    def jobinfo(self, jobname: str) -> dict[str, Any]:
        """The master's job info object (master-http.md)."""

    def events(self, jobname: str, offset: int = 0) -> Iterator[Event]:
        """The job's events from ``offset``."""

    def raw_events(self, jobname: str, offset: int = 0) -> bytes:
        """The job's event log as the master wrote it, from byte ``offset``."""

    def jobpack(self, jobname: str) -> bytes:
        """The job pack as submitted."""

    def kill(self, jobname: str) -> None:
        """Stop the job's tasks; the job is dead."""

    def clean(self, jobname: str) -> None:
        """Forget the job's state on the master (its data stays)."""

    def purge(self, jobname: str) -> None:
        """Kill the job and remove everything it stored."""

    def jobs(self) -> list[tuple[float, str, str]]:
        """``(start time, status, jobname)`` for every job, newest first."""

    def stage_results(self, jobname: str, stage: str) -> list[list[str]]:
        """The outputs of one stage of the job so far, as replica lists."""

    @property
    def ddfs(self) -> Ddfs:
        """The master's DDFS."""

    @property
    def locality(self) -> Locality:
        """How a client on this machine reaches the master's data (local files or HTTP)."""
