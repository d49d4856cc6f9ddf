"""The served master's pages, without a browser: tasks read from events, links, escaping."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from discoworker.adapters.embedded.master import EmbeddedMaster
from discoworker.adapters.embedded.web_pages import TaskRun, WebPages, link, task_runs
from discoworker.app.ports import Event
from tests.unit.adapters.embedded.test_master import pack

T0, T1, T2 = "2026/01/01 10:00:00", "2026/01/01 10:00:05", "2026/01/01 10:01:05"


def ev(when: str, message: str, host: str = "master") -> Event:
    return Event(when, host, message)


def test_each_attempt_is_a_row_with_its_host_status_and_times() -> None:
    events = [
        ev(T0, "Stage map scheduled with 2 tasks"),
        ev(T0, "map:0 assigned to localhost"),
        ev(T0, "map:1 assigned to localhost"),
        ev(T1, "ERROR: [map:0] While reading raw://x:\nTraceback ...\nOSError: gone"),
        ev(T1, "Task map:0 failed on \"localhost\", 1th failures so far. Retrying."),
        ev(T1, "map:0 assigned to localhost"),
        ev(T2, "SYS: [map:0] Received results from localhost"),
        ev(T2, "MSG: [map:1] SYS: [map:1] is not an ending", "localhost"),
    ]
    assert task_runs(events, "active") == [
        TaskRun("map:0", "localhost", 1, "failed", T0, T1),
        TaskRun("map:1", "localhost", 1, "running", T0),
        TaskRun("map:0", "localhost", 2, "done", T1, T2),
    ]
    # Once the job is over, an attempt that never ended was stopped with it.
    assert task_runs(events, "dead")[1].status == "killed"


def test_result_urls_link_to_where_this_server_serves_them() -> None:
    assert link("dir://localhost/disco/localhost/ab/J@1:2/.disco/r.results") == (
        "/disco/localhost/ab/J%401%3A2/.disco/r.results"
    )
    assert link("disco://localhost/ddfs/vol0/blob/ab/x$1-2-3") == "/ddfs/vol0/blob/ab/x%241-2-3"
    assert link("tag://disco:results:J") == "/tag?name=disco%3Aresults%3AJ"
    assert link("raw://hello") == ""


def test_unknown_pages_and_jobs_and_hostile_names(tmp_path: Path) -> None:
    pages = WebPages(EmbeddedMaster(tmp_path, workers=1))
    assert pages.page("/nothing", {}) is None
    status, text = pages.page("/job", {"name": "<script>alert(1)</script>"}) or (0, "")
    assert status == 404
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    status, text = pages.page("/", {}) or (0, "")
    assert (status, "No jobs yet." in text, "refresh" in text) == (200, True, False)


@pytest.mark.slow
def test_a_running_jobs_pages_reload_and_show_its_running_tasks(tmp_path: Path) -> None:
    master = EmbeddedMaster(tmp_path / "data", workers=2)
    pages = WebPages(master)
    try:
        name = master.submit(pack(behaviour={"map": "wait_go"}))
        deadline = time.monotonic() + 30
        while master.jobinfo(name)["pipeline"][0][3] < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        _, job = pages.page("/job", {"name": name}) or (0, "")
        _, jobs = pages.page("/", {}) or (0, "")
        assert 'http-equiv="refresh"' in job and 'http-equiv="refresh"' in jobs
        text = re.sub(r"<[^>]+>", " ", job)
        assert len(re.findall(r"map:\d\s+localhost\s+1\s+running", text)) == 2
        assert re.search(r"map\s+\S*\s*0/3\s+1\s+2\s+0\s+0", text), text
        (master.store.job_home(name) / "go").write_text("")
        assert master.results(name, 30).status == "ready"
        _, job = pages.page("/job", {"name": name}) or (0, "")
        assert 'http-equiv="refresh"' not in job
        assert len(re.findall(r'<span class="done">done</span>', job)) == 5  # 3 maps, 2 reduces
    finally:
        master.shutdown()
