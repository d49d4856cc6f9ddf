"""One task run: start the job's worker program and speak the master's side of the protocol.

The worker is ``jobdict.worker`` inside the job home, run with the job home as working
directory and the node's environment (Disco settings: the node's own) plus ``jobenvs``. It writes
frames on its stderr (stdout is folded into the same pipe, as the real master does) and reads
the replies on its stdin. After ``DONE``, ``ERROR`` or ``FATAL`` nothing is replied: stdin is
closed and the worker killed (SIGKILL to its process group), as recorded from a real master.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Literal, TypeAlias

import attrs

from discoworker.adapters.embedded._log import get_logger
from discoworker.adapters.embedded.fork_server import ForkedTask
from discoworker.adapters.transport_stdio import LIFELINE_ENV
from discoworker.domain import protocol as p
from discoworker.domain.inputs import Replica, TaskInput
from discoworker.domain.task import TaskSpec
from discoworker.errors import ProtocolError

log = get_logger(__name__)

#: The settings a real master unsets before it starts a worker (and their like).
DISCO_SETTING_PREFIXES = ("DISCO_", "DDFS_")
#: A location with a scheme is a remote output (the master splits it as a URL).
_SCHEME = re.compile(r"[A-Za-z0-9+.-]+:")
#: How much of what a dying worker wrote is kept as its last words (the master's limit).
LAST_WORDS_MAX = 100 * 1024

OutcomeKind: TypeAlias = Literal["done", "error", "fatal", "killed"]
InputsFn: TypeAlias = Callable[
    [str, tuple[int, ...]], tuple[Literal["more", "done"], tuple[TaskInput, ...]] | None
]


@attrs.frozen
class Limits:
    """The master's patience: time to say ``WORKER``, to finish a started message, and the
    grace after a parse error during which the worker's last words are collected."""

    hello_timeout: float = 30.0
    stuck_timeout: float = 30.0
    last_words_grace: float = 1.0


@attrs.frozen
class LocalOutput:
    """An ``OUTPUT`` with a relative location: a file in the job home, listed in the index."""

    label: int
    location: str
    size: int


@attrs.frozen
class RemoteOutput:
    """An ``OUTPUT`` with a URL: an input of its own for the next stage."""

    label: int
    url: str
    size: int


@attrs.frozen
class Outcome:
    """How a task run ended: ``done`` with outputs, ``error`` (retry), ``fatal`` or ``killed``."""

    kind: OutcomeKind
    reason: str = ""
    local: tuple[LocalOutput, ...] = ()
    remote: tuple[RemoteOutput, ...] = ()
    exit_code: int | None = None


@attrs.frozen
class TaskLink:
    """What a task run asks of its job: inputs (may block; None when the job stops), the
    replicas of an input, and where its events go."""

    spec: TaskSpec
    inputs: InputsFn
    replicas: Callable[[int], tuple[Replica, ...] | None]
    event: Callable[[str], None]


def worker_env(
    jobenvs: Mapping[str, str],
    base: Mapping[str, str] | None = None,
    settings: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The node's environment minus every Disco setting, then ``settings``, then ``jobenvs``.

    ``settings`` is what a real node's settings file tells its workers (``DISCO_PORT``,
    ``DISCO_MASTER``...): the original worker reads them, not the TASK reply, to reach the
    master. This Python's own ``bin`` comes first on ``PATH``: a worker program's ``#!/usr/bin/env
    python3`` then runs where discoworker is installed, as ``WORKER_PATH`` does on a real node.
    """
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if not k.startswith(DISCO_SETTING_PREFIXES)
    }
    bindir = os.path.dirname(sys.executable)
    env["PATH"] = os.pathsep.join(p for p in (bindir, env.get("PATH", "")) if p)
    env.update(settings or {})
    env.update(jobenvs)
    return env


class _Lifeline:
    """This process's lifeline pipe, made on first use."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.fds: tuple[int, int] | None = None

    def read_end(self) -> int:
        with self.lock:
            if self.fds is None:
                self.fds = os.pipe()
            return self.fds[0]

    def forget(self) -> None:
        # A forked child (multiprocessing in the client) must not keep its parent's workers
        # alive; another thread may have held the lock at the fork.
        self.lock = threading.Lock()
        for fd in self.fds or ():
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = None


_LIFELINE = _Lifeline()
os.register_at_fork(after_in_child=_LIFELINE.forget)


def lifeline() -> int:
    """The read end of this process's lifeline pipe, which every worker inherits.

    Nothing is ever written to it and only this process holds the write end (not inherited,
    closed in forked children), so a worker reads end of file exactly when its master's
    process is gone, however it died: it then kills itself and its children
    (``transport_stdio.watch_lifeline``).
    """
    return _LIFELINE.read_end()


def _shown(frame: p.Frame) -> str:
    """A frame as text for the log, long payloads cut (but not a task's last words)."""
    keep = len(frame.payload) if frame.name in ("ERROR", "FATAL") else 400
    payload = frame.payload[:keep].decode("utf-8", "replace")
    more = " ..." if len(frame.payload) > keep else ""
    return f"{frame.name} {len(frame.payload)} {payload}{more}"


def elapsed(seconds: float) -> str:
    """``H:MM:SS.mmm``, as the master writes durations in its events."""
    whole, millis = divmod(round(seconds * 1000), 1000)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}.{millis:03d}"


class _End(Exception):
    """The conversation is over; carries the outcome."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.kind)
        self.outcome = outcome


@attrs.define
class WorkerProcess:
    """One run of one task: a subprocess and the conversation with it (run by :meth:`run`)."""

    _link: TaskLink
    _command: Sequence[str]
    _cwd: Path
    _env: Mapping[str, str]
    _limits: Limits = Limits()
    #: Starts the task as a fork of the job's fork server (``fork_server.ForkServer.spawn``);
    #: it may decline (None), and then the program runs as a subprocess.
    _spawn: Callable[[int, int], ForkedTask | None] | None = None
    _proc: subprocess.Popen[bytes] | ForkedTask | None = attrs.field(default=None, init=False)
    _stopped: threading.Event = attrs.field(factory=threading.Event, init=False)
    _worker_pid: int | None = attrs.field(default=None, init=False)
    _local: list[LocalOutput] = attrs.field(factory=list, init=False)
    _remote: list[RemoteOutput] = attrs.field(factory=list, init=False)
    _unparsed: bytearray = attrs.field(factory=bytearray, init=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False)
    _started: float = attrs.field(factory=time.monotonic, init=False)

    @property
    def _name(self) -> str:
        return f"{self._link.spec.stage}:{self._link.spec.taskid}"

    def stop(self) -> None:
        """Kill the worker from another thread (the job was killed or died)."""
        self._stopped.set()
        self._kill()

    def run(self, on_done: Callable[[Outcome], None] | None = None) -> Outcome:
        """Start the worker, converse until it ends, kill it; how it ended.

        ``on_done`` is told a task's DONE as soon as it is said, before the worker is killed
        and reaped: its slot may take the next task meanwhile (its exit code is not known yet).
        """
        line = lifeline()
        read_fd, write_fd = os.pipe()
        try:
            with self._lock:
                if self._stopped.is_set():
                    return Outcome("killed", "the job was stopped")
                if self._spawn is not None:
                    self._proc = self._spawn(write_fd, line)
                if self._proc is None:
                    # Only a worker started afresh needs the environment (a fork has its own).
                    env = {**self._env, LIFELINE_ENV: str(line)}
                    self._proc = self._popen(env, write_fd, line)
                self._started = time.monotonic()
        except OSError as e:
            os.close(read_fd)
            return Outcome("error", f"Worker could not be started: {e}")
        finally:
            os.close(write_fd)
        try:
            outcome = self._converse(read_fd)
            if on_done is not None and outcome.kind == "done" and not self._stopped.is_set():
                on_done(outcome)
        finally:
            os.close(read_fd)
            self._kill()
        code = self._proc.wait()
        if self._stopped.is_set() and outcome.kind != "done":
            return Outcome("killed", "the job was stopped", exit_code=code)
        return attrs.evolve(outcome, exit_code=code)

    def _popen(self, env: Mapping[str, str], write_fd: int, line: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            list(self._command),
            cwd=self._cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=write_fd,
            stderr=write_fd,
            start_new_session=True,
            close_fds=True,
            pass_fds=(line,),
        )

    # --- the conversation -----------------------------------------------------------------

    def _converse(self, fd: int) -> Outcome:
        decoder = p.FrameDecoder()
        started = time.monotonic()
        partial_since: float | None = None
        said_hello = False
        while True:
            deadlines = []
            if not said_hello:
                deadlines.append(started + self._limits.hello_timeout)
            if partial_since is not None:
                deadlines.append(partial_since + self._limits.stuck_timeout)
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            ready, _, _ = select.select([fd], [], [], timeout)
            if self._stopped.is_set():
                return Outcome("killed", "the job was stopped")
            if not ready:
                if partial_since is not None and (
                    said_hello or partial_since + self._limits.stuck_timeout <= time.monotonic()
                ):
                    return self._died("Worker stuck in the middle of a message")
                return self._died(
                    f"Worker did not say WORKER within {self._limits.hello_timeout:g} s"
                )
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return self._crashed()
            self._unparsed += chunk
            try:
                frames = decoder.feed(chunk)
            except ProtocolError as e:
                return self._parse_error(fd, e)
            # What is left unparsed is the unfinished frame: possible last words.
            keep = decoder.pending
            del self._unparsed[: len(self._unparsed) - keep]
            for frame in frames:
                try:
                    message = p.decode_worker_message(frame)
                except ProtocolError as e:
                    body = frame.payload.decode("utf-8", "replace")
                    self._link.event(f"WARNING: [{self._name}] {e}, body:\n{body}")
                    return Outcome("fatal", f"Worker died without output ({e})")
                if not said_hello and not isinstance(message, p.WorkerHello):
                    return Outcome(
                        "fatal", f"Worker said {message.NAME} before WORKER: protocol violation"
                    )
                said_hello = True
                log.debug("worker.said", task=self._name, message=_shown(frame))
                try:
                    reply = self._handle(message)
                except _End as end:
                    return end.outcome
                if reply is not None and not self._send(reply):
                    return self._crashed()
            if not keep:
                partial_since = None
            elif partial_since is None:
                partial_since = time.monotonic()

    def _send(self, reply: p.MasterMessage) -> bool:
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        data = p.encode(reply)
        log.debug("master.replied", task=self._name, message=data[:400].decode("ascii", "replace"))
        try:
            proc.stdin.write(data)
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return False
        return True

    def _handle(self, message: p.WorkerMessage) -> p.MasterMessage | None:
        link = self._link
        match message:
            case p.WorkerHello(pid=pid, version=version):
                if version != p.VERSION:
                    raise _End(Outcome("fatal", f"Worker speaks protocol version {version!r}, "
                                                f"not {p.VERSION}"))
                self._worker_pid = pid
                return p.Ok("ok")
            case p.TaskRequest():
                return p.TaskReply(link.spec)
            case p.InputRequest(mode=mode, ids=ids):
                answer = link.inputs(mode, tuple(ids))
                if answer is None:
                    raise _End(Outcome("killed", "the job was stopped"))
                flag, items = answer
                return p.InputReply(flag, items)
            case p.InputError(input_id=input_id, rep_ids=failed):
                replicas = link.replicas(input_id)
                left = tuple(r for r in replicas or () if r.id not in set(failed))
                return p.Retry(left) if left else p.Fail()
            case p.Message(text=text):
                link.event(f"MSG: [{self._name}] {text}")
                return p.Ok("ok")
            case p.OutputReport(label=label, location=location, size=size):
                return self._output(label, location, size)
            case p.Done():
                took = elapsed(time.monotonic() - self._started)
                link.event(f"DONE: [{self._name}] Task finished in {took}")
                raise _End(Outcome("done", local=tuple(self._local), remote=tuple(self._remote)))
            case p.TaskError(text=text):
                # The master records the text once, with its decision (_task_failed).
                raise _End(Outcome("error", text))
            case p.TaskFatal(text=text):
                raise _End(Outcome("fatal", text))
            case p.Ping():
                # The protocol document promises OK "pong"; a real 0.5.4 master kills the job.
                return p.Ok("pong")
        raise _End(Outcome("fatal", f"unexpected message {message!r}"))

    def _output(self, label: int, location: str, size: int) -> p.MasterMessage | None:
        if _SCHEME.match(location):
            if any(c.isspace() for c in location):
                raise _End(Outcome("fatal", f"OUTPUT URL with whitespace: {location!r}"))
            self._remote.append(RemoteOutput(label, location, size))
            return p.Ok("ok")
        path = PurePosixPath(location)
        if path.is_absolute():
            # The real master: invalid_output, no reply, the task is retried.
            self._link.event(f"WARNING: [{self._name}] invalid_output {location!r}")
            raise _End(Outcome("error", f"invalid_output: absolute path {location!r}"))
        if not location or ".." in path.parts or any(c.isspace() for c in location):
            # The index line format cannot hold these, and '..' would leave the job home.
            raise _End(Outcome("fatal", f"invalid_output: unusable location {location!r}"))
        self._local.append(LocalOutput(label, location, size))
        return p.Ok("ok")

    # --- endings ------------------------------------------------------------------------

    def _last_words(self) -> str:
        return bytes(self._unparsed[:LAST_WORDS_MAX]).decode("utf-8", "replace")

    def _died(self, why: str) -> Outcome:
        self._link.event(f"WARNING: [{self._name}] {why}")
        words = self._last_words()
        text = f"Worker died. Last words:\n{words}" if words else "Worker died without output"
        return Outcome("error", f"{why}. {text}")

    def _crashed(self) -> Outcome:
        proc = self._proc
        assert proc is not None
        code = proc.wait()
        self._link.event(f"WARNING: [{self._name}] Worker crashed! (exit code: {code})")
        words = self._last_words()
        if words:
            return Outcome("error", f"Worker died. Last words:\n{words}", exit_code=code)
        return Outcome("error", "Worker died without output", exit_code=code)

    def _parse_error(self, fd: int, error: ProtocolError) -> Outcome:
        text = str(error)
        self._link.event(f"WARNING: [{self._name}] Could not parse worker event: {text}")
        if "not valid JSON" in text:
            # A payload that is not JSON ends the job (protocol.md), not just the task.
            return Outcome("fatal", f"Worker died without output ({text})")
        # Collect what else it says for a short while: its traceback, most likely.
        deadline = time.monotonic() + self._limits.last_words_grace
        while len(self._unparsed) < LAST_WORDS_MAX:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                break
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            self._unparsed += chunk
        return Outcome("error", f"Worker died. Last words:\n{self._last_words()}")

    def _kill(self) -> None:
        with self._lock:
            proc = self._proc
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        if proc.returncode is None:
            # Children first (the whole session), then the worker itself.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        pid = self._worker_pid
        if pid is not None and pid != proc.pid:
            # The pid given in WORKER, but only one of ours: never a stranger's process.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if os.getpgid(pid) == proc.pid:
                    os.kill(pid, signal.SIGKILL)
