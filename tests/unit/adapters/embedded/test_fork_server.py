"""Tasks forked from a job's fork server: each its own fresh process, nothing shared."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from discoworker.adapters.embedded import EmbeddedMaster
from discoworker.adapters.embedded.fork_server import SWITCH_ENV
from discoworker.app.classic import Worker as ClassicWorker
from discoworker.job import Job, result_iterator
from tests.processes import alive

pytestmark = pytest.mark.slow


def mutating_map(line: str, params: Any) -> Iterator[tuple[str, str]]:
    """Reads, then changes, a global of a module every task has imported before job code."""
    import discoworker.app.classic as preloaded

    seen = getattr(preloaded, "_touched_by", "nobody")
    preloaded._touched_by = line  # type: ignore[attr-defined]
    yield line, f"{os.getpid()} {os.getppid()} {seen}"


def _run(tmp_path: Path, tasks: int) -> list[tuple[int, int, str]]:
    master = EmbeddedMaster(tmp_path / "data", workers=1)
    job = Job(name="Forked", master=master).run(
        input=[f"raw://task{i}" for i in range(tasks)], map=mutating_map
    )
    rows = []
    for _, value in result_iterator(job.wait(), master=master):
        pid, ppid, seen = str(value).split(" ", 2)
        rows.append((int(pid), int(ppid), seen))
    job.purge()
    return rows


def test_a_global_one_task_changes_is_unchanged_in_the_next_task(tmp_path: Path) -> None:
    rows = _run(tmp_path, tasks=4)
    assert len(rows) == 4
    # One worker slot, so the tasks ran one after the other: each its own process...
    assert len({pid for pid, _, _ in rows}) == 4
    # ...and none saw what an earlier one wrote.
    assert [seen for _, _, seen in rows] == ["nobody"] * 4


def test_a_jobs_tasks_are_forks_of_one_server_that_ends_with_the_job(tmp_path: Path) -> None:
    rows = _run(tmp_path, tasks=3)
    parents = {ppid for _, ppid, _ in rows}
    assert len(parents) == 1
    (server,) = parents
    assert server != os.getpid()
    deadline = time.monotonic() + 10
    while alive(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(server), "the job's fork server outlived its job"


def test_switched_off_each_task_is_a_new_program_started_by_the_master(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SWITCH_ENV, "0")
    rows = _run(tmp_path, tasks=2)
    assert {ppid for _, ppid, _ in rows} == {os.getpid()}
    assert [seen for _, _, seen in rows] == ["nobody"] * 2


def _lib_of(master: EmbeddedMaster, name: str) -> Path:
    return master.store.job_home(name) / "lib"


def test_jobs_with_the_same_lib_share_one_read_only_copy_that_outlives_a_purge(
    tmp_path: Path,
) -> None:
    master = EmbeddedMaster(tmp_path / "data", workers=1)
    first = Job(name="Shared", master=master).run(input=["raw://a"], map=mutating_map)
    first.wait()
    second = Job(name="Shared", master=master).run(input=["raw://b"], map=mutating_map)
    second.wait()
    shared = _lib_of(master, first.name).resolve()
    assert shared == _lib_of(master, second.name).resolve()
    # In the user's cache of libs (the tests': conftest.py), for every data dir.
    assert shared.parent == Path(os.environ["DISCOWORKER_LIBS"]).resolve()
    source = shared / "discoworker" / "__init__.py"
    assert source.stat().st_mode & 0o222 == 0
    first.purge()
    assert source.is_file()
    # The second job's results still read, and a third job runs on the shared copy.
    assert [k for k, _ in result_iterator(second.wait(), master=master)] == ["b"]
    third = Job(name="Shared", master=master).run(input=["raw://c"], map=mutating_map)
    assert [k for k, _ in result_iterator(third.wait(), master=master)] == ["c"]


def test_a_job_shipping_other_lib_files_gets_its_own_copy(tmp_path: Path) -> None:
    master = EmbeddedMaster(tmp_path / "data", workers=1)
    plain = Job(name="Own", master=master).run(input=["raw://a"], map=mutating_map)
    plain.wait()
    extra = tmp_path / "extra_module.py"
    extra.write_text("VALUE = 1\n")
    other = Job(name="Own", master=master).run(
        input=["raw://a"], map=mutating_map, required_files=[str(extra)]
    )
    other.wait()
    assert _lib_of(master, plain.name).resolve() != _lib_of(master, other.name).resolve()
    assert (_lib_of(master, other.name) / "extra_module.py").read_text() == "VALUE = 1\n"
    assert not (_lib_of(master, plain.name) / "extra_module.py").exists()


def test_a_new_data_dirs_master_warms_the_server_of_the_lib_used_in_another(
    tmp_path: Path,
) -> None:
    used = EmbeddedMaster(tmp_path / "used", workers=1)
    job = Job(name="Warm", master=used).run(input=["raw://a"], map=mutating_map)
    job.wait()
    lib = _lib_of(used, job.name).resolve()
    used.shutdown()
    fresh = EmbeddedMaster(tmp_path / "new", workers=1)
    # Job.run's first step: the shared server, before the job is even packed.
    fresh.warm(ClassicWorker().jobenvs(Job(name="Warm"), map=mutating_map))
    run = tmp_path / "new" / ".master" / "servers" / lib.name / "lib"
    deadline = time.monotonic() + 10
    while not run.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert run.resolve() == lib
    second = Job(name="Warm", master=fresh).run(input=["raw://b"], map=mutating_map)
    assert [k for k, _ in result_iterator(second.wait(), master=fresh)] == ["b"]
    assert _lib_of(fresh, second.name).resolve() == lib
    fresh.shutdown()


def test_a_server_directory_leading_to_another_copy_is_led_to_the_jobs(tmp_path: Path) -> None:
    # A data dir used before the user's cache: its server directory led to its own copy.
    master = EmbeddedMaster(tmp_path / "data", workers=1)
    first = Job(name="Led", master=master).run(input=["raw://a"], map=mutating_map)
    first.wait()
    lib = _lib_of(master, first.name).resolve()
    master.shutdown()
    run = tmp_path / "data" / ".master" / "servers" / lib.name
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (run / "lib").unlink()
    (run / "lib").symlink_to(elsewhere, target_is_directory=True)
    again = EmbeddedMaster(tmp_path / "data", workers=1)
    job = Job(name="Led", master=again).run(input=["raw://b"], map=mutating_map)
    assert [k for k, _ in result_iterator(job.wait(), master=again)] == ["b"]
    assert (run / "lib").resolve() == lib
    again.shutdown()


# --- the shared server: one per master, a job server forked from it per job --------------


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[1])


def job_home_map(line: str, params: Any) -> Iterator[tuple[str, str]]:
    """What this job's own module, its environment and a preloaded module's global say."""
    import job_own_module  # type: ignore[import-not-found]  # the job home's, per job

    import discoworker.app.classic as preloaded

    seen = getattr(preloaded, "_touched_by", "nobody")
    preloaded._touched_by = line  # type: ignore[attr-defined]
    job_own_module.VALUE += "!"  # what the next job imports must not have it
    server = _parent_of(os.getppid())
    yield line, (f"{job_own_module.VALUE} {os.environ.get('DISCOWORKER_TEST_JOB', '-')} "
                 f"{seen} {os.getcwd()} {server}")


def _env_worker(value: str) -> Any:

    class EnvWorker(ClassicWorker):
        def jobenvs(self, job: Any, **jobargs: Any) -> dict[str, str]:
            return {**super().jobenvs(job, **jobargs), "DISCOWORKER_TEST_JOB": value}

    return EnvWorker()


def _job_home_run(master: EmbeddedMaster, value: str) -> tuple[str, list[list[str]]]:
    job = Job(name="Home", master=master, worker=_env_worker(value)).run(
        input=["raw://a", "raw://b"],
        map=job_home_map,
        required_files={"job_own_module.py": f"VALUE = {value!r}\n"},
        required_modules=[],
    )
    rows = [str(v).split(" ") for _, v in result_iterator(job.wait(), master=master)]
    return job.name, rows


def test_two_jobs_forked_from_one_shared_server_each_see_only_their_own(
    tmp_path: Path,
) -> None:
    master = EmbeddedMaster(tmp_path / "data", workers=1)
    first_name, first = _job_home_run(master, "first")
    second_name, second = _job_home_run(master, "second")
    # Each job's own module, environment and home; nothing of the other job or of a task
    # before it (a module of the same name, a global, the environment).
    assert [r[:3] for r in first] == [["first!", "first", "nobody"]] * 2
    assert [r[:3] for r in second] == [["second!", "second", "nobody"]] * 2
    assert {r[3] for r in first} == {str(master.store.job_home(first_name))}
    assert {r[3] for r in second} == {str(master.store.job_home(second_name))}
    # Both jobs' servers are forks of one shared server, which is not this process.
    servers = {int(r[4]) for r in first + second}
    assert len(servers) == 1 and os.getpid() not in servers
    master.shutdown()


def test_a_killed_shared_server_is_restarted_for_the_next_job(tmp_path: Path) -> None:
    master = EmbeddedMaster(tmp_path / "data", workers=1)
    _, before = _job_home_run(master, "one")
    (server,) = {int(r[4]) for r in before}
    os.kill(server, 9)
    deadline = time.monotonic() + 10
    while alive(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    _, after = _job_home_run(master, "two")
    assert [r[:3] for r in after] == [["two!", "two", "nobody"]] * 2
    (restarted,) = {int(r[4]) for r in after}
    assert restarted not in (server, os.getpid())
    master.shutdown()
    deadline = time.monotonic() + 10
    while alive(restarted) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(restarted), "the shared server outlived its master's shutdown"


def test_a_job_whose_path_leads_elsewhere_in_its_home_gets_a_server_of_its_own(
    tmp_path: Path,
) -> None:

    class OwnPathWorker(ClassicWorker):
        def jobenvs(self, job: Any, **jobargs: Any) -> dict[str, str]:
            return {**super().jobenvs(job, **jobargs), "PYTHONPATH": "mine:lib"}

    master = EmbeddedMaster(tmp_path / "data", workers=1)
    job = Job(name="OwnPath", master=master, worker=OwnPathWorker()).run(
        input=["raw://a"],
        map=job_home_map,
        # A module of the shared server's own would be found first in its path: this one must.
        required_files={"mine/job_own_module.py": "VALUE = 'mine'\n"},
        required_modules=[],
    )
    rows = [str(v).split(" ") for _, v in result_iterator(job.wait(), master=master)]
    assert [r[0] for r in rows] == ["mine!"]
    # Its server was started by the master itself, in the job home.
    assert {int(r[4]) for r in rows} == {os.getpid()}
    master.shutdown()


def waiting_map(line: str, params: Any) -> Iterator[tuple[str, str]]:
    """Waits for the test's go, then imports a module of discoworker no server preloaded."""
    go = Path(params)
    (go.parent / "started").touch()
    deadline = time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    import discoworker.app.task_logs as late

    yield line, late.__name__


def test_a_job_goes_on_when_its_shared_server_has_ended(tmp_path: Path) -> None:
    master = EmbeddedMaster(tmp_path / "data", workers=1)
    go = tmp_path / "go"
    job = Job(name="Outlives", master=master).run(
        input=["raw://a"], map=waiting_map, params=str(go)
    )
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    # The shared servers end (another lib's server took their place, or a shutdown)...
    master._shared.close()
    go.touch()
    # ...and the running job's tasks still find the modules of its lib/.
    assert [v for _, v in result_iterator(job.wait(), master=master)] == [
        "discoworker.app.task_logs"
    ]
    master.shutdown()
