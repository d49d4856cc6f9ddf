"""The discoworker command, as a user types it: run a job from a file, then inspect it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from discoworker.adapters.cli import main

JOB_FILE = '''
import itertools


def map(line, params):
    text = line.decode() if isinstance(line, bytes) else line
    for word in text.split():
        yield word, 1


def reduce(records, params):
    for word, group in itertools.groupby(sorted(records), key=lambda r: r[0]):
        yield word, sum(c for _, c in group)
'''


@pytest.fixture
def job_file(tmp_path: Path) -> Path:
    path = tmp_path / "count_words.py"
    path.write_text(JOB_FILE)
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_run_prints_the_results_and_the_job_is_listed(
    tmp_path: Path, job_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "words.txt"
    text.write_text("a b b\nc c c\n")
    data = str(tmp_path / "data")

    status, out, _ = run_cli(capsys, "--data-dir", data, "run", str(job_file), "-i", str(text),
                             "-i", "raw://a_z", "-p", "partitions=2", "-q")

    assert status == 0
    counts = dict(line.split("\t") for line in out.splitlines())
    assert counts == {"a": "1", "b": "2", "c": "3", "a_z": "1"}

    status, out, _ = run_cli(capsys, "--data-dir", data, "jobs")
    (listed,) = out.splitlines()
    assert "ready" in listed
    jobname = listed.split()[-1]
    assert jobname.startswith("count_words@")

    status, out, _ = run_cli(capsys, "--data-dir", data, "events", jobname)
    assert "map:0" in out

    status, out, _ = run_cli(capsys, "--data-dir", data, "results", jobname)
    assert sorted(out.splitlines()) == ["a\t1", "a_z\t1", "b\t2", "c\t3"]

    assert run_cli(capsys, "--data-dir", data, "purge", jobname)[0] == 0
    assert run_cli(capsys, "--data-dir", data, "jobs")[1] == ""


def test_a_missing_input_file_is_named(
    tmp_path: Path, job_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run_cli(capsys, "--data-dir", str(tmp_path), "run", str(job_file),
                             "-i", "no/such/file.txt")
    assert status == 1
    assert "no/such/file.txt" in err


def test_a_bad_parameter_is_refused_with_its_text(
    tmp_path: Path, job_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run_cli(capsys, "--data-dir", str(tmp_path), "run", str(job_file),
                             "-p", "no-equals-sign")
    assert status == 1
    assert "no-equals-sign" in err


def test_ddfs_push_ls_cat_rm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "data")
    one, two = tmp_path / "one.txt", tmp_path / "two.txt"
    one.write_text("first\n")
    two.write_text("second\n")

    status, out, _ = run_cli(capsys, "--data-dir", data, "ddfs", "push", "data:words",
                             str(one), str(two))
    assert status == 0 and len(out.splitlines()) == 2

    assert run_cli(capsys, "--data-dir", data, "ddfs", "ls", "data:")[1] == "data:words\n"

    status = main(["--data-dir", data, "ddfs", "cat", "data:words"])
    assert status == 0
    assert capsys.readouterr().out == "first\nsecond\n"

    assert run_cli(capsys, "--data-dir", data, "ddfs", "rm", "data:words")[0] == 0
    assert run_cli(capsys, "--data-dir", data, "ddfs", "ls")[1] == ""


def test_ddfs_chunk_stores_a_files_lines_as_records_a_job_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from discoworker.adapters.embedded import EmbeddedMaster
    from discoworker.job import result_iterator

    data = str(tmp_path / "data")
    numbers = tmp_path / "numbers.txt"
    numbers.write_bytes(b"".join(b"%d\n" % i for i in range(100_000)))
    status, out, _ = run_cli(capsys, "--data-dir", data, "ddfs", "chunk", "data:numbers",
                             str(numbers), "raw://last", "--size", "0.01")
    assert status == 0
    blobs = [line.rsplit("/", 1)[1].split("$")[0] for line in out.splitlines()]
    assert len(blobs) > 2
    assert blobs == [f"numbers_txt-{n}" for n in range(len(blobs) - 1)] + ["last-0"]
    records = list(result_iterator(["tag://data:numbers"], master=EmbeddedMaster(Path(data))))
    # Newest first in the tag, as DDFS; within one chunk command, the inputs keep their order.
    assert records == [b"%d\n" % i for i in range(100_000)] + [b"last"]

    status, _, err = run_cli(capsys, "--data-dir", data, "ddfs", "chunk", "data:x", "nosuch.txt")
    assert status == 1 and "nosuch.txt" in err


def test_a_failed_job_prints_its_task_traceback_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("def map(line, params):\n    raise RuntimeError('column 7 is missing')\n")
    status, _, err = run_cli(capsys, "--data-dir", str(tmp_path / "d"), "run", str(broken),
                             "-i", "raw://x", "-q")
    assert status == 1
    assert "map:0" in err and "RuntimeError: column 7 is missing" in err


NOISY_JOB = '''
def map(line, params):
    for i in range(20000):
        print("noisy", line, i)
    yield line, 1


def reduce(records, params):
    print("reducing")
    for word, count in records:
        yield word, count
'''


def test_logs_prints_all_that_each_task_printed_even_past_the_msg_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    noisy = tmp_path / "noisy.py"
    noisy.write_text(NOISY_JOB)
    data = str(tmp_path / "data")
    assert run_cli(capsys, "--data-dir", data, "run", str(noisy), "-i", "raw://a",
                   "-i", "raw://b", "-q")[0] == 0
    jobname = run_cli(capsys, "--data-dir", data, "jobs")[1].split()[-1]

    status, out, _ = run_cli(capsys, "--data-dir", data, "logs", jobname)
    assert status == 0
    lines = out.splitlines()
    for word, task in (("a", "map:0"), ("b", "map:1")):
        start = lines.index(next(t for t in lines if t.startswith(f"== {task} (disco://")))
        assert lines[start + 1 : start + 20001] == [f"noisy {word} {i}" for i in range(20000)]
        assert lines[start + 20001] == "Done: 1 entries mapped [input read: 100.0%, 1 of 1 bytes]"
    assert "reducing" in lines

    # The events hold only what fit the budget, with a note of where the rest is.
    events = run_cli(capsys, "--data-dir", data, "events", jobname)[1]
    assert "noisy a 19999" in events and "noisy a 10000\n" not in events
    assert "all printed text of this task is in disco://" in events

    status, out, _ = run_cli(capsys, "--data-dir", data, "logs", jobname, "map:1")
    assert out.splitlines()[0].startswith("== map:1 (disco://")
    assert "noisy a 0" not in out and "noisy b 0" in out
    status, out, _ = run_cli(capsys, "--data-dir", data, "logs", jobname, "reduce")
    assert out.splitlines()[-1].startswith("Done: 2 entries reduced [input read: 100.0%, ")
    status, _, err = run_cli(capsys, "--data-dir", data, "logs", jobname, "map:7")
    assert status == 1 and "map:7" in err


FAILING_MAP = '''\
def map(line, params):
    print("starting on", line)
    print("record 1 of 1")
    print("about to divide")
    return [(line, 1 / 0)]
'''

FAILING_SCRIPT = '''\
from discoworker.job import Job

from failing_map import map as fun_map

Job(name="Script").run(input=["raw://abc"], map=fun_map).wait()
'''


def first_lines_of_stderr(argv: list[str], tmp_path: Path) -> str:
    """The first 15 lines a user sees on stderr when ``argv`` runs a job that fails."""
    env = {**os.environ, "DISCOWORKER_DATA": str(tmp_path / "data")}
    env.pop("DISCO_MASTER", None)
    done = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=120, check=False)
    assert done.returncode == 1, done.stderr
    return "\n".join(done.stderr.splitlines()[:15])


@pytest.mark.parametrize("how", ["discoworker run", "a script"])
def test_a_map_that_raises_shows_file_line_source_exception_and_printed_lines_first(
    tmp_path: Path, how: str
) -> None:
    job = tmp_path / "failing_map.py"
    job.write_text(FAILING_MAP)
    if how == "discoworker run":
        argv = [sys.executable, "-m", "discoworker.adapters.cli", "run", str(job),
                "-i", "raw://abc"]
    else:
        (tmp_path / "script.py").write_text(FAILING_SCRIPT)
        argv = [sys.executable, str(tmp_path / "script.py")]

    shown = first_lines_of_stderr(argv, tmp_path)

    assert f'File "{job}", line 5, in map' in shown, shown
    assert "    return [(line, 1 / 0)]" in shown, shown
    assert "ZeroDivisionError: division by zero" in shown, shown
    assert "starting on abc\n" in shown and "about to divide" in shown, shown
    assert "raw://abc" in shown, shown
    assert "task_life.py" not in shown, shown


def test_the_same_logs_read_from_python(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from discoworker.adapters.embedded import EmbeddedMaster
    from discoworker.app.job import Job

    noisy = tmp_path / "noisy.py"
    noisy.write_text(NOISY_JOB)
    data = tmp_path / "data"
    assert run_cli(capsys, "--data-dir", str(data), "run", str(noisy), "-i", "raw://a",
                   "-q")[0] == 0
    jobname = run_cli(capsys, "--data-dir", str(data), "jobs")[1].split()[-1]
    job = Job(name=jobname, master=EmbeddedMaster(data))
    (map0,) = job.logs("map:0")
    assert map0.task == "map:0" and map0.attempt == 1
    assert map0.text.splitlines()[:20000] == [f"noisy a {i}" for i in range(20000)]
