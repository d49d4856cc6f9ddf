"""A job's progress read from jobinfo rows, as both kinds of master write them, and the share
of input read from the figures of the workers' status lines."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from discoworker.domain.progress import (
    ReadShares,
    StageProgress,
    figure_share,
    job_progress,
    read_figure,
    time_left,
)


def test_a_dead_jobs_tasks_no_longer_run() -> None:
    # The real master's jobinfo of a job whose one map task failed fatally (golden recording).
    info = {"active": "dead", "pipeline": [["map", 0, 1, 0, 0, 1], ["map_shuffle", 0, 0, 0, 0, 0]]}
    assert job_progress("J", info).stages[0] == StageProgress("map", 1, 0, 0, 1)
    info = {"active": "dead", "pipeline": [["map", 0, 0, 2, 1, 1]]}
    assert job_progress("J", info).stages[0] == StageProgress("map", 2, 0, 1, 1)


@pytest.mark.parametrize(
    ("info", "says"),
    [
        ({"active": 3, "pipeline": []}, "'active' is 3"),
        ({"active": "active", "pipeline": "x"}, "'pipeline' is 'x'"),
        ({"active": "active", "pipeline": [["map", 0, 1]]}, "pipeline row 0: expected"),
        ({"active": "active", "pipeline": [["map", 0, -1, 0, 0, 0]]}, "got -1"),
        ({"active": "active", "pipeline": [[1, 0, 1, 0, 0, 0]]}, "the stage name is 1"),
    ],
)
def test_a_malformed_jobinfo_is_refused_saying_what(info: dict[str, object], says: str) -> None:
    with pytest.raises(ValueError, match=r"^jobinfo of J: ") as err:
        job_progress("J", info)
    assert says in str(err.value)


def test_a_real_masters_recorded_jobinfo_reads_as_the_line_says() -> None:
    from tests.unit.adapters.test_master_http import load

    info = json.loads(load("GET_jobinfo_while_active.http").body)
    assert job_progress("WordCount", info).line(12.0) == (
        "WordCount: map 1/1 done, 0 running, 0 failed | map_shuffle 1/1 done, 0 running, "
        "0 failed | reduce 0/2 done, 2 running, 0 failed [12.0 s]"
    )


@given(
    share=st.floats(0, 1),
    size=st.one_of(st.none(), st.integers(1, 2**50)),
    inputs=st.integers(1, 10_000),
    data=st.data(),
)
def test_a_status_figure_reads_back_as_its_share(
    share: float, size: int | None, inputs: int, data: st.DataObject
) -> None:
    index = data.draw(st.integers(1, inputs))
    read = None if size is None else data.draw(st.integers(0, size))
    figure = read_figure(share, read=read, size=size, index=index, inputs=inputs)
    line = f"100000 entries mapped {figure}"
    back = figure_share(f"some text\n{line}")
    assert back is not None and abs(back - share) <= 0.0005 + 1e-12
    # The original's words first, then the figure a person reads too.
    assert line.startswith("100000 entries mapped [input read: ") and "\n" not in figure


def test_a_jobs_own_printed_text_is_not_taken_for_a_figure() -> None:
    for text in ("[input read: 90%, nope]", "x [input read: 90.0%, y] and more",
                 "[input read: 50.0%]"):
        assert figure_share(text) is None, text


def test_a_stages_share_is_its_tasks_shares_and_a_done_task_read_all() -> None:
    shares = ReadShares()
    stage = StageProgress("map", waiting=1, running=2, done=1, failed=0)
    assert shares.stage(stage) is None  # no task said anything yet
    shares.feed([
        "MSG: [map:0] 1 entries mapped [input read: 50.0%, 1 of 2 bytes]",
        "MSG: [map:1] 1 entries mapped [input read: 10.0%, 1 of 10 bytes]",
        "MSG: [reduce:0] 1 entries reduced [input read: 99.0%, 99 of 100 bytes]",
        "MSG: [map:0] 2 entries mapped [input read: 70.0%, input 1 of 2 at 4 of 10 bytes]",
        "DONE: [map:2] Task finished in 0:00:01.000",  # it sent no figure (another worker)
    ])
    # map:0 at 70%, map:1 at 10%, map:2 done: 1.8 of 4 tasks.
    assert shares.stage(stage) == 45
    shares.feed(["ERROR: [map:0] it failed"])  # its next attempt starts over
    assert shares.stage(stage) == 27


def test_a_task_jobinfo_calls_done_before_its_done_event_is_read_is_not_counted_twice() -> None:
    # Seen on a real master: two tasks' last partial figures read, jobinfo already says both
    # are done, the third has not said anything: two thirds read, not all.
    shares = ReadShares()
    shares.feed([
        "MSG: [map:0] 5000 entries mapped [input read: 95.0%, 95 of 100 bytes]",
        "MSG: [map:1] 5000 entries mapped [input read: 93.0%, 93 of 100 bytes]",
    ])
    assert shares.stage(StageProgress("map", waiting=0, running=1, done=2, failed=0)) == 66
    shares.feed(["DONE: [map:0] Task finished", "DONE: [map:1] Task finished",
                 "MSG: [map:2] 1000 entries mapped [input read: 30.0%, 30 of 100 bytes]"])
    assert shares.stage(StageProgress("map", waiting=0, running=1, done=2, failed=0)) == 76
    assert time_left(0.25, 10.0) == 30.0 and time_left(0.0, 10.0) is None
    assert time_left(1.0, 10.0) is None and time_left(None, 10.0) is None
