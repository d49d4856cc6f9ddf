"""What a job's tasks printed, task by task: ``discoworker logs JOB [TASK]``.

A task's printed text reaches the master as ``MSG`` events, as far as the master's budget
allows; where some was left out, a MSG's note names the attempt's log file, which holds all
of it. So an attempt's text is its log file when a note names one, else its MSG events.
Attempts of a task follow each other: each ends with its ``DONE``, ``ERROR`` or ``FATAL``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import attrs

from discoworker.app.master_line import log_urls
from discoworker.app.ports import Event
from discoworker.domain.events import task_event
from discoworker.errors import DiscoError


@attrs.frozen
class TaskText:
    """What one attempt of a task printed, and where it was read from."""

    task: str
    attempt: int
    text: str
    source: str


@attrs.define
class _Attempt:
    task: str
    number: int
    messages: list[str] = attrs.field(factory=list)


def printed_texts(
    events: Iterable[Event], read: Callable[[str], bytes], task: str | None = None
) -> list[TaskText]:
    """Each attempt's printed text, in the order the attempts started.

    ``read`` fetches a log file's URL; ``task`` keeps one task (``map:0``) or stage (``map``).
    """
    attempts: list[_Attempt] = []
    running: dict[str, _Attempt] = {}
    ended: dict[str, int] = {}
    for event in events:
        said = task_event(event.message)
        if said is None or said.kind == "SYS":
            continue
        kind, name, text = said.kind, said.task, said.text
        if task is not None and task not in (name, name.split(":", 1)[0]):
            continue
        if kind == "MSG":
            attempt = running.get(name)
            if attempt is None:
                attempt = running[name] = _Attempt(name, ended.get(name, 0) + 1)
                attempts.append(attempt)
            attempt.messages.append(text)
        elif kind != "WARNING":
            ended[name] = ended.get(name, 0) + 1
            running.pop(name, None)
        elif text.startswith("Worker died"):
            running.pop(name, None)
    return [_text_of(attempt, read) for attempt in attempts]


def _text_of(attempt: _Attempt, read: Callable[[str], bytes]) -> TaskText:
    messages = "\n".join(attempt.messages)
    urls = log_urls(messages)
    if not urls:
        return TaskText(attempt.task, attempt.number, messages, "events")
    try:
        data = read(urls[0])
    except (OSError, DiscoError) as exc:
        return TaskText(
            attempt.task,
            attempt.number,
            f"{messages}\n[discoworker: cannot read {urls[0]}: {exc}]",
            "events",
        )
    return TaskText(
        attempt.task, attempt.number, data.decode("utf-8", "replace").rstrip("\n"), urls[0]
    )
