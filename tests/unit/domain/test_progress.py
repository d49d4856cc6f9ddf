"""A job's progress read from jobinfo rows, as both kinds of master write them."""

from __future__ import annotations

import json

import pytest

from discoworker.domain.progress import StageProgress, job_progress


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
