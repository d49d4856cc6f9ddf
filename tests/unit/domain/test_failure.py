"""Reading a failed task out of a job's events: the real master's recorded events, ours."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from discoworker.domain.failure import (
    describe,
    exception_line,
    failure_text,
    find_failure,
    split_failure_text,
    trim_traceback,
)

OURS = "/data/localhost/06/J@1:2:3/lib/discoworker"
TRACE = f'''Traceback (most recent call last):
  File "{OURS}/app/task_life.py", line 51, in run_task
    outputs = worker.start(task, job, **jobargs)
              ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "{OURS}/app/classic.py", line 445, in _map_plain
    for key, value in fun_map(entry, params):
  File "/home/ann/job.py", line 4, in map
    raise ValueError("bad record: " + line)
ValueError: bad record: abc
'''


def ours(path: str) -> bool:
    return path.startswith(OURS)


def messages(golden: Path, jobname: str) -> list[str]:
    lines = (golden / "real-master" / "events" / f"{jobname}.events").read_text().splitlines()
    return [json.loads(line)[2] for line in lines if line.strip()]


def test_a_real_masters_fatal_names_the_task_and_the_users_frame(golden: Path) -> None:
    events = messages(golden, "Behave@703:65002:58ab")

    failure = find_failure(events)

    assert failure is not None
    assert (failure.task, failure.kind, failure.reading) == ("map:0", "FATAL", "")
    text = describe(failure, lambda path: "/disco/lib/disco/" in path, "Behave@703:65002:58ab")
    assert text.splitlines()[0] == "map:0 raised ValueError: deliberate fatal"
    assert '/srv/discoroot/jobs/behjob.py", line 19, in map' in text
    assert 'raise ValueError("deliberate fatal")' in text
    assert "worker/__init__.py" not in text  # the original's frames are the library's


def test_a_real_masters_retried_error_is_found_by_its_warning(golden: Path) -> None:
    events = messages(golden, "Behave@703:64f9d:3a533")

    failure = find_failure(events)

    assert failure is not None
    assert (failure.task, failure.kind) == ("map:0", "WARNING")
    assert exception_line(failure.text) == (
        "disco.error.DataError: Unable to access resource (raw://x): deliberate data error")


def test_what_a_task_printed_before_a_real_masters_fatal_is_kept(golden: Path) -> None:
    failure = find_failure(messages(golden, "Behave@703:64f95:d4855"))

    assert failure is not None
    assert failure.printed == ("hello from print",)
    assert failure.text == "Worker died without output"
    assert describe(failure, ours, "J").splitlines()[0] == (
        "map:0 failed: Worker died without output")


def test_only_the_last_attempts_printed_lines_are_shown() -> None:
    events = [
        "map:0 assigned to localhost",
        "MSG: [map:0] first attempt",
        f"ERROR: [map:0] {TRACE}",
        'Task map:0 failed on "localhost", 1th failures so far. Retrying.',
        "map:0 assigned to localhost",
        "map:1 assigned to localhost",
        "MSG: [map:1] another task",
        "MSG: [map:0] " + "\n".join(f"line {i}" for i in range(9)),
        "MSG: [map:0] the end",
        f"FATAL: [map:0] {failure_text(TRACE, 'raw://abc')}",
        "WARN: Job killed",
    ]

    failure = find_failure(events)

    assert failure is not None
    assert failure.kind == "FATAL"
    assert failure.reading == "raw://abc"
    assert failure.printed == ("line 5", "line 6", "line 7", "line 8", "the end")


def test_a_fatal_is_shown_before_an_earlier_error_and_a_job_without_failure_has_none() -> None:
    events = [f"FATAL: [map:1] {TRACE}", f"ERROR: [map:0] {TRACE}", "WARN: Job killed"]
    failure = find_failure(events)
    assert failure is not None and failure.task == "map:1"
    assert find_failure(["map:0 assigned to vm", "WARN: Job killed"]) is None


def test_the_users_view_has_the_exception_first_and_no_discoworker_frame() -> None:
    failure = find_failure([f"FATAL: [map:0] {failure_text(TRACE, 'raw://abc')}"])
    assert failure is not None

    lines = describe(failure, ours, "J@1:2:3").splitlines()

    assert lines == [
        "map:0 raised ValueError: bad record: abc (reading raw://abc)",
        "Traceback (most recent call last):",
        '  File "/home/ann/job.py", line 4, in map',
        '    raise ValueError("bad record: " + line)',
        "ValueError: bad record: abc",
        "(discoworker's frames left out; all of it: discoworker events J@1:2:3)",
    ]


def test_a_traceback_of_only_our_frames_shrinks_to_its_exception() -> None:
    trace = TRACE.replace("/home/ann/job.py", f"{OURS}/adapters/openers.py")

    trimmed, dropped = trim_traceback(trace, ours)

    assert (trimmed, dropped) == ("ValueError: bad record: abc", 3)


@given(st.text().filter(lambda t: "\n" not in t), st.text())
def test_the_input_line_of_a_failure_text_reads_back(reading: str, trace: str) -> None:
    got = split_failure_text(failure_text(trace, reading))
    assert got == ((reading, trace) if reading else ("", trace))


def test_a_retried_failure_says_how_many_attempts_it_had() -> None:
    attempt = ["map:0 assigned to localhost", f"ERROR: [map:0] {failure_text(TRACE, 'raw://a')}"]
    failure = find_failure(attempt * 3 + ["ERROR: Task map:0 failed 3 times"])
    assert failure is not None
    assert describe(failure, ours, "J").splitlines()[0] == (
        "map:0 raised ValueError: bad record: abc (reading raw://a; 3 attempts)")


def test_a_worker_that_died_saying_a_lot_shows_only_its_last_words() -> None:
    words = "\n".join(f"word {i}" for i in range(1000))
    failure = find_failure([f"ERROR: [map:0] Worker died. Last words:\n{words}"])
    assert failure is not None

    lines = describe(failure, ours, "J").splitlines()

    assert lines[0] == "map:0 failed: Worker died. Last words:"
    assert lines[1] == "... (941 lines before these are in the events)"
    assert lines[-1] == "word 999"
    assert len(lines) == 62
