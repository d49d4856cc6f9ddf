"""Jobs from the client's side (seed: ``disco.job.Job``): pack, submit, wait, read results."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from discoworker.app.ports import Event, Master
from discoworker.app.results import result_iterator
from discoworker.app.worker import Worker as BaseWorker
from discoworker.errors import CommError, JobError

if TYPE_CHECKING:
    from discoworker.app.task_logs import TaskText

__all__ = ["Job", "JobChain", "Results", "recording_runs", "result_iterator"]


def _classic_worker() -> BaseWorker:
    from discoworker.app.classic import Worker as ClassicWorker

    worker: BaseWorker = ClassicWorker()
    return worker


#: Lists collecting the jobs submitted inside :func:`recording_runs` blocks, innermost last.
_recorders: list[list[Job]] = []


@contextlib.contextmanager
def recording_runs() -> Iterator[list[Job]]:
    """Collect the jobs that :meth:`Job.run` submits inside the ``with`` block."""
    ran: list[Job] = []
    _recorders.append(ran)
    try:
        yield ran
    finally:
        _recorders.remove(ran)


class Results(list[list[str]]):
    """A job's results (a list of replica lists) that remember the master that made them.

    :func:`result_iterator` reads them from that master without being told which it is.
    """

    def __init__(self, results: Iterable[list[str]], master: Master | None = None) -> None:
        super().__init__(results)
        self.master = master


class Job:
    """A job: a name, the master it runs on and the worker that carries it.

    ``Job().run(input=[...], map=fun_map, reduce=fun_reduce)`` with the classic worker is a
    whole job; ``master`` is a Master port, a URL of a Disco master (``dask://host:port``: a
    Dask cluster's scheduler), a ``distributed.Client``, or None for the default
    (``DISCO_MASTER`` when set, else the embedded master).
    """

    #: The worker a job gets when none is given (the classic one, as in the original).
    Worker: Callable[[], Any] = staticmethod(_classic_worker)

    def __init__(
        self,
        name: str | None = None,
        master: Master | str | None = None,
        worker: BaseWorker | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.name = name or type(self).__name__
        self.settings = dict(settings or {})
        if not isinstance(master, str | None):
            from discoworker.app.bootstrap import master_of

            # A ``distributed.Client``: the job runs on its Dask cluster.
            master = master_of(master) or master
        self._master_spec = master
        self._master: Master | None = master if not isinstance(master, str | None) else None
        self.worker = worker if worker is not None else type(self).Worker()

    @property
    def master(self) -> Master:
        """The master this job runs on (made on first use)."""
        if self._master is None:
            from discoworker.app.bootstrap import master_for

            spec = self._master_spec if isinstance(self._master_spec, str) else None
            self._master = master_for(spec, self.settings)
        return self._master

    def __getstate__(self) -> dict[str, Any]:
        # The job travels to the nodes in the jobdata; its master stays with the client.
        state = dict(self.__dict__)
        state["_master"] = None
        if not isinstance(state.get("_master_spec"), str | None):
            state["_master_spec"] = None
        return state

    def run(self, **jobargs: Any) -> Job:
        """Pack the job with ``jobargs``, submit it, and take the name the master gives it."""
        warm = getattr(self.master, "warm", None)
        if callable(warm):
            # A master that can get ready for the job (start processes) does so meanwhile.
            with contextlib.suppress(Exception):
                warm(self.worker.jobenvs(self, **jobargs))
        pack = self.worker.jobpack(self, **jobargs)
        self.name = self.master.submit(pack.dumps())
        self._submitted = True
        if _recorders:
            _recorders[-1].append(self)
        return self

    def wait(
        self, timeout: float | None = None, poll_interval: float = 1.0, show: bool | None = None
    ) -> Results:
        """Wait for the job to end; its results (replica lists). JobError if it died.

        ``show`` displays the job's progress on stderr meanwhile (live bars on a terminal, a
        line per change elsewhere); by default it does only when stderr is a terminal.
        """
        from discoworker.app.bootstrap import show_progress

        raw_events = getattr(self.master, "raw_events", None)
        events = None if raw_events is None else (lambda offset: raw_events(self.name, offset))
        display = show_progress(self.name, self.jobinfo, show, events)
        try:  # the loop stays in this frame: a JobError's traceback is one line shorter
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                wait = min(left, 60.0) if left is not None else 60.0
                status = self.master.results(self.name, wait)
                if status.status == "ready":
                    return Results(status.results, self.master)
                if status.status == "dead":
                    raise self._death()
                if status.status == "unknown job":
                    raise CommError(f"the master does not know job {self.name}")
                if deadline is not None and time.monotonic() >= deadline:
                    raise CommError(f"job {self.name} still {status.status} after {timeout} s")
                time.sleep(min(poll_interval, left) if left is not None else 0)
        finally:
            if display is not None:
                display.stop()

    def results(self) -> Results:
        """The job's results now: empty while it runs. JobError if it died."""
        status = self.master.results(self.name, 0)
        if status.status == "dead":
            raise self._death()
        return Results(status.results, self.master)

    def status(self) -> str:
        """``unknown job`` before :meth:`run`, then ``active``, ``ready`` or ``dead``."""
        if not getattr(self, "_submitted", False):
            return "unknown job"
        return self.master.results(self.name, 0).status

    def stageresults(self, stage: str) -> list[list[str]]:
        """The outputs of one stage of the job so far (``map``, ``reduce``, a pipeline stage)."""
        return self.master.stage_results(self.name, stage)

    def profile_stats(self, mode: str = "", stream: Any = None) -> Any:
        """The cProfile stats of a job run with ``profile=True``, as one ``pstats.Stats``.

        ``mode`` keeps the tasks of one stage (``map``, ``reduce``); JobError without data.
        """
        import os
        import pstats
        import sys
        import tempfile

        keys = [k for k in self.oob_list() if k.startswith(f"profile-{mode}")]
        if not keys:
            raise JobError(self.name, f"no profile data{f' for {mode}' if mode else ''}: "
                                      "run the job with profile=True")
        out = stream if stream is not None else sys.stdout
        with tempfile.TemporaryDirectory(prefix="discoworker-profile-") as where:
            # pstats reads a profile from a file; the tasks' profiles are marshalled stats.
            paths = []
            for n, key in enumerate(keys):
                path = os.path.join(where, str(n))
                with open(path, "wb") as f:
                    f.write(self.oob_get(key))
                paths.append(path)
            stats = pstats.Stats(*paths, stream=out)
        stats.strip_dirs()
        stats.sort_stats("cumulative")
        return stats

    def jobinfo(self) -> dict[str, Any]:
        """What the master says of the job (status, stages, inputs, results)."""
        return self.master.jobinfo(self.name)

    def events(self, offset: int = 0) -> Iterator[Event]:
        """The job's events, from ``offset``."""
        return self.master.events(self.name, offset)

    def logs(self, task: str | None = None) -> list[TaskText]:
        """What each attempt of the job's tasks printed, whole (``task``: ``map:0`` or a
        stage, ``map``), as ``discoworker logs`` shows it."""
        from discoworker.app.bootstrap import client_reader
        from discoworker.app.task_logs import printed_texts

        return printed_texts(self.master.events(self.name), client_reader(self.master), task)

    def kill(self) -> None:
        """Stop the job."""
        self.master.kill(self.name)

    def clean(self) -> None:
        """Make the master forget the job (its data stays)."""
        self.master.clean(self.name)

    def purge(self) -> None:
        """Kill the job and delete everything it stored."""
        self.master.purge(self.name)

    def oob_list(self) -> list[str]:
        """The keys of the job's out-of-band results (``put`` by its tasks), each once."""
        from discoworker.app.oob import result_keys

        return result_keys(self.master.ddfs, self.name)

    def oob_get(self, key: str) -> bytes:
        """The job's out-of-band result ``key``; KeyError when the job put none."""
        from discoworker.app.bootstrap import client_reader
        from discoworker.app.oob import read_result

        return read_result(self.master.ddfs, self.name, key, client_reader(self.master))

    def _death(self) -> JobError:
        """Why the job died, from its events: the failed task, its input, what it printed."""
        from discoworker.app.failure import job_error

        return job_error(self.name, self.master.events(self.name))

class JobChain(dict[Job, Any]):
    """Jobs mapped to their inputs, where an input may be another job of the chain.

    :meth:`wait` runs each job as soon as the jobs it reads are ready, giving it their
    results as its input (seed: ``disco.job.JobChain``).
    """

    def wait(self, poll_interval: float = 1.0) -> JobChain:
        """Run the jobs as their inputs become ready; return when every job is ready."""
        while sum(self.walk()) < len(self):
            time.sleep(poll_interval)
        return self

    def walk(self) -> Iterator[int]:
        """One pass: start the jobs whose inputs are ready; a 1 for each ready job."""
        for job in self:
            status = job.status()
            if status == "unknown job":
                inputs = self.inputs(job)
                if inputs is not None:
                    job.run(input=inputs)
            elif status == "ready":
                yield 1
            elif status != "active":
                raise JobError(job.name, f"the job is {status}")

    def inputs(self, job: Job) -> list[Any] | None:
        """The job's inputs, with each job of the chain replaced by its results; None while
        one of those jobs has not finished."""
        given = self[job]
        items = [given] if isinstance(given, str | Job) else list(given)
        inputs: list[Any] = []
        for item in items:
            if not isinstance(item, Job):
                inputs.append(item)
                continue
            status = item.status()
            if status in ("unknown job", "active"):
                return None
            if status != "ready":
                raise JobError(item.name, f"the job is {status}: {job.name} cannot read it")
            inputs.extend(Job.results(item))  # the list, whatever a subclass returns
        return inputs

    def purge(self) -> None:
        """Purge every job of the chain that ran."""
        for job in self:
            if job.status() != "unknown job":
                job.purge()
