"""A failed task as its job's events tell it, and the text a failing worker sends.

A worker ends a failed task with ``ERROR`` or ``FATAL`` and a text: the input it was reading
(when it was reading one) on a first line, then the Python traceback. A master records it as
an event ``FATAL: [map:0] <text>`` (``ERROR:`` on the embedded master, ``WARNING:`` on a real
one), after the task's printed text as ``MSG: [map:0] <text>`` events. From those lines alone,
as any master's events read, :func:`find_failure` finds the task that ended the job, and
:func:`describe` says what went wrong in a few lines: the exception, the input, the last lines
the task printed and the traceback without discoworker's own frames.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import attrs

from discoworker.domain.events import TaskEvent, assigned_task, task_event

#: The first line of a failure text naming the input being read: ``While reading URL:``.
READING_PREFIX = "While reading "
#: How many of the lines a failed task printed last are shown.
PRINTED_LINES = 5
#: Longest printed line shown; the rest of it stays in the events.
PRINTED_WIDTH = 200
#: At most this many lines of a failure's text are shown (its last ones).
BODY_LINES = 60

_FRAME = re.compile(r'  File "(.*)", line \d+, in ')
_EXCEPTION = re.compile(r"[A-Za-z_][\w.]*(: |$)")
_HEADER = "Traceback (most recent call last):"


def failure_text(trace: str, reading: str = "") -> str:
    """What a worker sends with ``ERROR``/``FATAL``: the input it was reading, the traceback."""
    return f"{READING_PREFIX}{reading}:\n{trace}" if reading else trace


def split_failure_text(text: str) -> tuple[str, str]:
    """``(input being read or "", the rest)`` of a :func:`failure_text`."""
    first, newline, rest = text.partition("\n")
    if newline and first.startswith(READING_PREFIX) and first.endswith(":"):
        return first[len(READING_PREFIX) : -1], rest
    return "", text


@attrs.frozen
class TaskFailure:
    """The failure that ended a job: which task, how (FATAL/ERROR/WARNING), its text."""

    task: str
    kind: str
    reading: str
    text: str
    printed: tuple[str, ...]
    #: How many times the task was started (retries included).
    attempts: int = 1


def find_failure(messages: Sequence[str]) -> TaskFailure | None:
    """The task failure that ended the job, from its event messages (oldest first).

    The last ``FATAL`` of a task; else its last ``ERROR``; else the last ``WARNING`` of a task
    that the master followed with ``Task <task> failed`` (a real master's retried error).
    None when no task failed (the job was killed, or its master gave up for another reason).
    """
    found: tuple[int, TaskEvent] | None = None
    for rank, kind in enumerate(("FATAL", "ERROR", "WARNING")):
        for i in range(len(messages) - 1, -1, -1):
            event = task_event(messages[i])
            if event is None or event.kind != kind:
                continue
            if kind == "WARNING" and not (
                i + 1 < len(messages)
                and messages[i + 1].startswith(f"Task {event.task} failed")
            ):
                continue
            found = (i, event)
            break
        if found is not None or rank == 2:
            break
    if found is None:
        return None
    index, event = found
    task = event.task
    reading, text = split_failure_text(event.text)
    attempts = sum(
        1 for m in messages[:index]
        if (assigned := assigned_task(m)) is not None and assigned[0] == task
    )
    return TaskFailure(task, event.kind, reading, text, _printed(messages, index, task),
                       max(attempts, 1))


def _printed(messages: Sequence[str], index: int, task: str) -> tuple[str, ...]:
    """What ``task`` printed in its attempt that ended at event ``index``: its last lines."""
    texts: list[str] = []
    for i in range(index - 1, -1, -1):
        assigned = assigned_task(messages[i])
        if assigned is not None and assigned[0] == task:
            break
        msg = task_event(messages[i])
        if msg is not None and msg.kind == "MSG" and msg.task == task:
            texts.append(msg.text)
            if sum(t.count("\n") + 1 for t in texts) > PRINTED_LINES:
                break
    lines = "\n".join(reversed(texts)).splitlines()
    return tuple(_cut(line) for line in lines[-PRINTED_LINES:])


def _cut(line: str) -> str:
    return line if len(line) <= PRINTED_WIDTH else line[:PRINTED_WIDTH] + " ..."


def trim_traceback(text: str, is_ours: Callable[[str], bool]) -> tuple[str, int]:
    """``text`` without the frames of files ``is_ours`` (and headers left with no frame);
    also the number of frames left out."""
    lines = text.splitlines()
    kept: list[str] = []
    dropped = 0
    i = 0
    while i < len(lines):
        frame = _FRAME.match(lines[i])
        if frame is None:
            kept.append(lines[i])
            i += 1
            continue
        end = i + 1
        while end < len(lines) and lines[end].startswith("    "):
            end += 1  # the frame's source line and its ^^^ markers
        if is_ours(frame.group(1)):
            dropped += 1
        else:
            kept.extend(lines[i:end])
        i = end
    shown = [
        line for n, line in enumerate(kept)
        if line != _HEADER or (n + 1 < len(kept) and _FRAME.match(kept[n + 1]) is not None)
    ]
    return "\n".join(shown), dropped


def exception_line(text: str) -> str:
    """The line naming the exception (the innermost one of a chain), else the first line."""
    lines = text.splitlines()
    for line in reversed(lines):
        if line and line != _HEADER and _EXCEPTION.match(line):
            return line
    return next((line for line in lines if line.strip()), "")


def describe(failure: TaskFailure, is_ours: Callable[[str], bool], jobname: str) -> str:
    """What a user reads first: one line saying what failed, then the task's last printed
    lines and its traceback without discoworker's frames (the events keep all of it)."""
    trace, dropped = trim_traceback(failure.text, is_ours)
    summary = exception_line(trace)
    notes = []
    if failure.reading and failure.reading not in summary:
        notes.append(f"reading {failure.reading}")
    if failure.attempts > 1:
        notes.append(f"{failure.attempts} attempts")
    where = f" ({'; '.join(notes)})" if notes else ""
    verb = "raised" if _HEADER in failure.text else "failed:"
    lines = [f"{failure.task} {verb} {summary}{where}"]
    if failure.printed:
        lines.append(f"The last lines {failure.task} printed:")
        lines.extend(f"  | {line}" for line in failure.printed)
    body = trace.strip("\n").splitlines()
    if "\n".join(body).strip() != summary.strip():
        if len(body) > BODY_LINES:
            # The end of a traceback says the most; a worker's last words can be 100 KiB.
            lines.append(f"... ({len(body) - BODY_LINES} lines before these are in the events)")
            body = body[-BODY_LINES:]
        lines.extend(body)
    if dropped:
        lines.append(f"(discoworker's frames left out; all of it: discoworker events {jobname})")
    return "\n".join(lines)
