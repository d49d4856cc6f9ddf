"""The client's view of a master (``disco.core``): ``Disco``, ``Job``, ``result_iterator``."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from disco._masters import is_embedded, master_url, shared_master
from disco.job import Job, JobChain, as_given, numbered_events
from disco.settings import DiscoSettings
from discoworker.app import results as _results
from discoworker.app.ports import Master
from discoworker.app.readers import bytes_line_reader
from discoworker.app.streams import chain_reader
from discoworker.errors import CommError

__all__ = ["Disco", "Job", "JobChain", "result_iterator"]


def _name(job: Any) -> str:
    if isinstance(job, Job):
        return job.name
    if isinstance(job, str):
        return job
    return str(job[0])  # a (jobname, (status, results)) pair that results() returned


class Disco:
    """A Disco master as the original's client saw it: jobs by name, nodes, settings.

    ``master`` is a URL; the default is ``DISCO_MASTER``, else discoworker's embedded master.
    """

    def __init__(self, master: str | None = None, settings: Any = None, proxy: Any = None):
        self.settings = settings if settings is not None else DiscoSettings()
        self.master = master_url(master, self.settings)
        self.proxy = proxy

    def __repr__(self) -> str:
        return f"Disco master at {self.master}"

    @property
    def port(self) -> Master:
        """The discoworker Master this client speaks to."""
        return shared_master(self.master)

    def _http(self) -> Any:
        if is_embedded(self.port):
            raise CommError("the embedded master has no HTTP API: serve it with "
                            "`discoworker master` and name its URL", self.master)
        return self.port

    def request(self, url: str, data: Any = None, offset: int = 0,
                as_bytes: bool = False) -> Any:
        """The master's raw HTTP answer at ``url`` (POSTing ``data``); a served master only."""
        import urllib.error
        import urllib.request

        self._http()
        body = data.encode() if isinstance(data, str) else data
        request = urllib.request.Request(self.master + url, data=body)
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        try:
            with urllib.request.urlopen(request, timeout=300) as answer:
                raw: bytes = answer.read()
        except urllib.error.HTTPError as exc:
            raise CommError(exc.read().decode("utf-8", "replace"), self.master + url,
                            exc.code) from exc
        except OSError as exc:
            raise CommError(str(exc), self.master + url) from exc
        return raw if as_bytes else raw.decode("utf-8", "replace")

    def submit(self, jobpack: bytes) -> str:
        """Submit a packed job; the name the master gives it."""
        return self.port.submit(jobpack)

    def new_job(self, name: str, **jobargs: Any) -> Job:
        """Run a job of the default worker named ``name`` with ``jobargs``."""
        job = Job(name=name, master=self.master, settings=self.settings)
        job.run(**jobargs)
        return job

    def master_version(self) -> str:
        """The master's version."""
        port = self.port
        return str(port.version()) if hasattr(port, "version") else "0.5.4"

    @property
    def ddfs(self) -> Any:
        """The master's DDFS."""
        from disco.ddfs import DDFS

        return DDFS(self.master, settings=self.settings)

    def nodeinfo(self) -> dict[str, Any]:
        """Each node's state: ``max_workers``, ``blacklisted``, task counts..."""
        port = self.port
        if hasattr(port, "nodeinfo"):
            return dict(port.nodeinfo())
        import os

        host = port.locality.host
        return {host: {"max_workers": os.cpu_count() or 1, "blacklisted": False,
                       "connected": True, "tasks": [], "failed": 0}}

    def joblist(self) -> list[tuple[float, str, str]]:
        """``(start time, status, name)`` of every job, newest first."""
        return list(self.port.jobs())

    def blacklist(self, node: str) -> None:
        """Stop running tasks on ``node`` (a cluster's master only)."""
        self.request("/disco/ctrl/blacklist", json.dumps(node))

    def whitelist(self, node: str) -> None:
        """Run tasks on ``node`` again."""
        self.request("/disco/ctrl/whitelist", json.dumps(node))

    def get_config(self) -> list[list[str]]:
        """The node table as ``[[host, workers], ...]``."""
        return [[host, str(count)] for host, count in self._http().config()]

    def set_config(self, config: list[Any]) -> None:
        """Replace the node table."""
        self._http().save_config([(str(h), int(n)) for h, n in config])

    config = property(get_config, set_config)

    def oob_get(self, jobname: str, key: str) -> bytes:
        """The job's out-of-band result ``key``."""
        return Job(jobname, master=self.master).oob_get(key)

    def oob_list(self, jobname: str) -> list[str]:
        """The keys of the job's out-of-band results."""
        return Job(jobname, master=self.master).oob_list()

    def profile_stats(self, jobname: str, mode: str = "", stream: Any = None) -> Any:
        """The job's profile as ``pstats.Stats``."""
        return Job(jobname, master=self.master).profile_stats(mode, stream or sys.stdout)

    def kill(self, jobname: str) -> None:
        """Stop the job."""
        self.port.kill(jobname)

    def clean(self, jobname: str) -> None:
        """Forget the job (its data stays)."""
        self.port.clean(jobname)

    def purge(self, jobname: str) -> None:
        """Kill the job and delete its data."""
        self.port.purge(jobname)

    def jobpack(self, jobname: str) -> Any:
        """The job pack the job was submitted with."""
        from discoworker.domain.jobpack import JobPack

        return JobPack.loads(self.port.jobpack(jobname))

    def events(self, jobname: str, offset: int = 0) -> Iterator[tuple[int, tuple[str, str, str]]]:
        """``(offset, (time, host, message))`` for the job's events from ``offset``."""
        return numbered_events(self.port, jobname, offset)

    def rawevents(self, jobname: str, offset: int = 0) -> str:
        """The job's event log as the master wrote it, one JSON array a line."""
        return self.port.raw_events(jobname, offset).decode("utf-8", "replace")

    def stageresults(self, jobname: str, stagename: str) -> list[list[str]]:
        """The outputs of stage ``stagename`` of the job so far."""
        return self.port.stage_results(jobname, stagename)

    def jobinfo(self, jobname: str) -> dict[str, Any]:
        """The master's description of the job (``active``, inputs, results...)."""
        return self.port.jobinfo(jobname)

    def results(self, jobspec: Any, timeout: float = 2000) -> Any:
        """For one job (a Job or name): ``(status, results)``, waiting up to ``timeout`` ms.

        For a list of jobs: ``(others, active)``, lists of ``(name, (status, results))``.
        """
        if isinstance(jobspec, Job | str):
            status = self.port.results(_name(jobspec), timeout / 1000)
            return status.status, as_given(status.results)
        names = [_name(job) for job in jobspec]
        deadline = time.monotonic() + timeout / 1000
        while True:
            others: list[Any] = []
            active: list[Any] = []
            for name in names:
                status = self.port.results(name, 0)
                pair = (name, (status.status, as_given(status.results)))
                (active if status.status == "active" else others).append(pair)
            if others or not active or time.monotonic() >= deadline:
                return others, active
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def wait(self, jobname: str, poll_interval: float = 2, timeout: float | None = None,
             clean: bool = False, show: Any = None) -> Any:
        """Block until the job ends; its results. JobError if it died."""
        job = Job(jobname, master=self.master, settings=self.settings)
        job._submitted = True
        return job.wait(poll_interval, timeout, clean, show)

    def result_iterator(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """:func:`result_iterator` reading from this master."""
        kwargs["ddfs"] = self.master
        return result_iterator(*args, **kwargs)


def result_iterator(  # noqa: PLR0917 - the original's signature
    urls: Iterable[Any],
    reader: Callable[..., Any] | None = chain_reader,
    input_stream: Any = None,
    notifier: Callable[..., Any] | None = None,
    params: Any = None,
    ddfs: str | None = None,
) -> Iterator[Any]:
    """The records of a job's results, each read from the first of its replicas that works.

    ``reader`` (default: Disco's record format; ``None``: the lines of each file, as the
    original's stream gives them) reads each file after ``input_stream``; ``ddfs`` is the
    master's URL for results that do not say which master made them.
    """
    master = None if ddfs is None and hasattr(urls, "master") else shared_master(
        master_url(ddfs, DiscoSettings()))
    if reader is None:
        reader = bytes_line_reader
    return _results.result_iterator(urls, reader, master=master, input_stream=input_stream,
                                    params=params, notifier=notifier)

