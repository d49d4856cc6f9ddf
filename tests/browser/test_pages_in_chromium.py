"""The served master's pages as a person sees them, in headless Chromium (Debian's ``chromium``).

A job that fails in one task is listed as dead and its page shows the failing task's traceback
and what it printed; a job that succeeds links results that open. Each page is also kept as a
screenshot: under ``$DISCOWORKER_SCREENSHOTS`` when set (``docs/`` for the README's), else in
the test's temporary directory.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from discoworker.adapters.embedded.http_server import MasterServer, serve
from discoworker.errors import JobError
from discoworker.job import Job

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed: .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed (apt-get install chromium): the pages' browser "
                    "test needs it")
    return CHROMIUM


def browse(chromium: str, profile: Path, *args: str) -> str:
    """Run headless Chromium once with ``args``; what it printed on stdout."""
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run",
         f"--user-data-dir={profile}", "--hide-scrollbars", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def dom(chromium: str, profile: Path, url: str) -> str:
    """The page's DOM after Chromium loaded it, serialized."""
    return browse(chromium, profile, "--dump-dom", url)


def screenshot(chromium: str, profile: Path, url: str, path: Path, height: int = 700) -> None:
    """A PNG of the page as a 1200-pixel-wide window shows it."""
    browse(chromium, profile, f"--screenshot={path}", f"--window-size=1200,{height}", url)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def fun_map(line: str, params: Any) -> Iterator[tuple[str, int]]:
    print(f"looking at <{line}>")
    if "boom" in line:
        raise KeyError("no <such> key")
    for word in line.split():
        yield word, 1


def fun_reduce(records: Iterator[tuple[str, int]], params: Any) -> Iterator[tuple[str, int]]:
    from itertools import groupby

    for word, group in groupby(records, key=lambda r: r[0]):
        yield word, sum(c for _, c in group)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MasterServer]:
    with serve(tmp_path_factory.mktemp("served"), port=0, workers=2).start() as running:
        yield running


@pytest.fixture(scope="module")
def jobs(served: MasterServer) -> dict[str, str]:
    dead = Job(name="Broken<b>", master=served.url).run(
        input=["raw://all fine", "raw://boom here"], map=fun_map
    )
    with pytest.raises(JobError):
        dead.wait()
    ready = Job(name="Count", master=served.url).run(
        input=["raw://a b a", "raw://b c"], map=fun_map, reduce=fun_reduce, partitions=2,
        sort=True,
    )
    ready.wait()
    return {"dead": dead.name, "ready": ready.name}


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("DISCOWORKER_SCREENSHOTS")
    return Path(where) if where else tmp_path_factory.mktemp("screenshots")


def job_url(served: MasterServer, name: str) -> str:
    return f"{served.url}/job?name={urllib.parse.quote(name, safe='')}"


def test_the_job_list_shows_the_failed_job_dead_and_the_other_ready(
    chromium: str, served: MasterServer, jobs: dict[str, str], shots: Path, tmp_path: Path
) -> None:
    page = dom(chromium, tmp_path, served.url + "/")
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.S)
    escaped = jobs["dead"].replace("<", "&lt;").replace(">", "&gt;")
    dead_row = next(r for r in rows if escaped in r)
    assert '<span class="dead">dead</span>' in dead_row
    assert "<b>" not in page  # the job's name is text, not markup
    ready_row = next(r for r in rows if jobs["ready"] in r)
    assert '<span class="ready">ready</span>' in ready_row
    assert re.search(r"map\s+2/2", re.sub(r"<[^>]+>", "", ready_row)), ready_row
    screenshot(chromium, tmp_path, served.url + "/", shots / "web-jobs.png")


def test_the_dead_jobs_page_shows_the_traceback_and_what_the_task_printed(
    chromium: str, served: MasterServer, jobs: dict[str, str], shots: Path, tmp_path: Path
) -> None:
    page = dom(chromium, tmp_path, job_url(served, jobs["dead"]))
    text = re.sub(r"<[^>]+>", "", page)
    failure = re.search(r'<pre id="failure">(.*?)</pre>', page, re.S)
    assert failure is not None
    assert "map:1 raised KeyError: 'no &lt;such&gt; key' (reading raw://boom here)" in failure[1]
    assert 'test_pages_in_chromium.py", line' in text
    assert 'raise KeyError("no &lt;such&gt; key")' in text
    assert "looking at &lt;boom here&gt;" in text
    assert re.search(r"map:1\s*localhost\s*1\s*failed", text)
    screenshot(chromium, tmp_path, job_url(served, jobs["dead"]), shots / "web-job-dead.png",
               height=1300)


def test_a_ready_jobs_results_are_links_that_open(
    chromium: str, served: MasterServer, jobs: dict[str, str], shots: Path, tmp_path: Path
) -> None:
    url = job_url(served, jobs["ready"])
    page = dom(chromium, tmp_path, url)
    results = re.search(r'<ul id="results">(.*)</ul>', page, re.S)
    assert results is not None
    links = re.findall(r'href="([^"]+)"', results[1])
    sizes = dict(re.findall(r'href="([^"]+)">[^<]*</a> \((\d+) bytes\)', results[1]))
    assert any("/.disco/" in h for h in links)  # the index files
    assert sizes  # the data files they list, with their sizes
    for href in links:
        with urllib.request.urlopen(urllib.parse.urljoin(url, href.replace("&amp;", "&"))) as r:
            assert r.status == 200
            body = r.read()
        if href in sizes:
            assert len(body) == int(sizes[href]) > 0
    screenshot(chromium, tmp_path, url, shots / "web-job-ready.png",
               height=1000)
