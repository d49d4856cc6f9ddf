"""End to end: jobs on the embedded master, with fake_worker.py as real worker processes."""

from __future__ import annotations

import collections
import io
import json
import os
import sys
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from discoworker.adapters.embedded import EmbeddedMaster
from discoworker.adapters.embedded.store import safe_unzip
from discoworker.adapters.embedded.worker_process import Limits
from discoworker.domain.jobpack import JobPack
from discoworker.errors import JobDictError, JobPackError

pytestmark = pytest.mark.slow

WORKER = (Path(__file__).parent / "fake_worker.py").read_text()
WORDS = ["a,bb,ccc,a", "bb,dddd,a", "eeeee,a,bb"]


def jobhome(behaviour: Mapping[str, str] | None = None, extra: Mapping[str, bytes] = {}) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("w.py", f"#!{sys.executable}\n{WORKER}")
        z.writestr("behaviour.json", json.dumps(behaviour or {}))
        for name, data in extra.items():
            z.writestr(name, data)
    return buf.getvalue()


def pack(
    pipeline: list[list[Any]] | None = None,
    behaviour: Mapping[str, str] | None = None,
    inputs: list[list[str]] | None = None,
    jobenvs: Mapping[str, str] | None = None,
    home: bytes | None = None,
    **extra: Any,
) -> bytes:
    jobdict = {
        "prefix": "T",
        "worker": "w.py",
        "owner": "me@here",
        "scheduler": {},
        "pipeline": pipeline or [["map", "split", False], ["reduce", "group_label", False]],
        "inputs": [[0, 0, reps] for reps in (inputs or [[f"raw://{w}"] for w in WORDS])],
        **extra,
    }
    return JobPack(2, jobdict, dict(jobenvs or {}), home or jobhome(behaviour), b"").dumps()


@pytest.fixture
def master(tmp_path: Path) -> Iterator[EmbeddedMaster]:
    m = EmbeddedMaster(
        tmp_path / "data",
        workers=2,
        max_attempts=3,
        limits=Limits(hello_timeout=5.0, stuck_timeout=0.5, last_words_grace=0.2),
    )
    yield m
    m.shutdown()


def read_results(m: EmbeddedMaster, results: list[list[str]]) -> collections.Counter[str]:
    """Word counts from the result index files, as result_iterator would read them."""
    root = m.store.disco_data
    counts: collections.Counter[str] = collections.Counter()
    for (url,) in results:
        assert url.startswith("dir://localhost/disco/localhost/")
        index = root / url.split("/disco/", 1)[1]
        for line in index.read_text().splitlines():
            _label, data_url, size = line.split()
            data = (root / data_url.split("/disco/", 1)[1]).read_bytes()
            assert len(data) == int(size)
            for item in data.decode().split():
                word, _, c = item.partition("=")
                counts[word] += int(c or 1)
    return counts


EXPECTED = collections.Counter(w for line in WORDS for w in line.split(","))


def wait(m: EmbeddedMaster, name: str) -> list[list[str]]:
    res = m.results(name, timeout=15)
    assert res.status == "ready", (res, m.error(name), [e.message for e in m.events(name)])
    return res.results


def test_two_stage_pipeline_gives_index_files_and_results(master: EmbeddedMaster) -> None:
    name = master.submit(pack())
    assert name.startswith("T@")
    results = wait(master, name)
    # Labels 0 and 1 (word length parity): two reduce tasks, ids after the three maps.
    assert [r[0].rsplit("/", 1)[1].split("-")[:2] for r in results] == [
        ["reduce", "3"],
        ["reduce", "4"],
    ]
    assert read_results(master, results) == EXPECTED
    home = master.store.job_home(name)
    assert (home / "jobfile").read_bytes() == master.jobpack(name)
    assert (home / ".jobhome").exists() and os.access(home / "w.py", os.X_OK)
    map_index = sorted((home / ".disco").glob("map-0-*.results"))
    assert len(map_index) == 1
    line = map_index[0].read_text().splitlines()[0]
    assert line.startswith(f"0 disco://localhost/disco/localhost/{home.parent.name}/{name}/map-0-")
    info = master.jobinfo(name)
    assert info["active"] == "ready" and info["pipeline"] == [
        ["map", 0, 0, 0, 3, 0],
        ["reduce", 0, 0, 0, 2, 0],
    ]
    messages = [e.message for e in master.events(name)]
    assert "Stage map scheduled with 3 tasks" in messages
    assert any(m.startswith("DONE: [reduce:4]") for m in messages)
    assert master.jobs()[0][1:] == ("ready", name)
    assert master.stage_results(name, "map") and len(master.stage_results(name, "map")) == 3


def test_classic_pack_runs_as_map_shuffle_reduce(master: EmbeddedMaster) -> None:
    jobdict = {
        "prefix": "C",
        "worker": "w.py",
        "owner": "me@here",
        "scheduler": {},
        "input": [f"raw://{w}" for w in WORDS],
        "map?": True,
        "reduce?": True,
        "nr_reduces": 2,
    }
    name = master.submit(JobPack(1, jobdict, {}, jobhome(), b"").dumps())
    results = wait(master, name)
    assert read_results(master, results) == EXPECTED
    stages = [row[0] for row in master.jobinfo(name)["pipeline"]]
    assert stages == ["map", "map_shuffle", "reduce"]


@pytest.mark.parametrize("how", ["error_first", "crash_first", "garbage_first", "hang_mid"])
def test_failed_attempt_is_retried_and_its_output_never_read(
    master: EmbeddedMaster, how: str
) -> None:
    name = master.submit(pack(behaviour={"reduce": how}))
    results = wait(master, name)
    assert read_results(master, results) == EXPECTED
    messages = [e.message for e in master.events(name)]
    assert any("failures so far" in m for m in messages)


def test_error_every_time_exhausts_attempts(master: EmbeddedMaster) -> None:
    name = master.submit(pack(pipeline=[["map", "split", False]], inputs=[["raw://a"]],
                              behaviour={"map": "error"}))
    res = master.results(name, timeout=15)
    assert res.status == "dead"
    assert "Task map:0 failed 3 times" in master.error(name)
    assert "transient trouble" in master.error(name)


def test_fatal_kills_the_job_with_its_message(master: EmbeddedMaster) -> None:
    name = master.submit(pack(behaviour={"map": "fatal"}))
    res = master.results(name, timeout=15)
    assert res.status == "dead" and res.results == []
    error = master.error(name)
    assert "map:" in error and "ValueError: deliberate fatal" in error
    assert master.jobinfo(name)["active"] == "dead"


def test_absolute_output_is_retried_then_dead(master: EmbeddedMaster) -> None:
    name = master.submit(pack(pipeline=[["map", "split", False]], inputs=[["raw://a"]],
                              behaviour={"map": "abs_output"}))
    assert master.results(name, timeout=15).status == "dead"
    assert "invalid_output" in master.error(name)


def test_input_err_gets_retry_then_fail(master: EmbeddedMaster) -> None:
    name = master.submit(pack(pipeline=[["map", "split", False]],
                              inputs=[["raw://x", "raw://y"]], behaviour={"map": "inputerr"}))
    wait(master, name)
    messages = [e.message for e in master.events(name)]
    assert any(
        """replies b'RETRY 15 [[1,"raw://y"]]\\n' b'FAIL 2 ""\\n'""" in m for m in messages
    ), messages


def test_ping_is_answered_pong(master: EmbeddedMaster) -> None:
    name = master.submit(pack(pipeline=[["map", "split", False]], inputs=[["raw://a"]],
                              behaviour={"map": "ping"}))
    wait(master, name)
    assert any(e.message.endswith("ping said pong") for e in master.events(name))


def test_worker_that_never_says_worker_is_retried_then_dead(tmp_path: Path) -> None:
    m = EmbeddedMaster(tmp_path / "d", workers=2, max_attempts=2,
                       limits=Limits(hello_timeout=0.3))
    try:
        name = m.submit(pack(pipeline=[["map", "split", False]], inputs=[["raw://a"]],
                             jobenvs={"FAKE_BEHAVIOUR": "hang"}))
        assert m.results(name, timeout=15).status == "dead"
        assert "did not say WORKER" in m.error(name)
    finally:
        m.shutdown()


def test_zip_slip_is_refused_and_nothing_written_outside(master: EmbeddedMaster,
                                                          tmp_path: Path) -> None:
    for bad in ("../evil.txt", "/tmp/evil-abs.txt", "a/../../evil.txt"):
        with pytest.raises(JobPackError):
            master.submit(pack(home=jobhome(extra={bad: b"x"})))
    assert not (tmp_path / "evil.txt").exists()
    assert not (master.store.disco_data / "localhost" / "evil.txt").exists()
    assert master.jobs() == []


def test_symlink_out_of_the_job_home_is_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("link")
        info.external_attr = (0o120777 << 16)
        z.writestr(info, "../../outside")
    home = tmp_path / "home"
    home.mkdir()
    with pytest.raises(JobPackError, match="symbolic link"):
        safe_unzip(buf.getvalue(), home)


def test_bad_jobdict_is_refused_with_the_masters_reason(master: EmbeddedMaster) -> None:
    bad = JobPack(2, {"prefix": "T", "worker": "w.py", "owner": "o", "scheduler": {},
                      "inputs": []}, {}, b"", b"").dumps()
    with pytest.raises(JobDictError, match="pipeline"):
        master.submit(bad)
    with pytest.raises(JobPackError):
        master.submit(b"garbage")


def test_save_results_tags_the_results_and_purge_removes_files(master: EmbeddedMaster) -> None:
    name = master.submit(pack(save_results=True))
    results = wait(master, name)
    assert results == [[f"tag://disco:results:{name}"]]
    assert len(master.ddfs.blobs(f"disco:results:{name}")) == 2
    master.purge(name)
    assert not master.store.job_home(name).exists()
    assert master.ddfs.tags() == []
    assert master.results(name, timeout=0).status == "unknown job"


def test_a_purged_jobs_files_leave_at_once_and_are_deleted_soon(master: EmbeddedMaster) -> None:
    import time

    name = master.submit(pack())
    wait(master, name)
    outputs = list(master.store.job_home(name).rglob("*"))
    assert len(outputs) > 3
    master.purge(name)
    assert not master.store.job_home(name).exists()
    assert master.jobs() == []
    trash = master.store.root / ".master" / "trash"
    deadline = time.monotonic() + 10
    while any(trash.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert list(trash.iterdir()) == []


def test_another_master_process_sees_jobs_and_events(master: EmbeddedMaster) -> None:
    name = master.submit(pack(pipeline=[["map", "split", False]], inputs=[["raw://a"]]))
    wait(master, name)
    other = EmbeddedMaster(master.store.root, workers=1)
    assert other.results(name, timeout=0).status == "ready"
    assert next(e.message for e in other.events(name)) == "New job initialized!"


def test_local_ddfs_push_and_tags(master: EmbeddedMaster) -> None:
    ddfs = master.ddfs
    urls = ddfs.push("data:wc", "data1.txt", io.BytesIO(b"hello"))
    assert urls[0].startswith("disco://localhost/ddfs/vol0/blob/")
    ddfs.tag("data:all", [["tag://data:wc"]])
    assert ddfs.blobs("data:all") == [urls]
    path = ddfs.blob_path(urls[0])
    assert path is not None and path.read_bytes() == b"hello"
    ddfs.delete("data:wc")
    assert ddfs.tags() == ["data:all"]


def test_concurrent_stage_polls_until_done(master: EmbeddedMaster) -> None:
    name = master.submit(pack(pipeline=[["map", "split", False], ["reduce", "group_all", True]]))
    results = wait(master, name)
    assert len(results) == 1
    assert read_results(master, results) == EXPECTED


def test_two_jobs_at_once_keep_to_their_own_homes(master: EmbeddedMaster) -> None:
    first = master.submit(pack())
    second = master.submit(pack(inputs=[["raw://zz,zz"]]))
    assert first != second
    assert read_results(master, wait(master, first)) == EXPECTED
    assert read_results(master, wait(master, second)) == collections.Counter({"zz": 2})
    for name in (first, second):
        for (url,) in master.results(name, timeout=0).results:
            assert f"/{name}/.disco/" in url


def test_results_are_local_files_by_the_masters_locality(master: EmbeddedMaster) -> None:
    name = master.submit(pack(pipeline=[["map", "split", False]], inputs=[["raw://a"]]))
    (url,) = wait(master, name)[0]
    path = master.locality.local_path(url)
    assert path is not None and Path(path).is_file()


def test_jobinfo_counts_the_tasks_running_while_they_run(master: EmbeddedMaster) -> None:
    import time

    name = master.submit(pack(behaviour={"map": "wait_go"}))
    deadline = time.monotonic() + 30
    rows = master.jobinfo(name)["pipeline"]
    while rows[0][3] < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
        rows = master.jobinfo(name)["pipeline"]
    # Two slots: two of the three map tasks run, one waits, none is done yet.
    assert rows[0] == ["map", 0, 1, 2, 0, 0]
    (master.store.job_home(name) / "go").write_text("")
    assert master.results(name, 30).status == "ready"
    assert [r[3:] for r in master.jobinfo(name)["pipeline"]] == [[0, 3, 0], [0, 2, 0]]
