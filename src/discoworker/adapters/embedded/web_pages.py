"""The served master's pages for a person: jobs, a job's stages, tasks, events and results, tags.

Server-rendered HTML from the same store the JSON API reads (job state, events, index files,
DDFS tags); nothing is fetched from outside the machine and there is no script. A page of a
job that is still running reloads itself every :data:`REFRESH` seconds. Everything that comes
from a job (names, events, tracebacks, printed text, URLs) is escaped.
"""

from __future__ import annotations

import html
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import attrs

from discoworker.adapters.embedded.master import EmbeddedMaster
from discoworker.app.failure import job_error
from discoworker.app.ports import Event
from discoworker.app.task_logs import printed_texts
from discoworker.domain.events import assigned_task, task_event
from discoworker.domain.failure import find_failure
from discoworker.domain.index import read_index
from discoworker.domain.inputs import url_host, url_path, url_scheme
from discoworker.domain.progress import StageProgress, job_progress
from discoworker.errors import CommError, DiscoError

#: Seconds between reloads of a page that shows a running job.
REFRESH = 2
#: The most events a job's page shows (its last ones); ``rawevents`` has them all.
MAX_EVENTS = 2000
#: The most entries of one result index listed with links.
MAX_ENTRIES = 200

_STYLE = """
body{font-family:sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f0f0f0}
pre{background:#f7f7f7;border:1px solid #ddd;padding:.6em;white-space:pre-wrap;margin:.3em 0}
.active{color:#06c;font-weight:bold}.ready{color:#080;font-weight:bold}
.dead,.failed{color:#c00;font-weight:bold}.done{color:#080}.running{color:#06c}
.bar{width:12em;height:.9em;background:#eee;border:1px solid #bbb;display:inline-block}
.bar span{display:block;height:100%;background:#4a4}
td.msg{white-space:pre-wrap;font-family:monospace;font-size:90%}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _q(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def _page(title: str, body: str, *, refresh: bool = False) -> str:
    meta = f'<meta http-equiv="refresh" content="{REFRESH}">' if refresh else ""
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">{meta}'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
        f'<p><a href="/">jobs</a> · <a href="/tags">DDFS tags</a></p>{body}</body></html>'
    )


def _status(status: str) -> str:
    return f'<span class="{_e(status)}">{_e(status)}</span>'


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def _bar(done: int, total: int) -> str:
    share = 0 if total <= 0 else round(100 * done / total)
    return f'<span class="bar" title="{share}%"><span style="width:{share}%"></span></span>'


def _progress(stage: StageProgress, name: str = "") -> str:
    more = f", {stage.failed} failed" if stage.failed else ""
    return f"{_bar(stage.done, stage.tasks)} {name}{stage.done}/{stage.tasks}{more}"


def link(url: str) -> str:
    """Where this server serves ``url`` (a relative link), or ``""`` when it does not.

    ``disco://`` and ``dir://`` URLs of any host name this machine's data (the embedded master
    is its only node): ``/<path>``; ``tag://T`` is the tag's page.
    """
    scheme = url_scheme(url)
    if scheme == "tag":
        return f"/tag?name={_q(url[len('tag://') :])}"
    if scheme in ("disco", "dir") and url_host(url):
        return "/" + urllib.parse.quote(url_path(url))
    return ""


def _url_cell(url: str) -> str:
    href = link(url)
    return f'<a href="{_e(href)}">{_e(url)}</a>' if href else _e(url)


# --- tasks, as the events tell them -------------------------------------------------------


@attrs.frozen
class TaskRun:
    """One attempt of a task: where it ran, how it ended, when (event times)."""

    task: str
    host: str
    attempt: int
    status: str
    started: str
    ended: str = ""


def _seconds(stamp: str) -> float | None:
    try:
        return time.mktime(time.strptime(stamp, "%Y/%m/%d %H:%M:%S"))
    except ValueError:
        return None


def task_runs(events: Iterable[Event], job_status: str) -> list[TaskRun]:
    """Every attempt of every task, in the order they started.

    An attempt begins with ``T assigned to H`` and ends with the master's ``Received results``
    (done) or an ``ERROR``/``FATAL`` of the task (failed); one still open when the job is no
    longer active was stopped (``killed``).
    """
    runs: list[TaskRun] = []
    open_: dict[str, int] = {}
    attempts: dict[str, int] = {}
    for event in events:
        message = event.message
        assigned = assigned_task(message)
        if assigned is not None:
            task, host = assigned
            attempts[task] = attempts.get(task, 0) + 1
            open_[task] = len(runs)
            runs.append(TaskRun(task, host, attempts[task], "running", event.time))
            continue
        ended = _ending(message)
        if ended is not None and ended[0] in open_:
            i = open_.pop(ended[0])
            runs[i] = attrs.evolve(runs[i], status=ended[1], ended=event.time)
    if job_status != "active":
        for i in open_.values():
            runs[i] = attrs.evolve(runs[i], status="killed")
    return runs


def _ending(message: str) -> tuple[str, str] | None:
    event = task_event(message)
    if event is None:
        return None
    if event.kind == "SYS" and event.text.startswith("Received results"):
        return event.task, "done"
    if event.kind in ("ERROR", "FATAL"):
        return event.task, "failed"
    return None


def _duration(run: TaskRun, now: float) -> str:
    start = _seconds(run.started)
    end = _seconds(run.ended) if run.ended else (now if run.status == "running" else None)
    if start is None or end is None:
        return ""
    return _age(end - start)


# --- the pages ----------------------------------------------------------------------------


@attrs.define
class WebPages:
    """The pages of one master; :meth:`page` answers a path, None when it is not a page."""

    master: EmbeddedMaster

    def page(self, path: str, query: dict[str, str]) -> tuple[int, str] | None:
        """``(HTTP status, HTML)`` for ``path``; None for a path that is not one of ours."""
        if path in ("/", "/index.html"):
            return 200, self.jobs_page()
        if path == "/tags":
            return 200, self.tags_page()
        name = query.get("name", "")
        if path == "/job":
            return self._or_404(name, self.job_page)
        if path == "/tag":
            return self._or_404(name, self.tag_page)
        if path == "/log":
            task = query.get("task", "")
            return self._or_404(name, lambda n: self.log_page(n, task))
        return None

    @staticmethod
    def _or_404(name: str, render: Callable[[str], str]) -> tuple[int, str]:
        try:
            return 200, render(name)
        except (KeyError, ValueError, CommError):
            return 404, _page("Not found", f"<h1>Not found</h1><p>No such thing: {_e(name)}</p>")

    def jobs_page(self) -> str:
        """Every job, newest first: name, status, age and each stage's progress."""
        now = time.time()
        rows = []
        active = False
        for start, status, name in self.master.jobs():
            active = active or status == "active"
            try:
                progress = job_progress(name, self.master.jobinfo(name))
            except KeyError:
                continue  # purged meanwhile
            stages = "<br>".join(_progress(s, f"{_e(s.name)} ") for s in progress.stages)
            rows.append(
                f'<tr><td><a href="/job?name={_q(name)}">{_e(name)}</a></td>'
                f"<td>{_status(status)}</td><td>{_age(now - start)}</td><td>{stages}</td></tr>"
            )
        table = (
            "<table><tr><th>job</th><th>status</th><th>age</th><th>stages (tasks done)</th>"
            f"</tr>{''.join(rows)}</table>"
            if rows else "<p>No jobs yet.</p>"
        )
        return _page("discoworker: jobs", f"<h1>Jobs</h1>{table}", refresh=active)

    def tags_page(self) -> str:
        """Every DDFS tag, linked to its page."""
        tags = self.master.ddfs.tags()
        items = "".join(f'<li><a href="/tag?name={_q(t)}">{_e(t)}</a></li>' for t in tags)
        body = f"<ul>{items}</ul>" if tags else "<p>No tags.</p>"
        return _page("discoworker: DDFS tags", f"<h1>DDFS tags</h1>{body}")

    def tag_page(self, tag: str) -> str:
        """A tag's blobs, each replica linked to where this server serves it."""
        obj = self.master.ddfs.get(tag)
        rows = "".join(
            "<tr><td>" + "<br>".join(_url_cell(str(u)) for u in reps) + "</td></tr>"
            for reps in obj.get("urls", [])
        )
        return _page(
            f"tag {tag}",
            f"<h1>Tag {_e(tag)}</h1><p>last modified {_e(obj.get('last-modified', ''))}</p>"
            f"<table><tr><th>blob (replicas)</th></tr>{rows}</table>",
        )

    def job_page(self, name: str) -> str:
        """A job: stages, tasks, the failure with its task's log, results, events."""
        info = self.master.jobinfo(name)
        status = str(info["active"])
        events = list(self.master.events(name))
        now = time.time()
        parts = [
            f"<h1>Job {_e(name)}</h1>",
            f"<p>status {_status(status)} · started {_e(info['timestamp'])} · "
            f"worker {_e(info['worker'])} · owner {_e(info['owner'])}</p>",
        ]
        parts.append(self._stages(job_progress(name, info).stages))
        if status == "dead":
            parts.append(self._failure(name, events))
        parts.append(self._tasks(name, task_runs(events, status), now))
        if status == "ready":
            parts.append(self._results(info["results"]))
        parts.append(self._events(events))
        return _page(f"job {name}", "".join(parts), refresh=status == "active")

    @staticmethod
    def _stages(stages: Sequence[StageProgress]) -> str:
        rows = "".join(
            f"<tr><td>{_e(s.name)}</td><td>{_progress(s)}</td><td>{s.waiting}</td>"
            f"<td>{s.running}</td><td>{s.done}</td><td>{s.failed}</td></tr>"
            for s in stages
        )
        return (
            "<h2>Stages</h2><table><tr><th>stage</th><th>progress</th><th>waiting</th>"
            f"<th>running</th><th>done</th><th>failed attempts</th></tr>{rows}</table>"
        )

    @staticmethod
    def _tasks(name: str, runs: Sequence[TaskRun], now: float) -> str:
        if not runs:
            return "<h2>Tasks</h2><p>No task started yet.</p>"
        rows = "".join(
            f'<tr><td><a href="/log?name={_q(name)}&amp;task={_q(r.task)}">{_e(r.task)}</a></td>'
            f"<td>{_e(r.host)}</td><td>{r.attempt}</td><td>{_status(r.status)}</td>"
            f"<td>{_e(r.started)}</td><td>{_duration(r, now)}</td></tr>"
            for r in runs
        )
        return (
            "<h2>Tasks</h2><table><tr><th>task (its log)</th><th>host</th><th>attempt</th>"
            f"<th>status</th><th>started</th><th>time</th></tr>{rows}</table>"
        )

    def _failure(self, name: str, events: Sequence[Event]) -> str:
        error = job_error(name, events)
        failure = find_failure([e.message for e in events])
        body = f'<h2>Why it died</h2><pre id="failure">{_e(str(error))}</pre>'
        if failure is not None:
            body += f"<h3>Traceback of {_e(failure.task)}</h3><pre>{_e(failure.text)}</pre>"
            body += self._logs(name, events, failure.task)
        return body

    def _logs(self, name: str, events: Sequence[Event], task: str) -> str:
        texts = printed_texts(events, self._read_local, task)
        out = []
        for t in texts:
            title = f"{t.task}, attempt {t.attempt}, printed ({t.source})"
            out.append(f"<h3>{_e(title)}</h3><pre>{_e(t.text)}</pre>")
        if not out:
            out.append(f"<p>{_e(task)} printed nothing.</p>")
        return "".join(out)

    def _read_local(self, url: str) -> bytes:
        # Only what this master stores: a URL naming anything else is not read.
        path = self.master.locality.local_path(url)
        if path is None:
            raise DiscoError(f"not in this master's data directory: {url}")
        return Path(path).read_bytes()

    def log_page(self, name: str, task: str) -> str:
        """What ``task`` (or a whole stage) of job ``name`` printed, attempt by attempt."""
        self.master.jobinfo(name)
        events = list(self.master.events(name))
        body = self._logs(name, events, task)
        return _page(
            f"{task} of {name}",
            f'<h1>{_e(task)} of <a href="/job?name={_q(name)}">{_e(name)}</a></h1>{body}',
        )

    def _results(self, results: Sequence[str]) -> str:
        items = []
        for url in results:
            entries = ""
            if url_scheme(url) == "dir":
                entries = self._index_entries(url)
            items.append(f"<li>{_url_cell(url)}{entries}</li>")
        return f"<h2>Results</h2><ul id=\"results\">{''.join(items)}</ul>"

    def _index_entries(self, url: str) -> str:
        try:
            entries = read_index(self._read_local(url), url)
        except (OSError, DiscoError, ValueError):
            return ""
        shown = "".join(
            f"<li>label {e.label}: {_url_cell(e.url)} ({e.size} bytes)</li>"
            for e in entries[:MAX_ENTRIES]
        )
        left = len(entries) - MAX_ENTRIES
        more = f"<li>... {left} more</li>" if left > 0 else ""
        return f"<ul>{shown}{more}</ul>"

    @staticmethod
    def _events(events: Sequence[Event]) -> str:
        shown = events[-MAX_EVENTS:]
        cut = len(events) - len(shown)
        note = f"<p>The first {cut} events are left out (rawevents has them).</p>" if cut else ""
        rows = "".join(
            f'<tr><td>{_e(e.time)}</td><td>{_e(e.host)}</td><td class="msg">{_e(e.message)}</td>'
            "</tr>"
            for e in shown
        )
        return (
            f"<h2>Events</h2>{note}<table><tr><th>time</th><th>host</th><th>message</th></tr>"
            f"{rows}</table>"
        )
