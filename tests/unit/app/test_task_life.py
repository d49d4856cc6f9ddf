"""Whole tasks driven through the in-memory master: what a master and a user would see."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from discoworker.adapters.openers import UrlOpener
from discoworker.adapters.transport_memory import MemoryTransport, ScriptedMaster
from discoworker.adapters.transport_stdio import PrintedText
from discoworker.app.master_line import MasterLine, chunk_text
from discoworker.app.ports import Opener
from discoworker.app.task_life import run_task
from discoworker.domain import protocol as p
from discoworker.domain.inputs import Locality
from discoworker.domain.records import disco_input_stream
from discoworker.errors import DataError
from tests.unit.app.workers import (
    CopyWorker,
    FailingMapWorker,
    PrintingWorker,
    RaisingWorker,
    data_input,
    pack_job,
    records_file,
    task_spec,
)

RECORDS = [(f"key{i}", i) for i in range(500)]


def opener(locality: Locality) -> Opener:
    return UrlOpener(locality)


def run(tmp_path: Path, master: ScriptedMaster) -> tuple[bool, MemoryTransport]:
    transport = MemoryTransport(master)
    ok = run_task(transport, opener, home=tmp_path, pid=4242)
    return ok, transport


def read_output(tmp_path: Path, report: p.OutputReport) -> list[Any]:
    path = tmp_path / report.location
    with path.open("rb") as f:
        return list(disco_input_stream(f, report.size, str(path)))


def test_a_corrupt_first_replica_fails_over_without_duplicates(tmp_path: Path) -> None:
    good = records_file(tmp_path / "good", RECORDS)
    other = records_file(tmp_path / "other", [("x", 1), ("y", 2)])
    corrupt = tmp_path / "corrupt"
    data = bytearray(Path(good[7:]).read_bytes())
    data[40] ^= 0xFF  # inside the first hunk's compressed payload
    corrupt.write_bytes(data)
    jobfile = pack_job(tmp_path, CopyWorker())
    master = ScriptedMaster(
        task_spec(jobfile, tmp_path),
        [data_input(0, f"file://{corrupt}", good), data_input(1, other)],
    )

    ok, _ = run(tmp_path, master)

    assert ok, master.ended_with
    assert [m for m in master.said if isinstance(m, p.InputError)] == [p.InputError(0, (0,))]
    (report,) = master.outputs
    assert read_output(tmp_path, report) == [*RECORDS, ("x", 1), ("y", 2)]


def test_a_task_whose_replicas_all_fail_sends_error_naming_the_url(tmp_path: Path) -> None:
    jobfile = pack_job(tmp_path, CopyWorker())
    missing = f"file://{tmp_path}/no-such-file"
    master = ScriptedMaster(task_spec(jobfile, tmp_path), [data_input(0, missing)])

    ok, _ = run(tmp_path, master)

    assert not ok
    assert isinstance(master.ended_with, p.TaskError)
    assert "DataError" in master.ended_with.text
    assert missing in master.ended_with.text
    assert master.outputs == []


def test_a_job_function_that_raises_ends_the_job_with_fatal_and_leaves_no_output(
    tmp_path: Path,
) -> None:
    jobfile = pack_job(tmp_path, RaisingWorker(), error=ValueError("bad record 17"))
    master = ScriptedMaster(task_spec(jobfile, tmp_path))

    ok, _ = run(tmp_path, master)

    assert not ok
    assert isinstance(master.ended_with, p.TaskFatal)
    assert "Traceback" in master.ended_with.text
    assert "ValueError: bad record 17" in master.ended_with.text
    assert not [f for f in tmp_path.rglob("*") if f.is_file() and f.name.startswith("map-")]


@pytest.mark.parametrize("error", [DataError("flaky", "raw://x"), OSError(5, "I/O error")])
def test_data_and_os_errors_end_the_task_with_error_for_a_retry(
    tmp_path: Path, error: Exception
) -> None:
    jobfile = pack_job(tmp_path, RaisingWorker(), error=error)
    master = ScriptedMaster(task_spec(jobfile, tmp_path))

    assert not run(tmp_path, master)[0]
    assert isinstance(master.ended_with, p.TaskError)


def test_what_job_code_prints_becomes_few_msgs(tmp_path: Path) -> None:
    jobfile = pack_job(tmp_path, PrintingWorker(), lines=2000)
    master = ScriptedMaster(task_spec(jobfile, tmp_path))
    transport = MemoryTransport(master)
    line = MasterLine(transport)
    printed = PrintedText()
    printed.attach(line.write_text)

    with contextlib.redirect_stdout(printed):
        ok = run_task(transport, opener, home=tmp_path, pid=1, line=line)

    assert ok
    assert len(master.messages) == 3  # about 19 KB of text, in pieces of at most 8000 bytes
    assert "\n".join(master.messages).splitlines() == [f"line {i}" for i in range(2000)]


def test_outputs_under_three_labels_are_reported_with_their_sizes(tmp_path: Path) -> None:
    url = records_file(tmp_path / "in", [(k * n, n) for n in range(1, 10) for k in "abc"])
    jobfile = pack_job(tmp_path, CopyWorker(), labels=3)
    master = ScriptedMaster(task_spec(jobfile, tmp_path), [data_input(0, url)])

    ok, _ = run(tmp_path, master)

    assert ok
    assert sorted(r.label for r in master.outputs) == [0, 1, 2]
    seen = []
    for report in master.outputs:
        assert (tmp_path / report.location).stat().st_size == report.size
        assert not Path(report.location).is_absolute()
        records = read_output(tmp_path, report)
        assert all(len(k) % 3 == report.label for k, _ in records)
        seen += records
    assert sorted(seen) == sorted((k * n, n) for n in range(1, 10) for k in "abc")
    assert isinstance(master.ended_with, p.Done)


def test_long_printed_text_goes_in_msgs_a_real_master_keeps_whole(tmp_path: Path) -> None:
    jobfile = pack_job(tmp_path, PrintingWorker(), lines=3000)
    master = ScriptedMaster(task_spec(jobfile, tmp_path))
    transport = MemoryTransport(master)
    slept: list[float] = []
    line = MasterLine(transport, sleep=slept.append)
    printed = PrintedText()
    printed.attach(line.write_text)

    with contextlib.redirect_stdout(printed):
        assert run_task(transport, opener, home=tmp_path, pid=1, line=line)

    assert all(len(m.encode()) <= 8000 for m in master.messages)
    assert "\n".join(master.messages).splitlines() == [f"line {i}" for i in range(3000)]


def test_printing_megabytes_keeps_the_head_and_says_what_was_dropped() -> None:
    text = "".join(f"line {i}\n" for i in range(300_000))
    chunks = chunk_text(text, 8000, 16)
    assert len(chunks) == 16
    assert chunks[0].startswith("line 0\nline 1\n")
    assert "more characters of printed output dropped" in chunks[-1]


def test_a_failure_names_the_input_being_read_before_its_traceback(tmp_path: Path) -> None:
    url = records_file(tmp_path / "in", [("k", 1)])
    jobfile = pack_job(tmp_path, FailingMapWorker())
    master = ScriptedMaster(task_spec(jobfile, tmp_path), [data_input(0, url)])

    assert not run(tmp_path, master)[0]

    assert isinstance(master.ended_with, p.TaskFatal)
    first, second, *_ = master.ended_with.text.splitlines()
    assert (first, second) == (f"While reading {url}:", "Traceback (most recent call last):")
    assert "ValueError: cannot map 'k'" in master.ended_with.text


def test_an_input_of_an_unknown_scheme_ends_the_job_with_fatal(tmp_path: Path) -> None:
    jobfile = pack_job(tmp_path, CopyWorker())
    master = ScriptedMaster(task_spec(jobfile, tmp_path), [data_input(0, "nosuch://x")])

    assert not run(tmp_path, master)[0]

    assert isinstance(master.ended_with, p.TaskFatal)
    assert "InputURLError: cannot read nosuch://x: unknown URL scheme 'nosuch'" in (
        master.ended_with.text)


def test_a_replica_of_an_unknown_scheme_fails_over_to_the_next(tmp_path: Path) -> None:
    good = records_file(tmp_path / "good", RECORDS)
    jobfile = pack_job(tmp_path, CopyWorker())
    master = ScriptedMaster(task_spec(jobfile, tmp_path), [data_input(0, "nosuch://x", good)])

    ok, _ = run(tmp_path, master)

    assert ok, master.ended_with
    (report,) = master.outputs
    assert read_output(tmp_path, report) == RECORDS


def test_an_unknown_scheme_beside_a_missing_replica_is_retried(tmp_path: Path) -> None:
    jobfile = pack_job(tmp_path, CopyWorker())
    missing = f"file://{tmp_path}/not-yet-there"
    master = ScriptedMaster(task_spec(jobfile, tmp_path),
                            [data_input(0, missing, "nosuch://x")])

    assert not run(tmp_path, master)[0]

    # Another attempt may find the file: the task is retried, not the job ended.
    assert isinstance(master.ended_with, p.TaskError)
