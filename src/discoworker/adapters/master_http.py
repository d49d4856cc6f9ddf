"""A real Disco master over HTTP: the :class:`~discoworker.app.ports.Master` port.

Speaks the master's job API (``/disco/job/new`` and ``/disco/ctrl/...``, see master-http.md)
with the standard library only. Results are ``dir://host/...`` URLs that the master's nodes
serve over HTTP on the master's port, so :attr:`HttpMaster.locality` has no local host.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import attrs

from discoworker.adapters.ddfs_http import (
    DEFAULT_TIMEOUT,
    HttpDdfs,
    base_port,
    json_body,
    master_base,
    request,
    show,
)
from discoworker.app.ports import Event, JobResults, JobStatus
from discoworker.domain.inputs import Locality
from discoworker.errors import CommError, JobDictError, JobPackError

_STATUSES: tuple[JobStatus, ...] = ("active", "ready", "dead", "unknown job")
# The master's reasons for a job pack it could not even read (jobpack.erl); the rest of its
# refusals are about the jobdict.
_PACK_FAULTS = ("invalid header", "invalid payload", "unsupported version")
# One get_results call waits at most this long, so a dropped connection is noticed.
# Short waits: a real master does not wake a waiting request when a save_results job ends.
_RESULTS_CHUNK = 2.0


@attrs.define
class HttpMaster:
    """A Disco master at ``url`` (``http://host:8989``, ``disco://host`` or ``host[:port]``)."""

    _base: str = attrs.field(converter=master_base, alias="url")
    #: Seconds one request may take (a get_results wait is added to it).
    timeout: float = DEFAULT_TIMEOUT
    _ddfs: HttpDdfs = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._ddfs = HttpDdfs(self._base, timeout=self.timeout)

    @property
    def url(self) -> str:
        """``http://host:port`` of the master."""
        return self._base

    @property
    def ddfs(self) -> HttpDdfs:
        """The DDFS of this master."""
        return self._ddfs

    @property
    def locality(self) -> Locality:
        """Nothing is local to this client: ``dir://``/``disco://`` URLs are read over HTTP."""
        return Locality(host="", disco_data="", ddfs_data="", disco_port=base_port(self._base))

    # --- plumbing -------------------------------------------------------------------------

    def _url(self, path: str, **query: str) -> str:
        url = f"{self._base}{path}"
        if query:
            # Job names hold '@' and ':'; the master reads them either way, keep them legible.
            url += "?" + urllib.parse.urlencode(query, safe="@:")
        return url

    def _get(
        self, path: str, *, headers: dict[str, str] | None = None, job: str = "", **query: str
    ) -> bytes:
        url = self._url(path, **query)
        try:
            return request("GET", url, headers=headers, timeout=self.timeout).body
        except CommError as exc:
            if exc.code == 404 and job:
                raise CommError(f"the master does not know job {job!r}", url, 404) from None
            raise

    def _postjson_body(self, path: str, payload: object, timeout: float | None = None) -> Any:
        url = self._url(path)
        body = json.dumps(payload).encode("utf-8")
        reply = request("POST", url, body, timeout=timeout or self.timeout)
        return json_body(reply.body, f"POST {path}", url)

    def _unexpected(self, path: str, value: object, promise: str) -> CommError:
        text = json.dumps(value).encode("utf-8") if not isinstance(value, bytes) else value
        return CommError(f"{path} replied {show(text)}, not {promise}", self._url(path))

    # --- the port -------------------------------------------------------------------------

    def submit(self, jobpack: bytes) -> str:
        """Submit a job pack; the job's name. JobPackError/JobDictError with the master's reason."""
        path = "/disco/job/new"
        url = self._url(path)
        try:
            reply = request("POST", url, jobpack, timeout=self.timeout)
        except CommError as exc:
            if exc.code == 413:  # the master's MAX_JOB_PACKET
                raise JobPackError(f"the master refused the job pack: {exc.msg}") from None
            raise
        answer = json_body(reply.body, f"POST {path}", url)
        match answer:
            case ["ok", str(name)] if name:
                return name
            case ["error", str(message)]:
                if any(fault in message for fault in _PACK_FAULTS):
                    raise JobPackError(message)
                raise JobDictError(message)
        raise self._unexpected(path, answer, '["ok", jobname] or ["error", message]')

    def results(self, jobname: str, timeout: float | None = None) -> JobResults:
        """Status and results, waiting up to ``timeout`` s for the job to end (None: no limit)."""
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        while True:
            left = _RESULTS_CHUNK if deadline is None else deadline - time.monotonic()
            wait = max(0.0, min(left, _RESULTS_CHUNK))
            status = self._results_once(jobname, wait)
            if status.status != "active" or (deadline is not None and left <= _RESULTS_CHUNK):
                return status

    def _results_once(self, jobname: str, wait: float) -> JobResults:
        path = "/disco/ctrl/get_results"
        answer = self._postjson_body(path, [round(wait * 1000), [jobname]], self.timeout + wait)
        promise = "[[jobname, [status, results]]]"
        if not isinstance(answer, list):
            raise self._unexpected(path, answer, promise)
        for entry in answer:
            match entry:
                case [str(name), [str(status), list(results)]] if name == jobname:
                    if status not in _STATUSES:
                        raise self._unexpected(path, answer, promise)
                    # (mypy narrows ``status`` to JobStatus through the membership test above.)
                    return JobResults(status, _replica_lists(results, path, self._url(path)))
        raise self._unexpected(path, answer, f"{promise} for {jobname}")

    def jobinfo(self, jobname: str) -> dict[str, Any]:
        """The master's job info object; CommError (code 404) for an unknown job."""
        path = "/disco/ctrl/jobinfo"
        body = self._get(path, job=jobname, name=jobname)
        info = json_body(body, path, self._url(path, name=jobname))
        if not isinstance(info, dict) or "active" not in info:
            raise self._unexpected(path, info, "a job info object")
        return info

    def raw_events(self, jobname: str, offset: int = 0) -> bytes:
        """The job's event log from byte ``offset``."""
        headers = {"Range": f"bytes={offset}-"} if offset > 0 else None
        url = self._url("/disco/ctrl/rawevents", name=jobname)
        try:
            reply = request("GET", url, headers=headers, timeout=self.timeout)
        except CommError as exc:
            if exc.code == 404:
                raise CommError(f"the master does not know job {jobname!r}", url, 404) from None
            raise
        if offset > 0 and reply.status != 206:
            # The master ignores a range it cannot satisfy (at or past the end of the log) and
            # sends the whole log with 200: what lies past the offset is then the answer.
            return reply.body[offset:]
        return reply.body

    def events(self, jobname: str, offset: int = 0) -> Iterator[Event]:
        """The job's events from byte ``offset`` of its log (a line still being written waits)."""
        path = "/disco/ctrl/rawevents"
        data = self.raw_events(jobname, offset)
        lines = data.split(b"\n")
        # The last piece has no newline yet: a line the master is still writing, or nothing.
        events: list[Event] = []
        for line in lines[:-1]:
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            match entry:
                case [str(when), str(host), str(message)]:
                    events.append(Event(when, host, message))
                case _:
                    raise self._unexpected(path, line, 'lines ["time", "host", "message"]')
        return iter(events)

    def stage_results(self, jobname: str, stage: str) -> list[list[str]]:
        """The outputs of ``stage`` so far; CommError (code 404) for an unknown job or stage."""
        path = "/disco/ctrl/get_stageresults"
        url = self._url(path, name=jobname, stage=stage)
        try:
            body = request("GET", url, timeout=self.timeout).body
        except CommError as exc:
            if exc.code == 404:
                raise CommError(f"no stage {stage!r} of job {jobname!r}", url, 404) from None
            raise
        return _replica_lists(json_body(body, path, url), path, url)

    def jobpack(self, jobname: str) -> bytes:
        """The job pack as submitted; CommError (code 404) for an unknown job."""
        return self._get("/disco/ctrl/parameters", job=jobname, name=jobname)

    def _control(self, op: str, jobname: str) -> None:
        # The reply is "" whatever the job; only a body that is no JSON at all is a fault.
        self._postjson_body(f"/disco/ctrl/{op}", jobname)

    def kill(self, jobname: str) -> None:
        """Stop the job's tasks; the job is dead."""
        self._control("kill_job", jobname)

    def clean(self, jobname: str) -> None:
        """Make the master forget the job (its data stays)."""
        self._control("clean_job", jobname)

    def purge(self, jobname: str) -> None:
        """Kill the job and remove everything it stored."""
        self._control("purge_job", jobname)

    def jobs(self) -> list[tuple[float, str, str]]:
        """``(start time, status, jobname)`` of every job, newest first."""
        path = "/disco/ctrl/joblist"
        rows = json_body(self._get(path), path, self._url(path))
        out: list[tuple[float, str, str]] = []
        if isinstance(rows, list):
            for row in rows:
                match row:
                    case [int() | float() as start, str(status), str(name)]:
                        out.append((float(start), status, name))
                    case _:
                        break
            else:
                return out
        raise self._unexpected(path, rows, "[[start, status, jobname], ...]")

    # --- beyond the port: the rest of the master's API ------------------------------------

    def version(self) -> str:
        """The master's version (``"0.5.4"``)."""
        path = "/disco/version"
        value = json_body(self._get(path), path, self._url(path))
        if not isinstance(value, str):
            raise self._unexpected(path, value, "a version string")
        return value

    def nodeinfo(self) -> dict[str, Any]:
        """Per node: workers, task counts, connection and disk use."""
        path = "/disco/ctrl/nodeinfo"
        value = json_body(self._get(path), path, self._url(path))
        if not isinstance(value, dict):
            raise self._unexpected(path, value, "an object of nodes")
        return value

    def settings(self) -> dict[str, Any]:
        """The master's run-time settings (``max_failure_rate``, ``accept_new_jobs``)."""
        path = "/disco/ctrl/get_settings"
        value = json_body(self._get(path), path, self._url(path))
        if not isinstance(value, dict):
            raise self._unexpected(path, value, "an object of settings")
        return value

    def config(self) -> list[tuple[str, int]]:
        """The node table: ``(host, workers)`` rows."""
        path = "/disco/ctrl/load_config_table"
        rows = json_body(self._get(path), path, self._url(path))
        out: list[tuple[str, int]] = []
        for row in rows if isinstance(rows, list) else [None]:
            match row:
                case [str(host), str(count)] if count.isdigit():
                    out.append((host, int(count)))
                case _:
                    raise self._unexpected(path, rows, '[[host, "workers"], ...]')
        return out

    def save_config(self, table: list[tuple[str, int]]) -> None:
        """Replace the node table (the master wants the worker counts as strings)."""
        path = "/disco/ctrl/save_config_table"
        answer = self._postjson_body(path, [[host, str(count)] for host, count in table])
        if answer != "table saved!":
            raise CommError(f"the master did not save the node table: {answer!r}", self._url(path))

    def oob_list(self, jobname: str) -> list[str]:
        """The keys of the job's out-of-band results (blobs of ``disco:job:oob:<job>``)."""
        return [_blob_name(reps[0]) for reps in self._oob_blobs(jobname) if reps]

    def oob_get(self, jobname: str, key: str) -> bytes:
        """The out-of-band result ``key`` of the job; KeyError when there is none."""
        for reps in self._oob_blobs(jobname):
            if reps and _blob_name(reps[0]) == key:
                error: CommError | None = None
                for url in reps:
                    try:
                        return self._ddfs.read(url)
                    except CommError as exc:  # another replica may still be there
                        error = exc
                assert error is not None
                raise error
        raise KeyError(f"no out-of-band result {key!r} for job {jobname!r}")

    def _oob_blobs(self, jobname: str) -> list[list[str]]:
        try:
            return self._ddfs.get(f"disco:job:oob:{jobname}")["urls"]  # type: ignore[no-any-return]
        except CommError as exc:
            if exc.code == 404:
                return []
            raise


def _replica_lists(results: object, path: str, url: str) -> list[list[str]]:
    # Results are replica lists; a save_results job gives one bare "tag://..." string instead.
    out: list[list[str]] = []
    for item in results if isinstance(results, list) else [None]:
        reps = [item] if isinstance(item, str) else item
        if not isinstance(reps, list) or not all(isinstance(u, str) for u in reps):
            raise CommError(f"{path} replied {show(json.dumps(results).encode())}, "
                            "not a list of replica lists", url)
        out.append(list(reps))
    return out


def _blob_name(url: str) -> str:
    # A blob's key: the last path segment without DDFS's "$<timestamp>" suffix.
    return url.rsplit("/", 1)[-1].split("$", 1)[0]
