"""The JobError of a dead job, read from its events as any master writes them.

It names the task that failed, the input it was reading, the last lines it printed and its
traceback without discoworker's own frames; ``discoworker events JOB`` keeps the whole of it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path

from discoworker.app.ports import Event
from discoworker.domain.failure import describe, find_failure
from discoworker.errors import JobError


def job_error(jobname: str, events: Iterable[Event]) -> JobError:
    """The JobError of ``jobname``, which died with these ``events``."""
    messages = [e.message for e in events]
    failure = find_failure(messages)
    if failure is None:
        errors = [m for m in messages
                  if "ERROR" in m or "FATAL" in m or "failed" in m.lower()]
        return JobError(jobname, errors[-1] if errors else "the job died (no error event)")
    return JobError(
        jobname,
        describe(failure, is_discoworker_file, jobname),
        task=failure.task,
        input=failure.reading,
        printed=failure.printed,
        traceback=failure.text,
    )


def is_discoworker_file(path: str) -> bool:
    """True for a file of the discoworker package, wherever it lies (a job home's ``lib/``,
    a site-packages, a checkout): its path ends with ``discoworker/<one of our modules>``."""
    _, sep, tail = path.replace("\\", "/").rpartition("/discoworker/")
    return bool(sep) and tail in _package_files()


@functools.cache
def _package_files() -> frozenset[str]:
    root = Path(__file__).resolve().parent.parent
    return frozenset(p.relative_to(root).as_posix() for p in root.rglob("*.py"))
