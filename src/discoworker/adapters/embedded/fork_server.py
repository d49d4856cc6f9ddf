"""A job's fork server: its tasks start as forks of a process that imported discoworker once.

Starting a Python interpreter and importing discoworker costs a task most of its fixed cost.
For a job whose worker is discoworker's own program (``discoworker_task.py``, run by
``python3``), the embedded master starts one server per job, in the job home with the job's
environment, which preloads the job's ``lib/`` copy of discoworker; each task is then a fresh
fork of it (``fork_server_main``): its own process and session, fds 0-2 its protocol pipes,
the lifeline inherited. Anything else (another worker program, no ``pidfd`` support, a server
that cannot start) runs as a plain subprocess. ``DISCOWORKER_FORK_SERVER=0`` turns it off.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from discoworker.adapters.embedded._log import get_logger
from discoworker.adapters.transport_stdio import LIFELINE_ENV

log = get_logger(__name__)

#: The worker program a fork server can run (discoworker's own, see ``app.worker``).
FORKABLE_PROGRAM = "discoworker_task.py"
_SHEBANG = b"#!/usr/bin/env python3\n"
#: Set to ``0`` to start every task as a new interpreter.
SWITCH_ENV = "DISCOWORKER_FORK_SERVER"
#: How long a task waits for the server to fork it (its first one: the server's imports).
START_TIMEOUT = 60.0
_SOURCE = Path(__file__).with_name("fork_server_main.py")


class _Unusable(Exception):
    """The server cannot start this task (said in the log); a subprocess will."""


class ForkedTask:
    """A task process forked by a server: the part of ``subprocess.Popen`` a master uses."""

    def __init__(self, pid: int, pidfd: int, status: socket.socket, stdin: IO[bytes]) -> None:
        self.pid = pid
        self.stdin: IO[bytes] | None = stdin
        self.returncode: int | None = None
        self._pidfd = pidfd
        self._status = status
        self._lock = threading.Lock()

    def wait(self) -> int:
        """Its exit code (``-N``: killed by signal N), once the server has reaped it."""
        if self.returncode is not None:
            return self.returncode
        told = b""
        while chunk := self._status.recv(64):
            told += chunk
        self._status.close()
        try:
            code = int(told.split(b"\n")[0])
        except ValueError:
            # The server died before it could tell: the task went with it (lifeline, kill).
            self._signal(signal.SIGKILL)
            code = -signal.SIGKILL
        with self._lock:
            self.returncode = code
            os.close(self._pidfd)
        return code

    def kill(self) -> None:
        """SIGKILL, through its pidfd: never another process that reused its pid."""
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        with self._lock:
            if self.returncode is None:
                with contextlib.suppress(OSError):
                    signal.pidfd_send_signal(self._pidfd, signum)


def forkable(program: Path) -> bool:
    """True when ``program`` is discoworker's worker program, which a fork server can run."""
    if os.environ.get(SWITCH_ENV, "1") == "0" or program.name != FORKABLE_PROGRAM:
        return False
    if not hasattr(os, "pidfd_open") or not hasattr(socket, "send_fds"):
        return False
    try:
        with open(program, "rb") as f:
            return f.read(len(_SHEBANG)) == _SHEBANG
    except OSError:
        return False


class ForkServer:
    """One job's fork server, started on the first :meth:`spawn`, ended by :meth:`close`."""

    def __init__(self, program: Path, env: Mapping[str, str]) -> None:
        self._program = program
        self._env = dict(env)
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._broken = False
        self._closed = False

    def spawn(self, out_fd: int, lifeline: int) -> ForkedTask | None:
        """A task forked with a new pipe as its stdin and ``out_fd`` as its stdout and
        stderr; None when the server cannot (the caller then starts a subprocess)."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        in_r, in_w = os.pipe()
        try:
            with self._lock:
                control = self._start(lifeline)
                if control is None:
                    raise _Unusable
                try:
                    socket.send_fds(control, [b"spawn"], [in_r, out_fd, theirs.fileno()])
                except OSError as e:
                    self._fail(f"the fork server took no request: {e}")
                    raise _Unusable from None
            os.close(in_r)
            in_r = -1
            theirs.close()
            # A first task waits for the server's imports; a server that never answers is
            # given up (the task then starts as a subprocess).
            mine.settimeout(START_TIMEOUT)
            try:
                msg, fds, _, _ = socket.recv_fds(mine, 64, 1)
            except TimeoutError:
                msg, fds = b"", []
            mine.settimeout(None)
            if not msg.endswith(b"\n") or len(fds) != 1:
                for fd in fds:
                    os.close(fd)
                with self._lock:
                    self._fail("the fork server did not start a task")
                raise _Unusable
        except BaseException as e:
            for fd in (in_r, in_w):
                if fd >= 0:
                    os.close(fd)
            mine.close()
            theirs.close()
            if isinstance(e, _Unusable):
                return None
            raise
        return ForkedTask(int(msg), fds[0], mine, os.fdopen(in_w, "wb"))

    def _start(self, lifeline: int) -> socket.socket | None:
        if self._broken or self._closed:
            return None
        if self._proc is not None and self._proc.poll() is None and self._control is not None:
            return self._control
        if self._proc is not None:
            self._fail(f"the fork server ended (exit code {self._proc.returncode})")
            return None
        python = shutil.which("python3", path=self._env.get("PATH"))
        if python is None:
            self._fail("no python3 on the workers' PATH")
            return None
        control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {**self._env, LIFELINE_ENV: str(lifeline)}
        try:
            self._proc = subprocess.Popen(
                [python, "-c", _SOURCE.read_text(), str(theirs.fileno()), str(self._program)],
                cwd=self._program.parent,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
                pass_fds=(theirs.fileno(), lifeline),
            )
        except OSError as e:
            control.close()
            self._fail(f"the fork server could not be started: {e}")
            return None
        finally:
            theirs.close()
        self._control = control
        return control

    def _fail(self, why: str) -> None:
        log.warning("fork_server.unusable", program=str(self._program), why=why)
        self._broken = True
        self._stop()

    def close(self) -> None:
        """End the server (the job is over); a task still running is killed with it."""
        with self._lock:
            self._closed = True
            self._stop()

    def _stop(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
