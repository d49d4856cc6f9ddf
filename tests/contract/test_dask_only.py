"""What only the Dask master has: how a job names it, and a kill that reaches its workers."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from discoworker.errors import JobError
from discoworker.job import Job
from tests.contract.test_jobs import counts_of, split_words
from tests.processes import alive


def test_a_job_given_a_distributed_client_runs_on_its_cluster(
    dask_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from discoworker.adapters.dask import DaskMaster

    monkeypatch.setenv("DISCOWORKER_DATA", str(tmp_path))
    job = Job(name="DaskClient", master=dask_client).run(input=["raw://a_b"], map=split_words)
    assert isinstance(job.master, DaskMaster)
    assert counts_of(job.master, job.wait(timeout=120)) == {"a_b": 1}


def test_disco_master_naming_a_dask_scheduler_runs_the_job_there(
    dask_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from discoworker.adapters.dask import DaskMaster

    address = dask_client.scheduler.address.removeprefix("tcp://")
    monkeypatch.setenv("DISCO_MASTER", f"dask://{address}")
    monkeypatch.setenv("DISCOWORKER_DATA", str(tmp_path))
    job = Job(name="DaskEnv").run(input=["raw://x_y"], map=split_words)
    assert isinstance(job.master, DaskMaster)
    assert counts_of(job.master, job.wait(timeout=120)) == {"x_y": 1}
    hosts = {e.host for e in job.events() if e.message.startswith("DONE:")}
    assert hosts and "localhost" not in hosts  # told by the Dask worker that ran it


def test_the_command_runs_a_job_on_a_dask_scheduler_it_names(
    dask_client: Any, tmp_path: Path
) -> None:
    # A new process: no default Dask client there, only the one the dask:// URL makes.
    import subprocess
    import sys

    address = dask_client.scheduler.address.removeprefix("tcp://")
    job_file = tmp_path / "wc.py"
    job_file.write_text(
        "def map(line, params):\n"
        "    for word in line.split():\n"
        "        yield word, 1\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "discoworker.adapters.cli", "--master", f"dask://{address}",
         "--data-dir", str(tmp_path / "data"), "run", str(job_file), "-i", "raw://b a b"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "DISCO_MASTER": ""},
    )
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.split()) == ["1", "1", "1", "a", "b", "b"]


def test_a_killed_job_stops_its_tasks_on_the_dask_workers(
    dask_client: Any, tmp_path: Path
) -> None:
    from discoworker.adapters.dask import DaskMaster

    master = DaskMaster.of_client(dask_client, tmp_path / "master")
    pids = tmp_path / "pids"
    pids.mkdir()

    def slow_map(line: str, params: Any) -> Iterator[tuple[str, int]]:
        (Path(params) / str(os.getpid())).touch()
        time.sleep(600)
        yield line, 1

    job = Job(name="DaskKill", master=master).run(
        input=["raw://a", "raw://b"], map=slow_map, params=str(pids))
    deadline = time.monotonic() + 60
    while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    started = [int(p.name) for p in pids.iterdir()]
    assert len(started) == 2
    job.kill()
    with pytest.raises(JobError):
        job.wait(timeout=30)
    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in started)
    assert job.status() == "dead"


def test_what_a_running_task_prints_is_in_the_events_before_it_ends(
    dask_client: Any, tmp_path: Path
) -> None:
    from discoworker.adapters.dask import DaskMaster

    master = DaskMaster.of_client(dask_client, tmp_path / "master")
    go = tmp_path / "go"

    def waiting_map(line: str, params: Any) -> Iterator[tuple[str, int]]:
        print("waiting for go", flush=True)
        time.sleep(1.2)  # printed text goes out as a MSG at the next print a second later
        print("still waiting", flush=True)
        deadline = time.monotonic() + 120
        while not os.path.exists(params) and time.monotonic() < deadline:
            time.sleep(0.05)
        yield line, 1

    job = Job(name="DaskLive", master=master).run(
        input=["raw://live"], map=waiting_map, params=str(go))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            messages = [e.message for e in job.events()]
            if any("waiting for go" in m for m in messages):
                break
            time.sleep(0.1)
        assert any("waiting for go" in m for m in messages), messages
        assert any(m.startswith("map:0 assigned to") for m in messages)
        assert job.status() == "active"
    finally:
        go.touch()
    assert counts_of(master, job.wait(timeout=120)) == {"live": 1}
    messages = [e.message for e in job.events()]
    # Told live and carried by the result: written once.
    assert sum("waiting for go" in m for m in messages) == 1
    assert sum(m.startswith("map:0 assigned to") for m in messages) == 1


def test_dask_is_not_imported_by_discoworker_nor_by_the_embedded_master(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys, discoworker\n"
        "from discoworker.job import Job\n"
        "from discoworker.app.bootstrap import master_for\n"
        f"master_for(None, {{'data_dir': {str(tmp_path)!r}}})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DISCO_MASTER"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env)
    assert out.stdout.strip() == "[]"
