"""The worker's conversation with its master, one typed method per exchange.

Wraps a :class:`~discoworker.app.ports.Transport`. What job code prints arrives here as text and
leaves as few ``MSG``s as possible: a real master kills a job that sends 10 in a second.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable

import attrs

from discoworker.app.ports import Transport
from discoworker.domain import protocol as p
from discoworker.domain.inputs import Replica, TaskInput
from discoworker.domain.task import TaskSpec
from discoworker.errors import ProtocolError

#: A master kills the job at 10 MSGs within a second and slows down past 5; stay well under.
MSG_BURST = 4
#: Printed text waits at most this long (seconds) before it is sent, unless the task ends first.
MSG_INTERVAL = 1.0
#: A real master keeps about 8 KiB of a MSG in its events: longer text goes in several MSGs.
MSG_CHUNK = 8000
#: Printed text above this many characters is sent at once (still within the rate limit).
MSG_BUFFER = 4 * MSG_CHUNK
#: At most this many MSGs per batch; text beyond is dropped, with a note saying how much, so
#: that a job printing megabytes is not held back for minutes by the rate limit.
MSG_MAX_CHUNKS = 16


@attrs.define
class MasterLine:
    """Typed requests to the master over a transport, with printed text batched into MSGs."""

    _transport: Transport
    _clock: Callable[[], float] = time.monotonic
    _sleep: Callable[[float], None] = time.sleep
    _text: list[str] = attrs.field(factory=list)
    _text_size: int = 0
    _text_since: float | None = None
    _sent_msgs: collections.deque[float] = attrs.field(factory=collections.deque)
    _ended: bool = False

    # -- the exchanges, in the order of a task's life -------------------------------------

    def say_hello(self, pid: int) -> None:
        """``WORKER``: announce protocol version 1.1 and our pid."""
        self._expect_ok(p.WorkerHello(pid=pid, version="1.1"))

    def ask_for_task(self) -> TaskSpec:
        """``TASK``: what this worker is to do."""
        reply = self._ask(p.TaskRequest())
        if not isinstance(reply, p.TaskReply):
            raise ProtocolError(f"TASK answered with {_name(reply)}, expected TASK")
        return reply.task

    def ask_for_inputs(
        self, *, exclude: Iterable[int] = (), include: Iterable[int] | None = None
    ) -> p.InputReply:
        """``INPUT``: the task's inputs, all of them or those included / not excluded."""
        if include is not None:
            request = p.InputRequest(mode="include", ids=tuple(include))
        else:
            ids = tuple(exclude)
            request = p.InputRequest(mode="exclude", ids=ids) if ids else p.InputRequest()
        reply = self._ask(request)
        if not isinstance(reply, p.InputReply):
            raise ProtocolError(f"INPUT answered with {_name(reply)}, expected INPUT")
        return reply

    def all_inputs(self) -> list[TaskInput]:
        """Every input of the task: ``INPUT`` polled with ``exclude`` until the master says done."""
        seen: dict[int, TaskInput] = {}
        while True:
            reply = self.ask_for_inputs(exclude=sorted(seen))
            for task_input in reply.inputs:
                seen.setdefault(task_input.id, task_input)
            if reply.flag == "done":
                return [seen[i] for i in sorted(seen)]

    def report_failed_replicas(self, input_id: int, rep_ids: Iterable[int]) -> tuple[Replica, ...]:
        """``INPUT_ERR`` with every replica id failed so far: the untried replicas, or ``()``."""
        reply = self._ask(p.InputError(input_id=input_id, rep_ids=tuple(rep_ids)))
        if isinstance(reply, p.Retry):
            return reply.replicas
        if isinstance(reply, p.Fail):
            return ()
        raise ProtocolError(f"INPUT_ERR answered with {_name(reply)}, expected RETRY or FAIL")

    def report_output(self, label: int, location: str, size: int) -> None:
        """``OUTPUT``: one output file, relative to the job home."""
        self._expect_ok(p.OutputReport(label=label, location=location, size=size))

    def done(self) -> None:
        """``DONE``: the task succeeded; the master answers by closing our input."""
        self._end(p.Done())

    def error(self, text: str) -> None:
        """``ERROR``: the task failed for a transient reason; the master retries it."""
        self._end(p.TaskError(text=text))

    def fatal(self, text: str) -> None:
        """``FATAL``: the job cannot succeed; the master ends it."""
        self._end(p.TaskFatal(text=text))

    # -- printed text ----------------------------------------------------------------------

    def write_text(self, text: str) -> None:
        """Queue printed text; it leaves as a ``MSG`` once enough time or text has gathered."""
        if not text or self._ended:
            return
        if self._text_since is None:
            self._text_since = self._clock()
        self._text.append(text)
        self._text_size += len(text)
        self._flush_text(force=False)

    def flush_text(self) -> None:
        """Send whatever printed text is queued, as one ``MSG`` (within the rate limit)."""
        self._flush_text(force=True)

    def _flush_text(self, *, force: bool) -> None:
        if not self._text:
            return
        if not force:
            due = self._text_since is not None and self._clock() - self._text_since >= MSG_INTERVAL
            if not due and self._text_size < MSG_BUFFER:
                return
        text = "".join(self._text).rstrip("\n")
        self._text.clear()
        self._text_size = 0
        self._text_since = None
        for chunk in chunk_text(text, MSG_CHUNK, MSG_MAX_CHUNKS):
            self._throttle()
            self._expect_ok(p.Message(text=chunk), flush=False)

    def _throttle(self) -> None:
        """Keep fewer than ``MSG_BURST`` + 1 MSGs within any second."""
        sent = self._sent_msgs
        now = self._clock()
        while sent and now - sent[0] >= 1.0:
            sent.popleft()
        if len(sent) >= MSG_BURST:
            self._sleep(1.0 - (now - sent[0]) + 0.01)
            sent.popleft()
        sent.append(self._clock())

    # -- plumbing --------------------------------------------------------------------------

    def _ask(self, message: p.WorkerMessage, *, flush: bool = True) -> p.MasterMessage:
        if self._ended:
            raise ProtocolError(f"{_name(message)} after the task ended")
        if flush:
            self._flush_text(force=False)
        self._transport.send(message)
        return self._transport.receive()

    def _expect_ok(self, message: p.WorkerMessage, *, flush: bool = True) -> None:
        reply = self._ask(message, flush=flush)
        if not isinstance(reply, p.Ok):
            raise ProtocolError(f"{_name(message)} answered with {_name(reply)}, expected OK")

    def _end(self, message: p.WorkerMessage) -> None:
        # Last words first, so that what the job printed precedes its end in the events.
        self._flush_text(force=True)
        self._ended = True
        self._transport.send(message)
        self._transport.close()


def chunk_text(text: str, size: int, most: int) -> list[str]:
    """``text`` in pieces of at most ``size`` UTF-8 bytes, cut at line ends where possible.

    Past ``most`` pieces, the rest is replaced by a note of how many characters were dropped.
    """
    chunks: list[str] = []
    rest = text
    while rest:
        if len(chunks) == most:
            kept = chunks[-1][: size // 2]
            dropped = len(rest) + len(chunks[-1]) - len(kept)
            chunks[-1] = (
                f"{kept}\n[discoworker: {dropped} more characters of printed output dropped: "
                "a Disco master takes few messages a second]"
            )
            break
        piece = rest[:size]
        while len(piece.encode("utf-8")) > size:
            piece = piece[: len(piece) * 3 // 4]
        if len(piece) < len(rest):
            cut = piece.rfind("\n")
            if cut > 0:
                piece = piece[: cut + 1]
        chunks.append(piece.rstrip("\n") or piece)
        rest = rest[len(piece) :]
    return [c for c in chunks if c]


def _name(message: object) -> str:
    name = getattr(message, "NAME", None)
    return name if isinstance(name, str) else type(message).__name__
