"""The JobError a client raises for a dead job, from events as a master records them."""

from __future__ import annotations

import discoworker
from discoworker.app.failure import is_discoworker_file, job_error
from discoworker.app.ports import Event


def test_our_files_are_known_wherever_they_lie_and_a_users_are_not() -> None:
    installed = discoworker.__file__.replace("__init__.py", "app/task_life.py")
    assert is_discoworker_file(installed)
    assert is_discoworker_file("/srv/data/vm/ab/J@1:2:3/lib/discoworker/adapters/openers.py")
    assert not is_discoworker_file("/home/ann/discoworker/my_job.py")
    assert not is_discoworker_file("/home/ann/my_job.py")


def test_a_job_error_carries_the_task_its_input_printed_lines_and_whole_traceback() -> None:
    trace = ('Traceback (most recent call last):\n'
             '  File "/x/lib/discoworker/app/classic.py", line 445, in _map_plain\n'
             '    for key, value in fun_map(entry, params):\n'
             '  File "/home/ann/job.py", line 7, in map\n'
             '    return x[line]\n'
             "KeyError: 'abc'\n")
    events = [Event("t", "master", "map:0 assigned to vm"),
              Event("t", "vm", "MSG: [map:0] hello"),
              Event("t", "master", f"FATAL: [map:0] While reading raw://abc:\n{trace}"),
              Event("t", "master", "WARN: Job killed")]

    error = job_error("J@1:2:3", events)

    assert (error.task, error.input, error.printed, error.traceback) == (
        "map:0", "raw://abc", ("hello",), trace)
    assert str(error).splitlines()[0] == (
        "Job J@1:2:3 failed: map:0 raised KeyError: 'abc' (reading raw://abc)")
    assert "classic.py" not in str(error)


def test_a_job_that_died_without_a_failed_task_says_the_masters_reason() -> None:
    events = [Event("t", "master", "ERROR: the embedded master shut down"),
              Event("t", "master", "WARN: Job killed")]
    error = job_error("J@1:2:3", events)
    assert error.reason == "ERROR: the embedded master shut down"
    assert error.task == ""
