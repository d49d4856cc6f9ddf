"""A job's fork server: its tasks start as forks of a process that imported discoworker once.

Starting a Python interpreter and importing discoworker costs a task most of its fixed cost.
For a job whose worker is discoworker's own program (``discoworker_task.py``, run by
``python3``), each task is a fresh fork of a server that preloaded the job's ``lib/`` copy of
discoworker (``fork_server_main``): its own process and session, fds 0-2 its protocol pipes.
The server watches the lifeline for its tasks: when the master's process is gone, it kills
each task's session.

The server of a job is itself forked, per job, from a *shared* server (:class:`SharedServers`)
that the master starts once for every job whose ``lib/`` is the same shared copy and whose
interpreter settings are the same, so a job does not wait for an interpreter to start and
import discoworker either; the master may start it early (``warm``), while the client packs the
job. A job that cannot share one (its ``lib/`` not shared, other ``PYTHONPATH`` entries) gets
a server of its own started in its home. Anything else (another worker program, no ``pidfd``
support, a server that cannot start) runs as a plain subprocess. ``DISCOWORKER_FORK_SERVER=0``
turns it all off.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TypeAlias

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
#: Environment read as an interpreter starts (or by its first imports): jobs share a server
#: only when theirs is the same.
STARTUP_PREFIXES = ("PYTHON", "LC_", "LANG", "LD_", "TMPDIR")
#: Shared servers kept at once (each holds its own imports); the least recently used goes.
SHARED_MAX = 2
#: The largest job request a shared server is sent (a socket message; the job's environment
#: is most of it): a job with a larger one gets a server of its own.
JOB_REQUEST_MAX = 64 * 1024
#: How long a server that is told to end may take before it is killed.
END_GRACE = 5.0


class _Unusable(Exception):
    """The server cannot start this task (said in the log); a subprocess will."""


class ForkedTask:
    """A task process forked by a server: the part of ``subprocess.Popen`` a master uses."""

    def __init__(
        self, pid: int, pidfd: int, status: socket.socket, stdin: IO[bytes] | None
    ) -> None:
        self.pid = pid
        self.stdin: IO[bytes] | None = stdin
        self.returncode: int | None = None
        self._pidfd = pidfd
        self._status = status
        self._told = b""
        self._lock = threading.Lock()

    def wait(self, timeout: float | None = None) -> int:
        """Its exit code (``-N``: killed by signal N), once the server has reaped it;
        ``subprocess.TimeoutExpired`` after ``timeout`` seconds, as ``Popen.wait``."""
        if self.returncode is not None:
            return self.returncode
        self._status.settimeout(timeout)
        try:
            while chunk := self._status.recv(64):
                self._told += chunk
        except TimeoutError:
            raise subprocess.TimeoutExpired(str(self.pid), timeout or 0.0) from None
        self._status.close()
        try:
            code = int(self._told.split(b"\n")[0])
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

    def exited(self) -> bool:
        """True once the process has ended (reaped or not)."""
        with self._lock:
            if self.returncode is not None:
                return True
            ready, _, _ = select.select([self._pidfd], [], [], 0)
            return bool(ready)

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


def _answer(mine: socket.socket) -> tuple[int, int] | None:
    """The pid and pidfd a server answers on a status socket; None if it does not in time
    (a first request waits for the server's imports)."""
    mine.settimeout(START_TIMEOUT)
    try:
        msg, fds, _, _ = socket.recv_fds(mine, 64, 1)
    except OSError:  # TimeoutError included
        msg, fds = b"", []
    mine.settimeout(None)
    if not msg.endswith(b"\n") or len(fds) != 1:
        for fd in fds:
            os.close(fd)
        return None
    try:
        return int(msg), fds[0]
    except ValueError:
        os.close(fds[0])
        return None


def _server_program(python: str) -> list[str]:
    """How ``python`` runs the server's program: its compiled bytecode when that interpreter
    is this one (a few milliseconds less of every server's start), else its source.

    The bytecode is named by the source's digest beside the package's own, so it can never
    be stale; where it cannot be written, the source it is.
    """
    import hashlib
    import importlib.util
    import py_compile

    source = _SOURCE.read_bytes()
    if os.path.realpath(python) != os.path.realpath(sys.executable):
        return [python, "-c", source.decode()]
    cached = Path(importlib.util.cache_from_source(str(_SOURCE)))
    digest = hashlib.sha256(source).hexdigest()[:16]
    compiled = cached.with_name(f"{_SOURCE.stem}-{digest}{''.join(cached.suffixes)}")
    if not compiled.is_file():
        try:
            py_compile.compile(str(_SOURCE), cfile=str(compiled), doraise=True)
        except (OSError, py_compile.PyCompileError):
            return [python, "-c", source.decode()]
    return [python, str(compiled)]


def _popen_server(
    python: str, cwd: Path, env: Mapping[str, str], lifeline: int, program: str
) -> tuple[subprocess.Popen[bytes], socket.socket]:
    """A server process (``program`` empty: a shared one) and the socket that asks it."""
    control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        proc = subprocess.Popen(
            [*_server_program(python), str(theirs.fileno()), program],
            cwd=cwd,
            env={**env, LIFELINE_ENV: str(lifeline)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
            pass_fds=(theirs.fileno(), lifeline),
        )
    except BaseException:
        control.close()
        raise
    finally:
        theirs.close()
    return proc, control


def _end_server(proc: subprocess.Popen[bytes]) -> None:
    """Wait for a server told to end (its request socket closed); killed if it does not."""
    if proc.poll() is None:
        try:
            proc.wait(timeout=END_GRACE)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class ForkServer:
    """One job's fork server, started on the first :meth:`spawn`, ended by :meth:`close`.

    With ``shared``, it is forked from a shared server when the job can share one.
    """

    def __init__(
        self, program: Path, env: Mapping[str, str], shared: SharedServers | None = None
    ) -> None:
        self._program = program
        self._env = dict(env)
        self._shared = shared
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        #: The job server forked from a shared server (instead of ``_proc``).
        self._child: ForkedTask | None = None
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
            answer = _answer(mine)
            if answer is None:
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
        return ForkedTask(answer[0], answer[1], mine, os.fdopen(in_w, "wb"))

    def _start(self, lifeline: int) -> socket.socket | None:
        if self._broken or self._closed:
            return None
        if self._control is not None:
            if self._child is not None and self._child.exited():
                self._fail(f"the job's fork server ended (pid {self._child.pid})")
                return None
            if self._proc is not None and self._proc.poll() is not None:
                self._fail(f"the fork server ended (exit code {self._proc.returncode})")
                return None
            return self._control
        if self._shared is not None:
            forked = self._shared.job(self._program, self._env, lifeline)
            if forked is not None:
                self._control, self._child = forked
                return self._control
        python = shutil.which("python3", path=self._env.get("PATH"))
        if python is None:
            self._fail("no python3 on the workers' PATH")
            return None
        try:
            self._proc, self._control = _popen_server(
                python, self._program.parent, self._env, lifeline, str(self._program)
            )
        except OSError as e:
            self._fail(f"the fork server could not be started: {e}")
            return None
        return self._control

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
        child, self._child = self._child, None
        if child is not None:
            try:
                child.wait(timeout=END_GRACE)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if self._proc is not None:
            _end_server(self._proc)


#: What makes two jobs able to share a server: the interpreter, the shared lib/ (its real
#: path, named by its content) and the environment an interpreter reads as it starts.
_Key: TypeAlias = tuple[str, str, tuple[tuple[str, str], ...]]


class _Shared:
    """One shared server: its process and the socket that asks it."""

    def __init__(self, proc: subprocess.Popen[bytes], control: socket.socket) -> None:
        self.proc = proc
        self.control = control
        self.lock = threading.Lock()

    def job(self, spec: bytes) -> tuple[socket.socket, ForkedTask] | None:
        """A job server forked from this one and the socket that asks it; None if this one
        did not answer (it died, most likely)."""
        job_mine, job_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with self.lock:
                socket.send_fds(self.control, [b"job " + spec], [job_theirs.fileno(),
                                                                 theirs.fileno()])
        except OSError:
            job_mine.close()
            mine.close()
            return None
        finally:
            job_theirs.close()
            theirs.close()
        answer = _answer(mine)
        if answer is None:
            job_mine.close()
            mine.close()
            return None
        return job_mine, ForkedTask(answer[0], answer[1], mine, None)

    def close(self) -> None:
        # Its job servers go on: each ends with its job (or the lifeline).
        with self.lock:
            self.control.close()
        _end_server(self.proc)


def _link(link: Path, target: str) -> None:
    # Made by another master before, maybe to a copy of the same content elsewhere (a data
    # dir's own, before the user's cache): led to this one, atomically.
    with contextlib.suppress(OSError):
        if os.readlink(link) == target:
            return
    beside = link.with_name(f".{link.name}.{os.getpid()}.{threading.get_ident()}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(beside)
    os.symlink(target, beside, target_is_directory=True)
    os.replace(beside, link)


class SharedServers:
    """The shared fork servers of one master, one per :data:`_Key`.

    A server runs in a directory of ``runs`` named as its shared ``lib/`` copy, whose ``lib``
    leads to that copy: a job's own ``PYTHONPATH`` text, relative to it, finds what it finds
    in the job home. The modules it preloads keep their paths there, so the directory stays
    as long as the copy does (its job servers may outlive it).
    """

    def __init__(self, runs: Path) -> None:
        self._runs = runs
        self._lock = threading.Lock()
        self._servers: dict[_Key, _Shared] = {}
        self._pruned = False

    @staticmethod
    def key(lib: Path, env: Mapping[str, str]) -> _Key | None:
        """What a job whose ``lib/`` leads to ``lib`` (the master's shared copy), run with
        ``env``, needs of a shared server; None when it cannot share one (a PYTHONPATH entry
        that leads elsewhere in its home, no python3)."""
        for entry in env.get("PYTHONPATH", "").split(os.pathsep):
            if not (os.path.isabs(entry) or entry == "lib" or entry.startswith("lib/")):
                return None
        python = shutil.which("python3", path=env.get("PATH"))
        if python is None:
            return None
        try:
            shared = lib.resolve(strict=True)
        except OSError:
            return None
        startup = tuple(sorted((k, v) for k, v in env.items() if k.startswith(STARTUP_PREFIXES)))
        return os.path.realpath(python), str(shared), startup

    def warm(self, lib: Path, env: Mapping[str, str], lifeline: int) -> None:
        """Start the shared server that a job with the shared ``lib`` and ``env`` would use,
        unless it runs already."""
        key = self.key(lib, env)
        if key is not None:
            with self._lock:
                self._server(key, env, lifeline)

    def job(
        self, program: Path, env: Mapping[str, str], lifeline: int
    ) -> tuple[socket.socket, ForkedTask] | None:
        """A server for the job of ``program``, forked from a shared server (started or, if
        it died, restarted here); None when the job cannot share one."""
        lib = program.parent / "lib"
        key = self.key(lib, env) if lib.is_symlink() else None
        if key is None:
            return None
        spec = json.dumps(
            {"home": str(program.parent), "program": str(program), "env": dict(env)}
        ).encode()
        if len(spec) > JOB_REQUEST_MAX:
            return None
        for _ in range(2):
            with self._lock:
                server = self._server(key, env, lifeline)
            if server is None:
                return None
            forked = server.job(spec)
            if forked is not None:
                return forked
            log.warning("fork_server.shared_restarted", lib=key[1],
                        code=server.proc.poll())
            with self._lock:
                if self._servers.get(key) is server:
                    del self._servers[key]
            server.close()
        return None

    def _server(self, key: _Key, env: Mapping[str, str], lifeline: int) -> _Shared | None:
        server = self._servers.pop(key, None)
        if server is not None and server.proc.poll() is not None:
            server.close()
            server = None
        if server is None:
            server = self._start(key, env, lifeline)
            if server is None:
                return None
            while len(self._servers) >= SHARED_MAX:
                oldest = next(iter(self._servers))
                self._servers.pop(oldest).close()
        self._servers[key] = server  # the most recently used last
        return server

    def _start(self, key: _Key, env: Mapping[str, str], lifeline: int) -> _Shared | None:
        python, lib, _ = key
        run = self._runs / Path(lib).name
        try:
            self._prune()
            run.mkdir(parents=True, exist_ok=True)
            _link(run / "lib", lib)
            proc, control = _popen_server(python, run, env, lifeline, "")
        except OSError as e:
            log.warning("fork_server.shared_unusable", why=str(e))
            return None
        return _Shared(proc, control)

    def _prune(self) -> None:
        # Run directories of shared copies that are gone (unused for days, removed).
        if self._pruned:
            return
        self._pruned = True
        with contextlib.suppress(OSError):
            for entry in self._runs.iterdir():
                if not (entry / "lib").exists():
                    shutil.rmtree(entry, ignore_errors=True)

    def close(self) -> None:
        """End every shared server (jobs still running keep their own job servers); a later
        job starts a new one."""
        with self._lock:
            servers = list(self._servers.values())
            self._servers.clear()
        for server in servers:
            server.close()
