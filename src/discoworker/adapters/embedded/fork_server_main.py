"""The fork server's own program: run as ``python3 -c <this file's text>``.

Stdlib only at the top: it is the embedded master's code, while the modules it preloads are
the job's (``lib/`` of the job home, first on ``PYTHONPATH``). It imports them once, then
forks a fresh process per task: the child becomes a session leader, takes the task's
protocol pipes as fds 0-2, closes every other descriptor (the lifeline too: its server
watches that for it), and runs the job's worker program as ``__main__``, exactly as a newly
started interpreter would. No task code ever runs in the server, so nothing one task does
reaches the next.

It runs in one of two roles. Given a worker program, it is one job's server, started in the
job home. Given none, it is a *shared* server, started once for every job whose ``lib/`` has
the same content (the master's shared copy) and the same interpreter settings: it forks, per
job, a job server (a ``job`` request) that moves into the job's home, takes the job's
environment and path, and then serves that job's tasks as above. Nothing of one job reaches
the next either: each job's server is a fresh fork of one that never ran job code.

Requests arrive on a ``SOCK_SEQPACKET`` socket (argv[1]), one per task, carrying three
descriptors: the task's stdin (read end), its stdout/stderr (write end) and a status socket
(a ``job`` request: the job server's own request socket and a status socket, with the job's
home, program and environment as JSON). On the status socket the server answers the child's
pid (with a pidfd of it, for a kill that cannot hit a reused pid), and later its exit code as
``subprocess`` gives it (``-N``: killed by signal N). End of file on the request socket or on
the lifeline ends the server and every process it started.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import types
from collections.abc import Callable
from types import CodeType

#: What a discoworker task imports before it can run job code; missing ones are skipped.
PRELOAD = (
    "discoworker.app.bootstrap",
    "discoworker.adapters.transport_stdio",
    "discoworker.adapters.openers",
    "discoworker.app.task_life",
    "discoworker.app.jobdata",
    "discoworker.app.classic",
    "discoworker.app.pipeline",
    "discoworker.classic",
    "discoworker.pipeline",
    "discoworker.task_io",
    # What a task imports as it runs: the job's globals, its status lines' figures.
    "discoworker.app.job_globals",
    "discoworker.app.job",
    "discoworker.app.results",
    "discoworker.domain.progress",
    "discoworker.domain.events",
    "pkgutil",
    "cloudpickle",
)
LIFELINE_ENV = "DISCOWORKER_LIFELINE"
#: The largest request (a ``job`` request carries the job's environment).
REQUEST_MAX = 1 << 20


def preload() -> None:
    """Import what every task needs; a module that fails is left for the task to report.

    Their bytecode is written even where the environment says not to: the job's ``lib/`` is
    the master's shared copy (``store.Store._shared_lib``), compiled once for every job.
    """
    import importlib

    writes = sys.dont_write_bytecode
    sys.dont_write_bytecode = False
    try:
        for name in PRELOAD:
            try:
                importlib.import_module(name)
            except BaseException:
                pass  # the task itself says why, in the protocol
    finally:
        sys.dont_write_bytecode = writes


def freeze() -> None:
    """Keep the collector off what the server holds: a fork then copies only the pages it
    writes itself, not every page a collection would touch (nothing of it is ever freed).
    No collection first: it would cost the start more than the little garbage it finds."""
    import gc

    gc.freeze()


def child(fds: list[int], program: str, compiled: CodeType | None) -> None:
    """In the forked process: become a fresh worker process and run ``program``; never returns.

    The task does not keep the lifeline: its server watches it and, when it ends, kills every
    task's session (``serve``), so the task need not start a thread of its own to watch it.
    """
    code = 1
    try:
        os.setsid()
        stdin_fd, out_fd = fds[0], fds[1]
        os.dup2(stdin_fd, 0)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        close_others(())
        os.environ.pop(LIFELINE_ENV, None)
        code = run_program(program, compiled)
    finally:
        os._exit(code)


def load_program(program: str) -> CodeType | None:
    """The worker program compiled once for all of a job's tasks; None if it cannot be (then
    each task runs it from its file, and says why it fails as a new interpreter would)."""
    try:
        with open(program, "rb") as f:
            return compile(f.read(), program, "exec", dont_inherit=True)
    except (OSError, SyntaxError, ValueError):
        return None


def run_program(program: str, compiled: CodeType | None = None) -> int:
    """Run the worker program as ``__main__`` (from ``compiled`` when given); its exit code, as
    the interpreter would give it."""
    import atexit
    import runpy

    sys.argv = [program]
    sys.path[0] = os.path.dirname(program)
    code = 0
    try:
        if compiled is None:
            runpy.run_path(program, run_name="__main__")
        else:
            # As runpy.run_path would run it, less reading and compiling the file again.
            main = types.ModuleType("__main__")
            main.__dict__.update(__file__=program, __cached__=None, __loader__=None,
                                 __package__=None, __spec__=None)
            sys.modules["__main__"] = main
            exec(compiled, main.__dict__)
    except SystemExit as e:
        if e.code is None:
            code = 0
        elif isinstance(e.code, int):
            code = e.code
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except BaseException:  # reported as an uncaught exception would be
        import traceback

        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass  # as the interpreter's own shutdown does
    return code & 0xFF


def serve(control: socket.socket, lifeline: int, program: str) -> None:
    """Fork one child per request until the request socket or the lifeline ends."""
    running: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, status socket)
    largest = 64 if program else REQUEST_MAX
    compiled = load_program(program) if program else None
    try:
        while True:
            watched: list[int] = [control.fileno(), *running]
            if lifeline >= 0:
                watched.append(lifeline)
            ready, _, _ = select.select(watched, [], [])
            for fd in ready:
                if fd == control.fileno():
                    msg, fds, flags, _ = socket.recv_fds(control, largest, 3)
                    if not msg:
                        return
                    if msg == b"spawn" and program:
                        start(fds, running, program, compiled)
                    elif msg.startswith(b"job ") and not program and not flags & socket.MSG_TRUNC:
                        start_job(msg[4:], fds, running, lifeline)
                    else:
                        for unused in fds:
                            os.close(unused)
                elif fd == lifeline:
                    try:
                        if not os.read(lifeline, 1):
                            return
                    except InterruptedError:
                        continue
                else:
                    reap(fd, running)
    finally:
        # A task server's tasks end with it; a shared server's job servers go on, each until
        # its job ends or the lifeline does.
        for pidfd, (pid, _) in running.items() if program else ():
            # Children first (the task's whole session), then the task itself.
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            except OSError:
                pass


def start(
    fds: list[int],
    running: dict[int, tuple[int, socket.socket]],
    program: str,
    compiled: CodeType | None,
) -> None:
    """Fork the task of one request (its stdin, its stdout/stderr, a status socket)."""
    if len(fds) == 3:
        fork_and_tell(fds, running, lambda: child(fds, program, compiled))
    else:
        refuse(fds)


def start_job(
    spec: bytes,
    fds: list[int],
    running: dict[int, tuple[int, socket.socket]],
    lifeline: int,
) -> None:
    """Fork the server of one job (its request socket, a status socket)."""
    if len(fds) == 2:
        fork_and_tell(fds, running, lambda: job_child(fds[0], spec, lifeline))
    else:
        refuse(fds)


def refuse(fds: list[int]) -> None:
    """A request with the wrong descriptors: closed, and nothing forked."""
    for fd in fds:
        os.close(fd)


def fork_and_tell(
    fds: list[int], running: dict[int, tuple[int, socket.socket]], in_child: Callable[[], None]
) -> None:
    """Fork ``in_child`` (it never returns); tell its pid (and a pidfd) on the status socket,
    the last of ``fds``, the others being the child's alone from then on."""
    status = socket.socket(fileno=fds[-1])
    pid = os.fork()
    if pid == 0:
        in_child()
    for fd in fds[:-1]:
        os.close(fd)
    pidfd = os.pidfd_open(pid)
    running[pidfd] = (pid, status)
    try:
        socket.send_fds(status, [b"%d\n" % pid], [pidfd])
    except OSError:
        pass


def close_others(keep: tuple[int, ...]) -> None:
    """Close every descriptor from 3 on but ``keep``: nothing of other jobs stays open."""
    low = 3
    for fd in sorted(k for k in keep if k >= 3):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX"))


def job_child(control_fd: int, spec: bytes, lifeline: int) -> None:
    """In a shared server's fork: become the server of one job (its home, environment and
    path, as its own server started there would have them); never returns."""
    code = 1
    try:
        os.setsid()
        close_others((control_fd, lifeline))
        job = json.loads(spec)
        here = os.getcwd()
        home = job["home"]
        os.chdir(home)
        os.environ.clear()
        os.environ.update(job["env"])
        if lifeline >= 0:
            os.environ[LIFELINE_ENV] = str(lifeline)
        # The path entries made from the server's PYTHONPATH (the same text as the job's) lead
        # into its own run directory, whose lib is the job's: they now lead into the job home.
        sys.path[:] = [
            home + entry[len(here):] if entry == here or entry.startswith(here + os.sep)
            else entry
            for entry in sys.path
        ]
        sys.path_importer_cache.clear()
        import importlib
        import time

        importlib.invalidate_caches()
        time.tzset()
        freeze()
        serve(socket.socket(fileno=control_fd), lifeline, job["program"])
        code = 0
    finally:
        os._exit(code)


def reap(pidfd: int, running: dict[int, tuple[int, socket.socket]]) -> None:
    """A child ended: its exit code on its status socket, which is then closed."""
    pid, status = running.pop(pidfd)
    _, wait_status = os.waitpid(pid, 0)
    os.close(pidfd)
    try:
        status.sendall(b"%d\n" % os.waitstatus_to_exitcode(wait_status))
    except OSError:
        pass
    finally:
        status.close()


def main() -> None:
    """``python3 -c <source> CONTROL_FD PROGRAM`` (``""``: a shared server); the lifeline is
    named in the environment."""
    control = socket.socket(fileno=int(sys.argv[1]))
    program = sys.argv[2]
    try:
        lifeline = int(os.environ.get(LIFELINE_ENV, ""))
        os.fstat(lifeline)
    except (ValueError, OSError):
        lifeline = -1
    preload()
    freeze()
    serve(control, lifeline, program)


if __name__ == "__main__":
    main()
