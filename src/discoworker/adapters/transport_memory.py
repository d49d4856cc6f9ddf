"""A master in process: the worker's messages and the replies cross as real frames, in memory.

:class:`ScriptedMaster` answers as the real 0.5.4 master does (protocol.md), so a whole task runs
inside a test or a notebook; :class:`MemoryTransport` is the wire between it and the worker,
keeping every byte each side wrote for comparison with recordings.
"""

from __future__ import annotations

import collections
import os

import attrs

from discoworker.domain import protocol as p
from discoworker.domain.inputs import TaskInput
from discoworker.domain.task import TaskSpec
from discoworker.errors import ProtocolError


@attrs.define
class ScriptedMaster:
    """Answers one worker the way a real master does, and remembers what it was told."""

    task: TaskSpec
    inputs: list[TaskInput] = attrs.field(factory=list)
    said: list[p.WorkerMessage] = attrs.field(factory=list)
    outputs: list[p.OutputReport] = attrs.field(factory=list)
    messages: list[str] = attrs.field(factory=list)
    ended_with: p.WorkerMessage | None = None

    def reply(self, message: p.WorkerMessage) -> p.MasterMessage | None:
        """The master's answer to ``message``; None where a real master says nothing."""
        self.said.append(message)
        if self.ended_with is not None:
            raise ProtocolError(f"{message.NAME} after {self.ended_with.NAME}: the worker is dead")
        match message:
            case p.WorkerHello(version=version):
                if version != "1.1":
                    raise ProtocolError(f"WORKER with unsupported version {version!r}")
                return p.Ok("ok")
            case p.TaskRequest():
                return p.TaskReply(self.task)
            case p.InputRequest(mode=mode, ids=ids):
                wanted = [
                    i
                    for i in self.inputs
                    if mode == "all" or (i.id in ids) == (mode == "include")
                ]
                return p.InputReply("done", tuple(wanted))
            case p.InputError(input_id=input_id, rep_ids=failed):
                known = {i.id: i for i in self.inputs}.get(input_id)
                left = () if known is None else tuple(
                    r for r in known.replicas if r.id not in failed
                )
                return p.Retry(left) if left else p.Fail()
            case p.Message(text=text):
                self.messages.append(text)
                return p.Ok("ok")
            case p.OutputReport(location=location):
                if os.path.isabs(location):
                    # The real master kills the worker without a word (invalid_output).
                    self.ended_with = message
                    return None
                self.outputs.append(message)
                return p.Ok("ok")
            case p.Done() | p.TaskError() | p.TaskFatal():
                self.ended_with = message
                return None
            case p.Ping():
                return p.Ok("pong")
        raise ProtocolError(f"unexpected message {message!r}")


@attrs.define
class MemoryTransport:
    """The wire between a worker and an in-process master; both byte streams are kept."""

    master: ScriptedMaster
    worker_bytes: bytearray = attrs.field(factory=bytearray)
    master_bytes: bytearray = attrs.field(factory=bytearray)
    _decoder: p.FrameDecoder = attrs.field(factory=p.FrameDecoder)
    _replies: collections.deque[p.MasterMessage] = attrs.field(factory=collections.deque)
    closed: bool = False

    def send(self, message: p.WorkerMessage) -> None:
        """Encode, decode on the master's side, and queue its reply (if it gives one)."""
        data = p.encode(message)
        self.worker_bytes += data
        for frame in self._decoder.feed(data):
            answer = self.master.reply(p.decode_worker_message(frame))
            if answer is not None:
                encoded = p.encode(answer)
                self.master_bytes += encoded
                self._replies.append(_decode_one(encoded))

    def receive(self) -> p.MasterMessage:
        """The master's next reply; ProtocolError where the master gave none."""
        if not self._replies:
            raise ProtocolError("no reply from the master: it has closed the worker's input")
        return self._replies.popleft()

    def close(self) -> None:
        """Nothing to wait for: the in-process master has already stopped listening."""
        self.closed = True


def _decode_one(data: bytes) -> p.MasterMessage:
    (frame,) = p.FrameDecoder().feed(data)
    return p.decode_master_message(frame)
