"""A job always ends: exact results or a clean error, never a hang (issue 13, "A job always ends").

Each job is waited for with a bound: a job left ``active`` reads as a failure, not a hang.
The disk sweep mounts a small tmpfs as the data directory (root only; skipped, saying so,
elsewhere) and runs each step in a child process that is killed if it outlives its bound.
"""

from __future__ import annotations

import collections
import errno
import io
import json
import os
import subprocess
import sys
import textwrap
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from discoworker.adapters.embedded import EmbeddedMaster
from discoworker.adapters.embedded.store import Store
from discoworker.domain.index import parse_index
from discoworker.domain.jobpack import JobPack
from discoworker.errors import CommError, DiscoError, JobDictError, JobError
from discoworker.job import Job

pytestmark = pytest.mark.slow

TEXTS = ["a b c a\nb c\n", "d e a\n", "f a b\n"]
#: How long a job may take here before it counts as hung (a healthy one takes 1-3 s).
BOUND = 60.0


def fun_map(line: str, params: Any) -> Iterator[tuple[str, int]]:
    for word in line.split():
        yield word, 1


def fun_reduce(records: Any, params: Any) -> Iterator[tuple[str, int]]:
    counts: collections.Counter[str] = collections.Counter()
    for word, count in records:
        counts[word] += count
    yield from sorted(counts.items())


def inputs(directory: Path) -> list[str]:
    urls = []
    for i, text in enumerate(TEXTS):
        path = directory / f"in{i}.txt"
        path.write_text(text)
        urls.append(f"file://{path}")
    return urls


@pytest.fixture
def master(tmp_path: Path) -> Iterator[EmbeddedMaster]:
    m = EmbeddedMaster(tmp_path / "data", workers=2, max_attempts=2)
    yield m
    m.shutdown()


@pytest.fixture
def thread_deaths(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Exceptions that ended a thread: the master must never let one die silently."""
    deaths: list[str] = []

    def hook(args: threading.ExceptHookArgs) -> None:
        deaths.append(f"{args.thread.name if args.thread else '?'}: {args.exc_value!r}")

    monkeypatch.setattr(threading, "excepthook", hook)
    return deaths


# --- job names --------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "said"), [("word count", "a space"), ("a\tb", "a tab"),
                                            ("two\nlines", "a newline")])
def test_a_job_name_with_whitespace_is_refused_at_submit_saying_which_character(
    master: EmbeddedMaster, tmp_path: Path, name: str, said: str
) -> None:
    with pytest.raises(JobDictError) as refused:
        Job(name=name, master=master).run(input=inputs(tmp_path), map=fun_map)
    assert said in str(refused.value) and repr(name) in str(refused.value)
    assert master.jobs() == []  # nothing was submitted, nothing waits


def _pack(prefix: str) -> bytes:
    home = io.BytesIO()
    with zipfile.ZipFile(home, "w") as z:
        z.writestr("w.py", "#!/bin/sh\nexit 1\n")
    jobdict = {"prefix": prefix, "worker": "w.py", "owner": "me@here", "scheduler": {},
               "pipeline": [["map", "split", False]], "inputs": [[0, 0, ["raw://a"]]]}
    return JobPack(2, jobdict, {}, home.getvalue(), b"").dumps()


def test_the_embedded_master_and_the_served_one_refuse_such_a_name_too(tmp_path: Path) -> None:
    # A job pack made by another client (the original's, say) reaches the master unchecked.
    from discoworker.adapters.embedded.http_server import serve
    from discoworker.adapters.master_http import HttpMaster

    embedded = EmbeddedMaster(tmp_path / "embedded", workers=1)
    with pytest.raises(JobDictError, match="a space"):
        embedded.submit(_pack("word count"))
    assert embedded.jobs() == []
    with (
        serve(tmp_path / "served", port=0, workers=1).start() as server,
        pytest.raises(JobDictError, match="a newline"),
    ):
        HttpMaster(server.url).submit(_pack("two\nlines"))


# --- the master's own failures ------------------------------------------------------------------


def test_a_full_disk_just_after_a_tasks_done_ends_the_job_dead_saying_so(
    master: EmbeddedMaster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    thread_deaths: list[str],
) -> None:
    # The disk fills at the master's first write after a DONE (the task's index file): from
    # then on every write of the master fails, its events and state included.
    full = threading.Event()

    def no_space(*args: Any, **kwargs: Any) -> Any:
        full.set()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    for method in ("add_event", "save_state"):
        real = getattr(Store, method)

        def guarded(self: Store, *args: Any, _real: Any = real, **kwargs: Any) -> Any:
            return no_space() if full.is_set() else _real(self, *args, **kwargs)

        monkeypatch.setattr(Store, method, guarded)
    monkeypatch.setattr(Store, "write_index", no_space)

    job = Job(master=master).run(input=inputs(tmp_path), map=fun_map, reduce=fun_reduce)
    with pytest.raises(JobError) as died:
        job.wait(timeout=BOUND)  # today: CommError, the job still active (then for ever)
    reason = str(died.value)
    assert "No space left on device" in reason and "map:" in reason, reason
    assert thread_deaths == []


def test_a_bug_in_the_masters_task_thread_ends_the_job_dead_naming_it(
    master: EmbeddedMaster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    thread_deaths: list[str],
) -> None:
    def broken(*args: Any, **kwargs: Any) -> str:
        raise ValueError("index URL must be non-empty without whitespace: 'x y'")

    monkeypatch.setattr(Store, "write_index", broken)
    job = Job(master=master).run(input=inputs(tmp_path), map=fun_map)
    with pytest.raises(JobError, match=r"embedded master failed at task map:.*ValueError"):
        job.wait(timeout=BOUND)
    assert thread_deaths == []
    assert master.jobs()[0][1] == "dead"


# --- free space swept across a job's life --------------------------------------------------------

_STEP = textwrap.dedent(
    """
    import collections, json, sys
    from pathlib import Path
    from discoworker.adapters.embedded import EmbeddedMaster
    from discoworker.errors import DiscoError
    from discoworker.job import Job, result_iterator

    def fun_map(line, params):
        for word in line.split():
            yield word, 1

    def fun_reduce(records, params):
        counts = collections.Counter()
        for word, count in records:
            counts[word] += count
        yield from sorted(counts.items())

    data, urls = Path(sys.argv[1]), sys.argv[2:]
    master = EmbeddedMaster(data, workers=2, max_attempts=2)
    outcome = {}
    try:
        job = Job(name="Sweep", master=master).run(
            input=urls, map=fun_map, reduce=fun_reduce, partitions=2)
        results = job.wait(timeout=%(bound)r)
        words = {k.decode() if isinstance(k, bytes) else k: v
                 for k, v in result_iterator(results, master=master)}
        outcome = {"kind": "ready", "words": words}
    except DiscoError as e:
        outcome = {"kind": "error", "type": type(e).__name__, "text": str(e)}
    outcome["statuses"] = [status for _, status, _ in master.jobs()]
    print(json.dumps(outcome), flush=True)
    """
) % {"bound": BOUND - 10}


def _mount(where: Path, size: int) -> None:
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                   check=True, capture_output=True)


def _umount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """Where the sweep mounts its tmpfs data directories (unmounted whatever happens)."""
    where = tmp_path / "mnt"
    try:
        _mount(where, 1 << 20)
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {e}")
    _umount(where)
    yield where
    _umount(where)


def _used(where: Path) -> int:
    st = os.statvfs(where)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def _run_step(script: Path, where: Path, urls: list[str]) -> dict[str, Any]:
    proc = subprocess.Popen(
        [sys.executable, str(script), str(where / "data"), *urls],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=BOUND)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.communicate()
        return {"kind": "hung"}
    lines = out.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"kind": "crashed", "text": err[-2000:]}
    outcome: dict[str, Any] = json.loads(lines[-1])
    return outcome


def _check_nothing_half_written(data: Path) -> list[str]:
    """Every file a later job or reader would trust is whole: events, states, index files and
    the outputs they list (size as recorded)."""
    faults = []
    jobs = data / ".master" / "jobs"
    for events in jobs.glob("*/events"):
        for n, line in enumerate(events.read_bytes().splitlines()):
            try:
                json.loads(line)
            except ValueError:
                faults.append(f"{events} line {n + 1} is cut: {line[:80]!r}")
    for state in jobs.glob("*/state.json"):
        try:
            json.loads(state.read_bytes())
        except ValueError:
            faults.append(f"{state} is not whole")
    for index in data.glob("*/*/*/.disco/*.results"):
        url = f"dir://localhost/disco/{index.relative_to(data)}"
        try:
            entries = parse_index(index.read_bytes(), url)
        except (ValueError, DiscoError) as e:
            faults.append(f"{index} is not whole: {e}")
            continue
        for entry in entries:
            path = data / entry.url.split("/disco/", 1)[1]
            if not path.is_file() or path.stat().st_size != entry.size:
                faults.append(f"{index} lists {entry.url} ({entry.size} bytes), not there whole")
    return faults


def test_free_space_swept_across_a_jobs_life_gives_exact_results_or_a_clean_error(
    tmpfs: Path, tmp_path: Path
) -> None:
    """Sizes from room to spare down to too small for the job home, one page per step
    apart (every ``DISCOWORKER_SWEEP_STRIDE``-th page: 3 by default, 1 by hand)."""
    script = tmp_path / "step.py"
    script.write_text(_STEP)
    urls = inputs(tmp_path)
    expected = dict(collections.Counter(w for t in TEXTS for w in t.split()))
    page = os.sysconf("SC_PAGE_SIZE")

    _mount(tmpfs, 64 << 20)
    try:
        roomy = _run_step(script, tmpfs, urls)
        need = _used(tmpfs)
    finally:
        _umount(tmpfs)
    assert roomy.get("words") == expected, roomy

    stride = int(os.environ.get("DISCOWORKER_SWEEP_STRIDE", "3"))
    size, refused_at_submit, seen = need + page, 0, []
    while refused_at_submit < 2 and size > 0:
        _mount(tmpfs, size)
        try:
            outcome = _run_step(script, tmpfs, urls)
            faults = _check_nothing_half_written(tmpfs / "data")
        finally:
            _umount(tmpfs)
        kind = outcome["kind"]
        seen.append(f"{size}: {kind} {outcome.get('type', '')} {outcome.get('text', '')[:150]!r}")
        print(seen[-1])
        assert kind in ("ready", "error"), f"size {size}: {outcome}"
        if kind == "ready":
            assert outcome["words"] == expected, f"size {size}: {outcome}"
        else:
            assert outcome["text"].strip(), f"size {size}: an error without a reason"
            assert "still active" not in outcome["text"], f"size {size}: {outcome}"
        assert "active" not in outcome["statuses"], f"size {size}: {outcome}"
        assert faults == [], f"size {size}: {faults}"
        refused_at_submit += kind == "error" and outcome["type"] == "CommError" and not any(
            outcome["statuses"]
        )
        size -= stride * page
    assert any(": error" in s for s in seen) and len(seen) >= 3, seen


def test_a_full_disk_at_submit_is_a_clean_error_and_leaves_nothing_behind(
    tmpfs: Path, tmp_path: Path
) -> None:
    _mount(tmpfs, 256 << 10)  # too small for the job home (its lib alone is over 1 MiB)
    try:
        master = EmbeddedMaster(tmpfs / "data", workers=1)
        with pytest.raises(CommError, match="No space left on device"):
            Job(master=master).run(input=inputs(tmp_path), map=fun_map)
        assert master.jobs() == []
        left = [p for p in (tmpfs / "data").rglob("*") if p.is_file()]
        assert left == []
    finally:
        _umount(tmpfs)

