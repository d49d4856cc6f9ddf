"""A real master, replayed: the recorded replies of a Disco 0.5.4 master fed to our worker.

:class:`Recording` reads one recorded task conversation (a task directory of
``../shared/golden/real-master``: ``master_to_worker.bin`` and ``worker_to_master_stderr.bin``)
into exchanges, each a worker message and the master's reply. :class:`ReplayMaster` is a
:class:`~discoworker.app.ports.Transport` that answers our worker with those recorded replies,
in order, and refuses (ProtocolError naming the step) any message a real master would not
accept at that point. Like a mock network backend replaying canned bytes, it needs no master.

Matching: each message of ours takes the reply of the next recorded exchange of the same kind
(an ``INPUT`` or ``INPUT_ERR`` only that of an equal request, ``INPUT ""`` being
``["exclude", []]``), skipping recorded ``MSG`` and ``INPUT`` exchanges our worker need not
repeat. Where nothing recorded matches, the reply is *derived* by the real master's rules
(protocol.md) from the recorded inputs, and the step says so (:attr:`ReplayMaster.derived`).

The recording machine's paths do not exist here: ``task_overrides`` replaces fields of the
recorded ``TASK`` reply (typically ``jobfile``, ``disco_data`` and ``ddfs_data``). Where the
recorded worker ended before asking for its inputs, ``known_inputs`` gives the ones the master
had for the task, so that their replies can be derived.

A recorded worker that broke the protocol (a line that is no frame, a wrong length) is refused
by :meth:`Recording.load`, as the real master refused it; ``upto_fault=True`` keeps the
exchanges before the fault (and the fault in :attr:`Recording.fault`), to replay a worker of
ours that does the same job without the fault. :meth:`ReplayMaster.feed` takes raw bytes, as
written to a worker's stderr, and parses them as the master does.
"""

from __future__ import annotations

import collections
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, Literal

import attrs

from discoworker.domain import protocol as p
from discoworker.domain.inputs import TaskInput
from discoworker.domain.task import TaskSpec
from discoworker.errors import ProtocolError

#: The messages after which a real master says nothing more: it closes stdin and kills.
ENDINGS: Final = frozenset({"DONE", "ERROR", "FATAL"})
#: Recorded exchanges our worker may leave out: it may ask for inputs and print differently.
SKIPPABLE: Final = frozenset({"MSG", "INPUT"})
#: A real master kills a job whose worker has this many MSGs queued within a second.
MSG_KILL: Final = 10
# Where each message may come in a task's life; a message may not go back to an earlier phase.
_PHASE: Final = {
    "WORKER": 0, "TASK": 1, "INPUT": 2, "INPUT_ERR": 2, "OUTPUT": 3,
    "DONE": 4, "ERROR": 4, "FATAL": 4,
}
# The master reads a location with a scheme as a remote output (protocol.md, OUTPUT locations).
_SCHEME: Final = re.compile(r"[A-Za-z0-9+.-]+:")
# The original's relative outputs: ``<2 hex>/<task uid>/<file>``.
_TASK_PATH: Final = re.compile(r"[0-9a-f]{2}/[^/]+/[^/]+\Z")


def _has_reply(name: str) -> bool:
    # PING is refused without a reply (recorded: job5); the endings get none either.
    return name not in ENDINGS and name != "PING"


@attrs.frozen
class Exchange:
    """One recorded worker message, its bytes, and the master's reply bytes (None: none)."""

    message: p.WorkerMessage
    sent: bytes
    reply: bytes | None


@attrs.frozen
class Recording:
    """One task's recorded conversation with a real master, as exchanges in order."""

    where: str
    exchanges: tuple[Exchange, ...]
    #: Why the master could not parse the recorded worker's bytes past :attr:`exchanges`.
    fault: str | None = None

    @classmethod
    def load(cls, task_dir: str | Path, *, upto_fault: bool = False) -> Recording:
        """The recording of a task directory of ``golden/real-master``.

        ProtocolError where the recorded worker's bytes break the protocol, unless
        ``upto_fault``: then the exchanges before the fault, and the fault.
        """
        where = Path(task_dir)
        return cls.parse(
            (where / "worker_to_master_stderr.bin").read_bytes(),
            (where / "master_to_worker.bin").read_bytes(),
            where=f"{where.parent.name}/{where.name}",
            upto_fault=upto_fault,
        )

    @classmethod
    def parse(
        cls, worker: bytes, master: bytes, where: str = "recording", *, upto_fault: bool = False
    ) -> Recording:
        """Pair each worker frame with the master's next reply (the protocol is synchronous)."""
        sent, fault = _frames_upto_fault(worker)
        if fault is not None and not upto_fault:
            raise ProtocolError(f"{where}: the worker's recorded bytes do not parse: {fault}")
        replies = collections.deque(_frames(master, where, "master"))
        exchanges: list[Exchange] = []
        for frame in sent:
            message = p.decode_worker_message(frame)
            reply = replies.popleft() if _has_reply(frame.name) and replies else None
            exchanges.append(Exchange(message, p.encode_frame(frame), _bytes_of(reply)))
        if replies:
            raise ProtocolError(f"{where}: {len(replies)} master frames answer no worker message")
        return cls(where, tuple(exchanges), fault)

    def _replies_to(self, name: str) -> list[p.MasterMessage]:
        return [
            _decode_reply(e.reply) for e in self.exchanges
            if name == e.message.NAME and e.reply is not None
        ]

    @property
    def task(self) -> TaskSpec:
        """The recorded ``TASK`` reply."""
        for reply in self._replies_to("TASK"):
            if isinstance(reply, p.TaskReply):
                return reply.task
        raise ProtocolError(f"{self.where}: the master sent no TASK")

    @property
    def inputs(self) -> dict[int, TaskInput]:
        """Every input the master gave, by id (the master's input list, as far as recorded)."""
        found: dict[int, TaskInput] = {}
        for reply in self._replies_to("INPUT"):
            if isinstance(reply, p.InputReply):
                for task_input in reply.inputs:
                    found.setdefault(task_input.id, task_input)
        return found

    @property
    def said(self) -> list[p.WorkerMessage]:
        """The recorded worker's messages, in order."""
        return [e.message for e in self.exchanges]

    @property
    def names(self) -> frozenset[str]:
        """The kinds of message the recorded worker sent."""
        return frozenset(e.message.NAME for e in self.exchanges)

    @property
    def outputs(self) -> list[p.OutputReport]:
        """The recorded worker's ``OUTPUT``s."""
        return [m for m in self.said if isinstance(m, p.OutputReport)]

    @property
    def ended_with(self) -> str | None:
        """``DONE``, ``ERROR`` or ``FATAL`` as the recorded worker ended, or None."""
        last = self.said[-1].NAME if self.exchanges else None
        return last if last in ENDINGS else None


@attrs.frozen
class Step:
    """One message of our worker in a replay, and where its reply came from."""

    number: int
    name: str
    source: Literal["recorded", "derived", "none"]


@attrs.define
class ReplayMaster:
    """A :class:`~discoworker.app.ports.Transport` answering with a real master's recording.

    ``task_overrides`` replaces fields of the recorded ``TASK`` reply (the recording machine's
    ``jobfile`` and data dirs do not exist here). ``extra_names`` are message kinds the
    recorded worker did not send that a test expects ours to (e.g. ``ERROR`` in a variant).
    ``known_inputs`` are inputs the master had for the task beyond the recorded ones (where
    the recorded worker never asked), for derived ``INPUT`` replies.
    """

    recording: Recording
    task_overrides: Mapping[str, Any] = attrs.field(factory=dict)
    extra_names: frozenset[str] = frozenset()
    known_inputs: Mapping[int, TaskInput] = attrs.field(factory=dict)
    clock: Callable[[], float] = time.monotonic
    worker_bytes: bytearray = attrs.field(factory=bytearray)
    master_bytes: bytearray = attrs.field(factory=bytearray)
    said: list[p.WorkerMessage] = attrs.field(factory=list)
    steps: list[Step] = attrs.field(factory=list)
    outputs: list[p.OutputReport] = attrs.field(factory=list)
    messages: list[str] = attrs.field(factory=list)
    ended_with: p.WorkerMessage | None = None
    closed: bool = False
    _cursor: int = 0
    _phase: int = -1
    _given: dict[int, TaskInput] = attrs.field(factory=dict)
    _failed: dict[int, tuple[int, ...]] = attrs.field(factory=dict)
    _msg_times: collections.deque[float] = attrs.field(factory=collections.deque)
    _decoder: p.FrameDecoder = attrs.field(factory=p.FrameDecoder)
    _reply_decoder: p.FrameDecoder = attrs.field(factory=p.FrameDecoder)
    _replies: collections.deque[p.MasterMessage] = attrs.field(factory=collections.deque)

    @property
    def task(self) -> TaskSpec:
        """The ``TASK`` reply our worker gets: the recorded one with the overrides."""
        return attrs.evolve(self.recording.task, **self.task_overrides)

    @property
    def derived(self) -> list[str]:
        """The steps answered by the master's rules, not by a recorded reply."""
        return [f"{s.number}:{s.name}" for s in self.steps if s.source == "derived"]

    # -- the Transport port ----------------------------------------------------------------

    def send(self, message: p.WorkerMessage) -> None:
        """Encode as the worker would, parse as the master does, queue the replayed reply."""
        reply = self.feed(p.encode(message))
        if reply:
            self._replies.extend(
                p.decode_master_message(f) for f in self._reply_decoder.feed(reply)
            )

    def receive(self) -> p.MasterMessage:
        """The next replayed reply; ProtocolError where the real master said nothing."""
        if not self._replies:
            raise ProtocolError("no reply from the master: it has closed the worker's input")
        return self._replies.popleft()

    def close(self) -> None:
        """The worker's last word is said (or its stream ends here).

        ProtocolError if it stopped inside a frame: the real master waits for the rest, then
        ends the task ("Worker stuck in the middle of a message").
        """
        self.closed = True
        try:
            self._decoder.close()
        except ProtocolError as exc:
            raise ProtocolError(f"{self._where()}: the master refuses it: {exc}") from None

    # -- the master's side, usable over pipes too ------------------------------------------

    def feed(self, data: bytes) -> bytes:
        """The reply bytes a real master writes for ``data``, bytes as a worker writes them.

        ProtocolError, as the real master ends the task, for bytes it cannot parse (a line
        that is no frame: ``invalid_type``/``invalid_length``), even after good frames.
        """
        self.worker_bytes += data
        replies = bytearray()
        try:
            frames = self._decoder.feed(data)
        except ProtocolError as exc:
            raise ProtocolError(f"{self._where()}: the master refuses it: {exc}") from None
        for frame in frames:
            reply = self.answer(frame)
            if reply is not None:
                replies += reply
        try:
            # A fault after the frames above stays pending in the decoder: raise it now.
            self._decoder.feed(b"")
        except ProtocolError as exc:
            raise ProtocolError(f"{self._where()}: the master refuses it: {exc}") from None
        return bytes(replies)

    def _where(self) -> str:
        return f"{self.recording.where}, step {len(self.steps) + 1}"

    def answer(self, frame: p.Frame) -> bytes | None:
        """The reply bytes a real master sends for ``frame``; ProtocolError if it refuses it."""
        number = len(self.steps) + 1
        where = f"{self.recording.where}, step {number} ({frame.name})"
        try:
            message = p.decode_worker_message(frame)
        except ProtocolError as exc:
            raise ProtocolError(f"{where}: the master refuses it: {exc}") from None
        self.said.append(message)
        self._check(message, where)
        reply, source = self._reply(message)
        self.steps.append(Step(number, message.NAME, source))
        if reply is not None:
            self.master_bytes += reply
        return reply

    def _check(self, message: p.WorkerMessage, where: str) -> None:
        name = message.NAME
        if self.ended_with is not None:
            raise ProtocolError(
                f"{where}: after {self.ended_with.NAME} a real master has closed the worker's "
                "input and killed it"
            )
        if isinstance(message, p.Ping):
            raise ProtocolError(
                f"{where}: a real 0.5.4 master refuses PING (\"Unknown message type 'PING'\"); "
                "the job dies"
            )
        allowed = self.recording.names | self.extra_names | {"MSG"}
        if name not in allowed:
            raise ProtocolError(
                f"{where}: the recorded worker never sent {name} (it sent "
                f"{', '.join(sorted(self.recording.names))})"
            )
        phase = _PHASE.get(name)
        if self._phase < 0 and name != "WORKER":
            raise ProtocolError(f"{where}: the first message must be WORKER")
        if phase is not None:
            if name == "WORKER" and self._phase >= 0:
                raise ProtocolError(f"{where}: a second WORKER")
            if name == "TASK" and self._phase != 0:
                raise ProtocolError(f"{where}: TASK must come once, right after WORKER")
            if phase >= 2 and self._phase < 1:
                raise ProtocolError(f"{where}: {name} before TASK")
            if phase < self._phase:
                raise ProtocolError(
                    f"{where}: {name} out of order: the recorded worker sends it before "
                    f"{'OUTPUT' if self._phase == 3 else 'INPUT'}"
                )
            self._phase = phase
        match message:
            case p.WorkerHello(pid=pid, version=version):
                if version != p.VERSION or pid <= 0:
                    raise ProtocolError(
                        f"{where}: WORKER needs version 1.1 and a pid, got {message}"
                    )
            case p.InputError(input_id=input_id, rep_ids=rep_ids):
                self._check_input_error(input_id, rep_ids, where)
            case p.OutputReport():
                _check_output(message, where)
            case p.Message():
                self._check_rate(where)
            case _:
                pass

    def _check_input_error(self, input_id: int, rep_ids: tuple[int, ...], where: str) -> None:
        given = self._given.get(input_id)
        if given is None:
            raise ProtocolError(f"{where}: INPUT_ERR for input {input_id}, never given")
        known = {r.id for r in given.replicas}
        if not rep_ids or not set(rep_ids) <= known:
            raise ProtocolError(
                f"{where}: INPUT_ERR replica ids {list(rep_ids)} are not among {sorted(known)}"
            )
        before = self._failed.get(input_id, ())
        if not set(before) <= set(rep_ids):
            # The master forgets earlier INPUT_ERRs: a shorter list would get failed ones back.
            raise ProtocolError(
                f"{where}: INPUT_ERR must list every replica failed so far {list(before)}, "
                f"got {list(rep_ids)}"
            )
        self._failed[input_id] = rep_ids

    def _check_rate(self, where: str) -> None:
        now = self.clock()
        times = self._msg_times
        while times and now - times[0] >= 1.0:
            times.popleft()
        times.append(now)
        if len(times) >= MSG_KILL:
            raise ProtocolError(
                f"{where}: Worker is behaving badly: Sent {len(times)} events in a second, "
                "ignoring replies."
            )

    def _reply(
        self, message: p.WorkerMessage
    ) -> tuple[bytes | None, Literal["recorded", "derived", "none"]]:
        if message.NAME in ENDINGS:
            self.ended_with = message
            self._match(message)
            return None, "none"
        if isinstance(message, p.Message):
            self.messages.append(message.text)
        elif isinstance(message, p.OutputReport):
            self.outputs.append(message)
        recorded = self._match(message)
        if isinstance(message, p.TaskRequest):
            # Re-encoded: with no overrides these are the recorded bytes (same field order).
            reply: bytes | None = p.encode(p.TaskReply(self.task))
            source: Literal["recorded", "derived", "none"] = "recorded"
        elif recorded is not None:
            reply, source = recorded, "recorded"
        else:
            reply, source = self._derive(message), "derived"
        if reply is not None:
            self._learn(_decode_reply(reply))
        return reply, source

    def _match(self, message: p.WorkerMessage) -> bytes | None:
        """The reply of the next recorded exchange like ``message``; consumes up to it."""
        exchanges = self.recording.exchanges
        for index in range(self._cursor, len(exchanges)):
            recorded = exchanges[index]
            if _same_request(message, recorded.message):
                self._cursor = index + 1
                return recorded.reply
            if recorded.message.NAME not in SKIPPABLE:
                return None
        return None

    def _derive(self, message: p.WorkerMessage) -> bytes:
        """The reply by the real master's rules (protocol.md), from the recorded inputs."""
        match message:
            case p.InputRequest(mode=mode, ids=ids):
                inputs = self._inputs().values()
                wanted = [
                    i for i in inputs if mode == "all" or (i.id in ids) == (mode == "include")
                ]
                return p.encode(p.InputReply("done", tuple(wanted)))
            case p.InputError(input_id=input_id, rep_ids=failed):
                known = self._inputs().get(input_id)
                left = () if known is None else tuple(
                    r for r in known.replicas if r.id not in failed
                )
                return p.encode(p.Retry(left) if left else p.Fail())
        return p.encode(p.Ok("ok"))

    def _inputs(self) -> dict[int, TaskInput]:
        # The master's inputs for the task: the recorded ones, else the known ones.
        return {**self.known_inputs, **self.recording.inputs}

    def _learn(self, reply: p.MasterMessage) -> None:
        # What the master has told the worker: the inputs and replicas it may refer to.
        if isinstance(reply, p.InputReply):
            for task_input in reply.inputs:
                self._given[task_input.id] = task_input
        elif isinstance(reply, p.Retry) and self.said:
            last = self.said[-1]
            if isinstance(last, p.InputError) and last.input_id in self._given:
                given = self._given[last.input_id]
                ids = {r.id for r in given.replicas}
                extra = tuple(r for r in reply.replicas if r.id not in ids)
                self._given[last.input_id] = attrs.evolve(
                    given, replicas=(*given.replicas, *extra)
                )


def _same_request(ours: p.WorkerMessage, recorded: p.WorkerMessage) -> bool:
    if ours.NAME != recorded.NAME:
        return False
    if isinstance(ours, p.InputRequest) and isinstance(recorded, p.InputRequest):
        return _normal(ours) == _normal(recorded)
    if isinstance(ours, p.InputError):
        return ours == recorded
    return True


def _normal(request: p.InputRequest) -> tuple[str, tuple[int, ...]]:
    # INPUT "" and INPUT ["exclude", []] both ask for every input.
    if request.mode == "all":
        return ("exclude", ())
    return (request.mode, tuple(sorted(request.ids)))


def _check_output(report: p.OutputReport, where: str) -> None:
    """A location the real master takes as this task's local output (protocol.md)."""
    location = report.location
    fault = None
    if report.label < 0 or report.size < 0:
        fault = "label and size must be non-negative"
    elif location.startswith("/"):
        fault = "an absolute path: the master kills the worker without a reply (invalid_output)"
    elif _SCHEME.match(location):
        fault = "it looks like 'name:...', which the master takes for a remote URL"
    elif any(c.isspace() for c in location):
        fault = "whitespace breaks the line of the master's index file"
    elif ".." in location.split("/"):
        fault = "'..' leaves the job home"
    elif not _TASK_PATH.match(location):
        fault = "not <2 hex>/<task uid>/<file> as the original writes it"
    if fault is not None:
        raise ProtocolError(f"{where}: OUTPUT location {location!r}: {fault}")


def _frames_upto_fault(data: bytes) -> tuple[list[p.Frame], str | None]:
    """The frames before the first fault, and the fault (None: the bytes are all frames)."""
    decoder = p.FrameDecoder()
    try:
        frames = decoder.feed(data)
    except ProtocolError as exc:
        return [], str(exc)
    try:
        decoder.close()
    except ProtocolError as exc:
        return frames, str(exc)
    return frames, None


def _frames(data: bytes, where: str, side: str) -> list[p.Frame]:
    decoder = p.FrameDecoder()
    try:
        frames = decoder.feed(data)
        decoder.close()
    except ProtocolError as exc:
        raise ProtocolError(f"{where}: the {side}'s recorded bytes do not parse: {exc}") from None
    return frames


def _bytes_of(frame: p.Frame | None) -> bytes | None:
    return None if frame is None else p.encode_frame(frame)


def _decode_reply(data: bytes) -> p.MasterMessage:
    (frame,) = p.FrameDecoder().feed(data)
    return p.decode_master_message(frame)


__all__ = ["ENDINGS", "Exchange", "Recording", "ReplayMaster", "Step"]
