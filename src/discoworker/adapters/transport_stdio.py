"""The real transport: protocol out on the process's stderr, replies in on its stdin.

:func:`take_over_stdio` must run before anything can print: a stray line on stderr before
``WORKER`` is a malformed message to a real master, which then fails the task.
"""

from __future__ import annotations

import collections
import io
import os
import select
import sys
import time
from collections.abc import Callable

import attrs

from discoworker.domain import protocol as p
from discoworker.errors import ProtocolError

#: The master may hold an ``INPUT`` reply back while an earlier stage runs; the original
#: waited up to three days. End of input or a malformed reply fail at once regardless.
DEFAULT_REPLY_TIMEOUT = 3 * 24 * 3600.0
#: After DONE / ERROR / FATAL the master closes our stdin and kills us; wait this long for it.
CLOSE_GRACE = 60.0
#: The embedded master names here the inherited fd of its lifeline pipe (see watch_lifeline).
LIFELINE_ENV = "DISCOWORKER_LIFELINE"


@attrs.define
class StdioTransport:
    """Frames out on one file descriptor, replies decoded incrementally from another."""

    _out_fd: int
    _in_fd: int
    _reply_timeout: float = DEFAULT_REPLY_TIMEOUT
    _decoder: p.FrameDecoder = attrs.field(factory=p.FrameDecoder)
    _frames: collections.deque[p.Frame] = attrs.field(factory=collections.deque)

    def send(self, message: p.WorkerMessage) -> None:
        """Write one frame completely (the master gives up on a half-written message)."""
        data = memoryview(p.encode(message))
        while data:
            written = os.write(self._out_fd, data)
            data = data[written:]

    def receive(self) -> p.MasterMessage:
        """The next reply; ProtocolError on end of input, a timeout or a malformed frame."""
        deadline = time.monotonic() + self._reply_timeout
        while not self._frames:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProtocolError(f"no reply from the master within {self._reply_timeout:g} s")
            ready, _, _ = select.select([self._in_fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._in_fd, 1 << 16)
            if not chunk:
                self._decoder.close()
                raise ProtocolError("the master closed the worker's input while a reply was due")
            self._frames.extend(self._decoder.feed(chunk))
        return p.decode_master_message(self._frames.popleft())

    def close(self) -> None:
        """Wait for the master to close our input, as a real master does after the last word."""
        deadline = time.monotonic() + CLOSE_GRACE
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self._in_fd], [], [], left)
            if ready and not os.read(self._in_fd, 1 << 16):
                return


#: Printed text is handed on in pieces of about this many characters...
PRINT_BATCH = 4096
#: ...or when this many seconds have passed since the last piece, at the next write.
PRINT_DELAY = 0.1


class PrintedText(io.TextIOBase):
    """A text stream standing in for ``sys.stdout``/``sys.stderr`` that hands text to a sink.

    Writes are gathered and handed on in pieces (a ``print`` is several writes, and a job may
    print in a tight loop); :meth:`flush` hands on what is gathered at once. Text written
    before a sink is attached is kept and handed over on :meth:`attach`.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._sink: Callable[[str], None] | None = None
        self._pending: list[str] = []
        self._size = 0
        self._clock = clock
        self._due = 0.0

    def attach(self, sink: Callable[[str], None]) -> None:
        """From now on, send text to ``sink``; first what was written before."""
        self._sink = sink
        self.flush()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._pending.append(text)
        self._size += len(text)
        if self._size >= PRINT_BATCH or self._clock() >= self._due:
            self.flush()
        return len(text)

    def flush(self) -> None:
        """Hand what was written so far to the sink."""
        if self._pending and self._sink is not None:
            text = "".join(self._pending)
            self._pending.clear()
            self._size = 0
            self._due = self._clock() + PRINT_DELAY
            self._sink(text)


@attrs.frozen
class TakenOver:
    """The protocol's transport and the stand-in for what job code prints."""

    transport: StdioTransport
    printed: PrintedText


def watch_lifeline() -> bool:
    """End this worker, its children with it, as soon as its embedded master's process is gone.

    The embedded master passes the read end of a pipe whose write end only it holds (fd named
    by ``DISCOWORKER_LIFELINE``); a daemon thread waits for its end of file, which comes
    however the master died (SIGKILL, Ctrl-C), and then kills the worker's process group at
    once, even while job code is busy. A real master's workers have no lifeline: False.
    """
    import stat
    import threading

    raw = os.environ.pop(LIFELINE_ENV, None)
    try:
        fd = int(raw or "")
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return False
    except (ValueError, OSError):
        return False
    os.set_inheritable(fd, False)  # job code's own children never hold it

    def watch() -> None:
        while True:
            try:
                if not os.read(fd, 1):
                    break
            except InterruptedError:
                continue
            except OSError:
                break
        _end_at_once()

    threading.Thread(target=watch, name="discoworker lifeline", daemon=True).start()
    return True


def _end_at_once() -> None:
    import signal

    pid = os.getpid()
    # The master started us as a process group's leader: the group is us and job code's
    # children. Anywhere else, only ourselves.
    try:
        if os.getpgid(0) == pid:
            os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    os.kill(pid, signal.SIGKILL)


def take_over_stdio(reply_timeout: float = DEFAULT_REPLY_TIMEOUT) -> TakenOver:
    """Keep fds 0 and 2 for the protocol; point the process's own stdio at /dev/null.

    Python-level ``print`` (and ``sys.stderr`` writes, warnings, logging) go to
    :class:`PrintedText`; a C extension or a child process writing to fd 1 or 2 cannot reach the
    master raw and break its parser.
    """
    out_fd = os.dup(2)
    in_fd = os.dup(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    printed = PrintedText()
    sys.stdout = printed
    sys.stderr = printed
    return TakenOver(StdioTransport(out_fd, in_fd, reply_timeout), printed)
