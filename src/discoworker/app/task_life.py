"""A task's whole life on a node, top to bottom: :func:`run_task`.

WORKER -> TASK -> rebuild the job from the job pack -> run the stage -> one OUTPUT per output
-> DONE. A DataError, OSError or MemoryError ends the task with ERROR (the master retries it);
any other exception with FATAL (the job fails). Either way no partial output is left visible,
and the text sent is the traceback, after a line naming the input being read (if one was).
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from discoworker.app.context import TaskContext, locality_of, set_current_context
from discoworker.app.master_line import LOG_NAME, MasterLine
from discoworker.app.ports import Opener, Transport
from discoworker.domain.inputs import Locality
from discoworker.domain.task import Task
from discoworker.errors import DataError


def run_task(
    transport: Transport,
    opener_for: Callable[[Locality], Opener],
    *,
    home: Path | None = None,
    pid: int | None = None,
    line: MasterLine | None = None,
) -> bool:
    """Run the one task the master gives this worker; True when it ended with DONE.

    ``opener_for`` makes the URL opener of a node, given what is local there.
    """
    line = line if line is not None else MasterLine(transport)
    home = Path.cwd() if home is None else home
    pid = os.getpid() if pid is None else pid

    line.say_hello(pid)
    spec = line.ask_for_task()
    task = Task.from_spec(spec, now=time.time(), pid=pid)
    context = TaskContext(task, line, home, opener_for(locality_of(task)))
    # Next to the task's outputs, in this attempt's own directory: served as they are.
    line.keep_log(context.output_file(task.path(LOG_NAME)), task.url(LOG_NAME))
    set_current_context(context)
    worker: Any = None
    try:
        job, jobargs = _load_job(spec.jobfile)
        worker = job.worker
        outputs = worker.start(task, job, **jobargs)
        for output in outputs:
            output.close()
        for output in outputs:
            size = os.path.getsize(context.output_file(output.path))
            line.report_output(output.label, output.path, size)
    except (DataError, OSError, MemoryError):
        _discard_outputs(worker)
        line.error(_failure_text(context))
        return False
    except BaseException:
        _discard_outputs(worker)
        line.fatal(_failure_text(context))
        return False
    finally:
        set_current_context(None)
    line.done()
    return True


def _failure_text(context: TaskContext) -> str:
    """The exception being handled as ERROR/FATAL text: the input being read, the traceback."""
    # Imported here: only a failing task needs it.
    from discoworker.domain.failure import failure_text

    return failure_text(traceback.format_exc(), context.reading)


def _load_job(jobfile: str) -> tuple[Any, dict[str, Any]]:
    from discoworker.app.jobdata import loads_jobdata
    from discoworker.domain.jobpack import read_jobdata

    with open(jobfile, "rb") as f:
        jobdata = read_jobdata(f)
    return loads_jobdata(jobdata, jobfile)


def _discard_outputs(worker: Any) -> None:
    discard = getattr(worker, "discard_outputs", None)
    if discard is not None:
        discard()

