"""The worker's conversation with its master, one typed method per exchange.

Wraps a :class:`~discoworker.app.ports.Transport`. What job code prints arrives here as text.
All of it goes to the task's log file (``printed.log`` in the task's directory, one per
attempt); as ``MSG``s goes only what fits a budget a real master accepts (it kills a job that
sends 10 in a second), and never does printing wait for that budget: text past it is left
out of the ``MSG``s, with a note naming the log file where it is.
"""

from __future__ import annotations

import collections
import os
import re
import time
from collections.abc import Callable, Iterable
from typing import Protocol, TextIO

import attrs

from discoworker.app.ports import Transport
from discoworker.domain import protocol as p
from discoworker.domain.inputs import Replica, TaskInput
from discoworker.domain.task import TaskSpec
from discoworker.errors import ProtocolError

#: A master kills the job at 10 MSGs within a second and slows down past 5; stay well under.
#: Printed text uses one less, so that a task's last words always have a MSG of their own.
MSG_BURST = 4
#: Printed text waits at most this long (seconds) before it is sent, unless the task ends first.
MSG_INTERVAL = 1.0
#: A real master keeps about 8 KiB of a MSG in its events: text goes in pieces of this many
#: UTF-8 bytes, leaving room for a note of where the rest is.
MSG_CHUNK = 7000
#: Unsent text kept for MSGs (characters): what one flush sends (pieces are cut at line ends,
#: so a little less than full); past it the oldest unsent text is left out of the MSGs.
MSG_BUFFER = (MSG_BURST - 1) * (MSG_CHUNK - 500)
#: The file, in a task's own directory, that holds everything the task printed.
LOG_NAME = "printed.log"

_NOTE = re.compile(r"\[discoworker: [^\]]*? all printed text of this task is in (\S+)\]")


def log_note(left_out: int, url: str | None) -> str:
    """The note a MSG carries where printed text was left out of the MSGs."""
    where = (
        f"all printed text of this task is in {url}"
        if url
        else "the task has no log file to hold them"
    )
    return (
        f"[discoworker: {left_out} characters printed before this were left out of the "
        f"messages (a Disco master takes few a second); {where}]"
    )


def log_urls(text: str) -> list[str]:
    """The log file URLs the notes in a MSG's ``text`` name."""
    return _NOTE.findall(text)


class TextSource(Protocol):
    """Where printed text comes from (the worker's stand-in for stdout and stderr)."""

    def attach(self, sink: Callable[[str], None]) -> None:
        """Hand all text written from now on (and before) to ``sink``."""
        ...

    def flush(self) -> None:
        """Hand the text written so far to the sink now."""
        ...


@attrs.define
class MasterLine:
    """Typed requests to the master over a transport, with printed text batched into MSGs
    within the master's budget and kept whole in the task's log file."""

    _transport: Transport
    _clock: Callable[[], float] = time.monotonic
    _text: collections.deque[str] = attrs.field(factory=collections.deque)
    _text_size: int = 0
    _text_since: float | None = None
    _sent_msgs: collections.deque[float] = attrs.field(factory=collections.deque)
    _ended: bool = False
    _left_out: int = 0
    _log_path: str | None = None
    _log_url: str | None = None
    _log: TextIO | None = None
    _unlogged: list[str] | None = attrs.field(factory=list)
    _sources: list[TextSource] = attrs.field(factory=list)

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

    def collect(self, source: TextSource) -> None:
        """Take the text ``source`` gathers, all of it before each message to the master."""
        self._sources.append(source)
        source.attach(self.write_text)

    def keep_log(self, path: str, url: str) -> None:
        """Keep everything printed in the file ``path`` (created on the first text), which
        the master serves as ``url``; what was printed before goes in first."""
        self._log_path, self._log_url = path, url
        early, self._unlogged = self._unlogged, None
        for text in early or ():
            self._write_log(text)

    @property
    def log_url(self) -> str | None:
        """The URL of the task's log file, once :meth:`keep_log` named it."""
        return self._log_url

    def write_text(self, text: str) -> None:
        """Log printed text, and queue it for a ``MSG`` sent when enough time or text has
        gathered and the master's budget allows; never waits for that budget."""
        if not text or self._ended:
            return
        # Text still gathered by a source was written first (this may be our own status line).
        self._collect()
        if self._log is None and self._unlogged is not None:
            self._unlogged.append(text)
        else:
            self._write_log(text)
        if self._text_since is None:
            self._text_since = self._clock()
        self._text.append(text)
        self._text_size += len(text)
        self._flush_text(force=False)
        if self._text_size > MSG_BUFFER:
            self._trim()  # the budget is spent: the oldest unsent text waits in the log only

    def flush_text(self) -> None:
        """Send the queued printed text now, as far as the master's budget allows."""
        self._collect()
        self._flush_text(force=True)

    def _collect(self) -> None:
        for source in self._sources:
            source.flush()

    def _write_log(self, text: str) -> None:
        if self._log is None:
            if self._log_path is None:
                return
            try:
                os.makedirs(os.path.dirname(self._log_path), exist_ok=True)
                # surrogateescape: a line read from non-UTF-8 input is logged as its bytes.
                self._log = open(  # noqa: SIM115 - closed when the task ends
                    self._log_path, "a", encoding="utf-8", errors="surrogateescape"
                )
            except OSError:
                self._log_path = self._log_url = None
                return
        try:
            self._log.write(text)
        except OSError:
            self._close_log()
            self._log_path = self._log_url = None

    def _close_log(self) -> None:
        log, self._log = self._log, None
        if log is not None:
            try:
                log.close()
            except OSError:
                self._log_url = None

    def _trim(self) -> None:
        """Leave the oldest unsent text out of the MSGs, keeping the newest MSG_BUFFER."""
        text = self._text
        while len(text) > 1 and self._text_size - len(text[0]) >= MSG_BUFFER:
            dropped = text.popleft()
            self._text_size -= len(dropped)
            self._left_out += len(dropped)

    def _flush_text(self, *, force: bool, final: bool = False) -> None:
        if not self._text:
            return
        if not force:
            due = self._text_since is not None and self._clock() - self._text_since >= MSG_INTERVAL
            if not due and self._text_size < MSG_BUFFER:
                return
        slots = self._slots(final)
        if not slots:
            return  # the text waits for the budget (the oldest of it left out as more comes)
        text = _sendable("".join(self._text).rstrip("\n"))
        self._text.clear()
        self._text_size = 0
        self._text_since = None
        chunks = chunk_text(text, MSG_CHUNK)
        if len(chunks) > slots:
            if final:
                # The last words matter most when the task ends (its result, its error).
                self._left_out += sum(len(c) + 1 for c in chunks[:-slots])
                chunks = chunks[-slots:]
            else:
                rest = "\n".join(chunks[slots:])
                chunks = chunks[:slots]
                self._text.append(rest)
                self._text_size = len(rest)
                self._text_since = self._clock()
        if self._left_out and chunks:
            if self._log is not None:
                # The note's reader may fetch the file at once: what it names is there.
                self._log.flush()
            chunks[0] = f"{log_note(self._left_out, self._log_url)}\n{chunks[0]}"
            self._left_out = 0
        for chunk in chunks:
            self._sent_msgs.append(self._clock())
            self._expect_ok(p.Message(text=chunk), flush=False)

    def _slots(self, final: bool) -> int:
        """How many MSGs may go now: fewer than MSG_BURST in any second, one kept for the end."""
        sent = self._sent_msgs
        now = self._clock()
        while sent and now - sent[0] >= 1.0:
            sent.popleft()
        return max(0, (MSG_BURST if final else MSG_BURST - 1) - len(sent))

    # -- plumbing --------------------------------------------------------------------------

    def _ask(self, message: p.WorkerMessage, *, flush: bool = True) -> p.MasterMessage:
        if self._ended:
            raise ProtocolError(f"{_name(message)} after the task ended")
        if flush:
            self._collect()
            self._flush_text(force=False)
        self._transport.send(message)
        return self._transport.receive()

    def _expect_ok(self, message: p.WorkerMessage, *, flush: bool = True) -> None:
        reply = self._ask(message, flush=flush)
        if not isinstance(reply, p.Ok):
            raise ProtocolError(f"{_name(message)} answered with {_name(reply)}, expected OK")

    def _end(self, message: p.WorkerMessage) -> None:
        # Last words first, so that what the job printed precedes its end in the events; the
        # log is complete before the master hears the task ended.
        self._collect()
        if self._log is not None:
            try:
                self._log.flush()
            except OSError:
                self._log_url = None
        self._flush_text(force=True, final=True)
        self._close_log()
        self._ended = True
        self._transport.send(message)
        self._transport.close()


def chunk_text(text: str, size: int) -> list[str]:
    """``text`` in pieces of at most ``size`` UTF-8 bytes, cut at line ends where possible."""
    chunks: list[str] = []
    rest = text
    while rest:
        piece = rest[:size]
        while len(piece.encode("utf-8", "surrogatepass")) > size:
            piece = piece[: len(piece) * 3 // 4]
        if len(piece) < len(rest):
            cut = piece.rfind("\n")
            if cut > 0:
                piece = piece[: cut + 1]
        chunks.append(piece.rstrip("\n") or piece)
        rest = rest[len(piece) :]
    return [c for c in chunks if c]


def _sendable(text: str) -> str:
    """``text`` a master can parse: lone surrogates (bytes of non-UTF-8 input) as escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _name(message: object) -> str:
    name = getattr(message, "NAME", None)
    return name if isinstance(name, str) else type(message).__name__
