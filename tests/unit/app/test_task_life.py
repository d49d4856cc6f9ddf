"""Whole tasks driven through the in-memory master: what a master and a user would see."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

import pytest

from discoworker.adapters.openers import UrlOpener
from discoworker.adapters.transport_memory import MemoryTransport, ScriptedMaster
from discoworker.adapters.transport_stdio import PrintedText
from discoworker.app.master_line import LOG_NAME, MSG_BURST, MasterLine, chunk_text, log_urls
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
    line.collect(printed)

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


def test_printed_text_past_the_budget_is_left_out_of_msgs_with_a_note_naming_the_log(
    tmp_path: Path,
) -> None:
    jobfile = pack_job(tmp_path, PrintingWorker(), lines=3000)
    master = ScriptedMaster(task_spec(jobfile, tmp_path))
    transport = MemoryTransport(master)
    line = MasterLine(transport)
    printed = PrintedText()
    line.collect(printed)

    with contextlib.redirect_stdout(printed):
        assert run_task(transport, opener, home=tmp_path, pid=1, line=line)

    lines = [f"line {i}" for i in range(3000)]
    assert all(len(m.encode()) <= 8000 for m in master.messages)
    assert len(master.messages) <= MSG_BURST  # all printed within a second
    sent = "\n".join(master.messages).splitlines()
    # The head and the last words are in the MSGs; the note says where the rest is.
    assert sent[:100] == lines[:100]
    assert sent[-1] == "line 2999"
    (url,) = log_urls("\n".join(master.messages))
    log = log_file(tmp_path, url)
    assert log.read_text().splitlines() == lines


def log_file(home: Path, url: str) -> Path:
    """The file of a log URL ``disco://host/disco/<host>/<hash>/<job>/<task path>``."""
    task_path = url.split("/test@1:2:3/", 1)[1]
    return home / task_path


def test_a_hundred_thousand_prints_never_wait_for_the_budget(tmp_path: Path) -> None:
    jobfile = pack_job(tmp_path, PrintingWorker(), lines=100_000)
    master = ScriptedMaster(task_spec(jobfile, tmp_path))
    transport = MemoryTransport(master)
    now = [0.0]

    def clock() -> float:
        # Time passes only when the worker waits: a budget spent would stall it for ever.
        return now[0]

    line = MasterLine(transport, clock=clock)
    printed = PrintedText()
    line.collect(printed)

    with contextlib.redirect_stdout(printed):
        assert run_task(transport, opener, home=tmp_path, pid=1, line=line)

    assert len(master.messages) <= MSG_BURST
    assert master.messages[-1].endswith("line 99999")
    text = "\n".join(master.messages)
    assert "left out of the messages" in text
    (url,) = log_urls(text)
    assert url.startswith("disco://localhost/disco/localhost/")
    assert url.endswith(f"/{LOG_NAME}")
    logged = log_file(tmp_path, url).read_text().splitlines()
    assert logged == [f"line {i}" for i in range(100_000)]


def test_text_printed_slowly_all_goes_in_msgs_within_the_budget(tmp_path: Path) -> None:
    transport = MemoryTransport(ScriptedMaster(task_spec("jobfile", tmp_path)))
    master = transport.master
    now = [0.0]
    line = MasterLine(transport, clock=lambda: now[0])
    line.keep_log(str(tmp_path / "t" / LOG_NAME), "disco://h/t/printed.log")
    sent_at: list[float] = []
    for second in range(20):
        for i in range(25):
            now[0] = second + i / 25
            line.write_text(f"{second}.{i}: " + "x" * 400 + "\n")
            sent_at += [now[0]] * (len(master.messages) - len(sent_at))
    line.done()

    text = "\n".join(master.messages)
    assert "left out" not in text
    assert text.count("\n") + 1 == 500
    # Never MSG_BURST or more in a second.
    assert all(
        sum(1 for t in sent_at if start <= t < start + 1) < MSG_BURST
        for start in sent_at
    )
    assert (tmp_path / "t" / LOG_NAME).read_text().count("\n") == 500


def test_msg_text_is_cut_at_line_ends_within_the_size() -> None:
    text = "".join(f"line {i}\n" for i in range(3000)) + "é" * 5000
    chunks = chunk_text(text, 7000)
    assert all(len(c.encode()) <= 7000 for c in chunks)
    assert "".join(chunks).replace("\n", "") == text.replace("\n", "")
    # No line is cut in two: each piece of the lines holds whole lines.
    assert all(re.fullmatch(r"line \d+", t) for c in chunks[:3] for t in c.split("\n"))


def test_printed_text_and_the_workers_own_status_keep_their_order(tmp_path: Path) -> None:
    transport = MemoryTransport(ScriptedMaster(task_spec("jobfile", tmp_path)))
    line = MasterLine(transport)
    line.keep_log(str(tmp_path / "t" / LOG_NAME), "disco://h/t/printed.log")
    printed = PrintedText()
    line.collect(printed)

    with contextlib.redirect_stdout(printed):
        for i in range(3):
            print("user line", i)
    line.write_text("Done: 3 entries mapped")
    line.done()

    expected = "user line 0\nuser line 1\nuser line 2\nDone: 3 entries mapped"
    assert transport.master.messages == [expected]
    assert (tmp_path / "t" / LOG_NAME).read_text() == expected


def test_printing_hands_text_on_in_pieces_and_at_once_when_flushed() -> None:
    now = [0.0]
    handed: list[str] = []
    printed = PrintedText(clock=lambda: now[0])
    printed.attach(handed.append)
    print("first", file=printed)  # the first write after a pause goes at once
    print("a", 1, file=printed)
    print("b", 2, file=printed)
    assert handed == ["first"]
    print("c", 3, file=printed, flush=True)
    assert handed == ["first", "\na 1\nb 2\nc 3\n"]
    print("x" * 5000, file=printed)
    assert handed[-1] == "x" * 5000


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
