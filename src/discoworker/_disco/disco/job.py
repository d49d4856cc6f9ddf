"""Jobs (``disco.job``): the original's ``Job``, ``JobChain`` and ``JobPack`` on discoworker.

``Job`` is discoworker's, with the original's return shapes: ``results()`` gives
``(status, results)``, ``events()`` gives ``(offset, (time, host, message))``, ``wait`` takes
``poll_interval`` first.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from disco._masters import master_url, shared_master
from disco.settings import DiscoSettings
from discoworker.app import job as _job
from discoworker.domain.jobpack import JobPack

__all__ = ["JOBPACK_VERSION1", "JOBPACK_VERSION2", "Job", "JobChain", "JobPack", "SimpleJob"]

#: Job pack versions: 1 carries a classic jobdict, 2 a pipeline.
JOBPACK_VERSION1 = 1
JOBPACK_VERSION2 = 2


class Job(_job.Job):
    """A Disco job (``disco.job.Job``): ``Job().run(input=[...], map=fun_map)``.

    ``master`` is a master's URL (default ``DISCO_MASTER``, else the embedded master); class
    attributes of a subclass (``map``, ``reduce``, ``partitions``...) are its job arguments.
    """

    #: As the original, a job of no inputs runs (and has no results); discoworker refuses it.
    allow_empty_input = True

    @staticmethod
    def Worker() -> Any:  # noqa: N802  (the original's attribute name)
        """The default worker: the classic one, with Disco 0.5's map lines."""
        from disco.worker.classic.worker import Worker

        return Worker()

    def __init__(
        self, name: str | None = None, master: Any = None, worker: Any = None,
        settings: Any = None,
    ) -> None:
        disco_settings = settings if settings is not None else DiscoSettings()
        url = master.master if hasattr(master, "master") and not isinstance(master, str) \
            else master_url(master, disco_settings)
        super().__init__(name, master=shared_master(url), worker=worker)
        self.settings = disco_settings

    def results(self) -> tuple[str, list[list[str]]]:  # type: ignore[override]
        """``(status, results)``: results are empty unless the status is ``ready``."""
        status = self.master.results(self.name, 0)
        return status.status, as_given(status.results)

    def wait(  # type: ignore[override]
        self, poll_interval: float = 1, timeout: float | None = None, clean: bool = False,
        show: Any = None,
    ) -> _job.Results:
        """Block until the job ends; its results. JobError if it died."""
        results = super().wait(timeout=timeout, poll_interval=poll_interval)
        if clean:
            self.clean()
        return results

    def events(self, offset: int = 0) -> Iterator[tuple[int, tuple[str, str, str]]]:  # type: ignore[override]
        """``(offset, (time, host, message))`` for each of the job's events from ``offset``."""
        return numbered_events(self.master, self.name, offset)

    def jobpack(self) -> JobPack:
        """The job pack as the master holds it."""
        return JobPack.loads(self.master.jobpack(self.name))

    def profile_stats(self, mode: str = "", stream: Any = None) -> Any:
        """The job's profile (``profile=True``) as ``pstats.Stats``, printed to ``stream``."""
        return super().profile_stats(mode, stream if stream is not None else sys.stdout)


def as_given(results: list[list[str]]) -> list[Any]:
    """Results as the master gives them: a saved result (``save_results``) is its bare
    ``tag://`` URL, every other one a list of replica URLs."""
    return [r[0] if len(r) == 1 and r[0].startswith("tag://") else list(r) for r in results]


def numbered_events(
    master: Any, jobname: str, offset: int
) -> Iterator[tuple[int, tuple[str, str, str]]]:
    """Each event from byte ``offset`` of the master's log, with the offset after its line
    (the bytes the master wrote, so a later call resumes exactly there)."""
    from discoworker.domain.events import log_lines

    for end, event in log_lines(master.raw_events(jobname, offset)):
        yield offset + end, event


class SimpleJob(Job):
    """A job with the default (classic) worker, as the original's ``SimpleJob``."""


class JobChain(_job.JobChain):
    """Jobs mapped to their inputs, another job of the chain standing for its results."""
