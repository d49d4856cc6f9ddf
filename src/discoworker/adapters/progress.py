"""A job's progress shown while the client waits: live bars on a terminal, lines elsewhere.

It reads the master's ``jobinfo`` and, from an offset so that each poll reads only what is
new, the job's events: the share of its input each task has read comes in its status lines
(see :mod:`discoworker.domain.progress`). Both are the same on the embedded, served and a real
master. On a terminal, ``rich`` draws a bar per stage with its tasks done/running/failed, the
share of its input read, the stage's elapsed time and an estimate of the time left (from the
pace of its reading so far); in a pipe, a log or a notebook it writes one plain line per
change, never a control character. ``rich`` is imported only when a terminal shows the
display: nodes never need it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TextIO

from discoworker.domain.events import log_lines
from discoworker.domain.progress import JobProgress, ReadShares, job_progress, time_left
from discoworker.errors import DiscoError

#: Seconds between two readings of the job's jobinfo.
INTERVAL = 0.5
#: Each stage's estimate of seconds left (None: no estimate yet).
Left = dict[str, float | None]


class View(Protocol):
    """Where progress is shown."""

    def show(self, progress: JobProgress, elapsed: float, left: Left) -> None:
        """Show the job as read ``elapsed`` seconds after the display started, and the time
        ``left`` of each stage."""
        ...

    def close(self) -> None:
        """The job is over or no longer watched: leave the last state on the screen."""
        ...


class PlainView:
    """A line for each change of the figures (not of the clock alone): pipes, logs, notebooks."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._last: JobProgress | None = None

    def show(self, progress: JobProgress, elapsed: float, left: Left) -> None:
        """Write the job's line when its figures changed since the last one."""
        if progress == self._last:
            return
        self._last = progress
        self._out.write(progress.line(elapsed, left) + "\n")
        self._out.flush()

    def close(self) -> None:
        """Nothing is left open."""


class RichView:
    """Live bars on a terminal, one per stage, drawn by ``rich``."""

    def __init__(self, out: TextIO, *, get_time: Callable[[], float] = time.monotonic,
                 width: int | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._console = Console(file=out, force_terminal=True, width=width)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[done]}/{task.total:.0f} done, {task.fields[running]} "
                       "running, {task.fields[failed]} failed{task.fields[read]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[left]}"),
            console=self._console,
            auto_refresh=False,
            get_time=get_time,
        )
        self._stages: dict[str, Any] = {}
        self._job = ""
        self._started = False

    def show(self, progress: JobProgress, elapsed: float, left: Left) -> None:
        """Bring each stage's bar to the job's figures and redraw."""
        if not self._started:
            self._console.print(f"job {progress.job}", markup=False, highlight=False)
            self._progress.start()
            self._started = True
        for stage in progress.stages:
            began = stage.running + stage.done + stage.failed > 0
            fields: dict[str, Any] = {
                "done": stage.done, "running": stage.running, "failed": stage.failed,
                "read": "" if stage.read is None else f", {stage.read}% read",
                "left": _clock_text(left.get(stage.name)),
            }
            # The bar is the share of the input read when a task said it, else tasks done.
            completed = stage.done if stage.read is None else stage.read * stage.tasks / 100
            task = self._stages.get(stage.name)
            if task is None:
                task = self._stages[stage.name] = self._progress.add_task(
                    stage.name, total=stage.tasks, start=began, **fields,
                )
            elif began:
                # A stage's clock starts with its first task (start_task: only once).
                self._progress.start_task(task)
            # A stage fed as it runs gets more tasks: its total follows them.
            self._progress.update(task, completed=completed, total=stage.tasks, **fields)
            if progress.status != "active":
                self._progress.stop_task(task)
        self._job = progress.line(elapsed, left) if progress.status != "active" else ""
        self._progress.refresh()

    def renderable(self) -> Any:
        """The bars as they stand (for a test, or another console)."""
        return self._progress.get_renderable()

    def close(self) -> None:
        """Stop redrawing; the bars and the final line stay."""
        if self._started:
            self._progress.stop()
            if self._job:
                self._console.print(self._job, markup=False, highlight=False)


def _clock_text(seconds: float | None) -> str:
    """``0:01:05`` as rich writes times; ``-:--:--`` when unknown."""
    if seconds is None:
        return "-:--:--"
    whole = int(seconds + 0.5)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


class ProgressDisplay:
    """Reads a job's jobinfo and its new events every ``interval`` seconds (in a thread) and
    shows them in a view. ``events(offset)`` gives the bytes of the job's event log from byte
    ``offset`` (``raw_events`` of every master); without it no share of input read is shown."""

    def __init__(
        self,
        job: str,
        jobinfo: Callable[[], Mapping[str, Any]],
        view: View,
        *,
        events: Callable[[int], bytes] | None = None,
        clock: Callable[[], float] = time.monotonic,
        interval: float = INTERVAL,
    ) -> None:
        self._job, self._jobinfo, self._view = job, jobinfo, view
        self._events, self._offset, self._shares = events, 0, ReadShares()
        self._clock, self._interval = clock, interval
        self._start = clock()
        self._began: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> JobProgress | None:
        """Read the jobinfo and the new events once and show them; None when the jobinfo
        could not be read (shown later)."""
        try:
            progress = job_progress(self._job, self._jobinfo())
        except (DiscoError, KeyError, ValueError, OSError):
            return None  # a master briefly unreachable must not end the wait
        self._read_events()
        progress = self._shares.apply(progress)
        elapsed = self._clock() - self._start
        left: Left = {}
        for stage in progress.stages:
            if stage.running + stage.done + stage.failed > 0:
                began = self._began.setdefault(stage.name, elapsed)
                if progress.status == "active" and stage.read is not None:
                    left[stage.name] = time_left(stage.read / 100, elapsed - began)
        self._view.show(progress, elapsed, left)
        return progress

    def _read_events(self) -> None:
        """Feed the events logged since the last reading to the shares of input read."""
        if self._events is None:
            return
        try:
            data = self._events(self._offset)
        except (DiscoError, KeyError, ValueError, OSError):
            return  # read again from the same offset next time
        # A line without its newline is still being written: it is read whole next time.
        self._offset += data.rfind(b"\n") + 1
        self._shares.feed(message for _end, (_time, _host, message) in log_lines(data))

    def start(self) -> ProgressDisplay:
        """Show the job until :meth:`stop`."""
        self.poll()
        self._thread = threading.Thread(target=self._loop, name=f"progress {self._job}",
                                        daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.poll()

    def stop(self) -> None:
        """Show the job's last state and stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.poll()
        with contextlib.suppress(Exception):  # a closed stream must not hide the job's outcome
            self._view.close()


def progress_display(
    job: str, jobinfo: Callable[[], Mapping[str, Any]], out: TextIO,
    terminal: bool | None = None, events: Callable[[int], bytes] | None = None,
) -> ProgressDisplay:
    """The display of ``job`` on ``out``: live bars when ``out`` is a terminal, else lines;
    ``events(offset)`` reads the job's event log (for the share of input read)."""
    if terminal is None:
        terminal = _isatty(out)
    view: View = RichView(out) if terminal else PlainView(out)
    return ProgressDisplay(job, jobinfo, view, events=events)


def _isatty(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False
