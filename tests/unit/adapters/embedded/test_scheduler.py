"""The embedded master's scheduling decisions: pure, no processes."""

from __future__ import annotations

import pytest

from discoworker.adapters.embedded.scheduler import Scheduler, StageFinished, StageStarted
from discoworker.domain.grouping import DataOutput, DirOutput
from discoworker.domain.jobdict import PipelineStage

MAP = PipelineStage("map", "split", False)
REDUCE = PipelineStage("reduce", "group_label", False)


def raw(*words: str) -> DataOutput:
    return DataOutput(0, 0, tuple(f"raw://{w}" for w in words))


def idx(n: int, *labels: int) -> DirOutput:
    return DirOutput("vm", f"dir://vm/disco/vm/00/J/.disco/map-{n}-1.results",
                     tuple((lab, 10) for lab in labels))


def test_split_then_group_label_numbers_tasks_across_the_job() -> None:
    s = Scheduler([MAP, REDUCE], [raw("a"), raw("b")], workers=4)
    assert s.take_notes() == [StageStarted("map", 2)]
    t0 = s.next_task(0)
    t1 = s.next_task(1)
    assert t0 is not None and t1 is not None
    assert (t0.taskid, t0.group, t1.taskid, t1.group) == (0, (0, "a"), 1, (0, "b"))
    assert s.next_task(2) is None
    flag, items = s.inputs(0) or ("", ())
    assert flag == "done" and [r.url for r in items[0].replicas] == ["raw://a"]
    s.task_done(0, [idx(0, 0, 1)])
    assert s.next_task(1) is None  # reduce waits for the whole map stage
    s.task_done(1, [idx(1, 1, 2)])
    assert s.take_notes() == [StageFinished("map"), StageStarted("reduce", 3)]
    reduces = [s.next_task(0), s.next_task(1), s.next_task(2)]
    assert [(t.taskid, t.group) for t in reduces if t] == [(2, (0, "")), (3, (1, "")), (4, (2, ""))]
    answer = s.inputs(3)
    assert answer is not None
    assert [(i.id, i.label, i.replicas[0].url) for i in answer[1]] == [
        (0, 1, idx(0).url),
        (1, 1, idx(1).url),
    ]
    for t in (2, 3, 4):
        s.task_done(t, [idx(t, 0)])
    assert s.finished
    assert s.results() == [[idx(2).url], [idx(3).url], [idx(4).url]]


def test_input_modes_and_input_err_replicas() -> None:
    s = Scheduler([PipelineStage("s", "group_all", False)], [raw("a", "b"), raw("c")])
    s.next_task(0)
    assert [i.id for i in (s.inputs(0, "exclude", (0,)) or ("", ()))[1]] == [1]
    assert [i.id for i in (s.inputs(0, "include", (0,)) or ("", ()))[1]] == [0]
    assert [r.url for r in s.replicas(0, 0) or ()] == ["raw://a", "raw://b"]
    assert s.replicas(0, 7) is None


def test_retry_until_max_attempts_then_give_up() -> None:
    s = Scheduler([MAP], [raw("a")], max_attempts=2)
    t = s.next_task(0)
    assert t is not None and t.attempts == 1
    assert s.task_failed(0, fatal=False) == "retry"
    t = s.next_task(0)
    assert t is not None and t.attempts == 2
    assert s.task_failed(0, fatal=False) == "give_up"
    assert s.next_task(0) is None


def test_fatal_gives_up_at_once() -> None:
    s = Scheduler([MAP], [raw("a")], max_attempts=5)
    s.next_task(0)
    assert s.task_failed(0, fatal=True) == "give_up"
    # As the real master's jobinfo tells it (golden GET_jobinfo_dead_fatal_job): the task that
    # failed is still one of the stage's tasks, waiting, with one failure.
    assert s.counts() == [["map", 0, 1, 0, 0, 1]]


def test_workers_bound_running_tasks() -> None:
    s = Scheduler([MAP], [raw("a"), raw("b"), raw("c")], workers=2)
    assert s.next_task(0) is not None
    assert s.next_task(1) is not None
    assert s.next_task(2) is None


def test_concurrent_stage_gets_more_then_done_and_keeps_a_slot() -> None:
    conc = PipelineStage("reduce", "group_all", True)
    s = Scheduler([MAP, conc], [raw("a"), raw("b")], workers=3)
    m0, m1 = s.next_task(0), s.next_task(1)
    assert m0 is not None and m1 is not None
    # The reduce exists already but may not take the last free slot.
    assert s.next_task(2) is None
    s.task_done(0, [idx(0, 0)])
    r = s.next_task(1)
    assert r is not None and r.taskid == 2
    assert s.inputs(2) == ("more", s.inputs(2, "include", (0,))[1])  # type: ignore[index]
    assert s.inputs(2, "exclude", (0,)) is None  # nothing new: the reply is held back
    s.task_done(1, [idx(1, 0)])
    answer = s.inputs(2, "exclude", (0,))
    assert answer is not None and answer[0] == "done" and [i.id for i in answer[1]] == [1]


def test_empty_pipeline_and_inputs_without_replicas() -> None:
    assert Scheduler([], [raw("a")]).results() == [["raw://a"]]
    s = Scheduler([MAP], [DataOutput(0, 0, ())])
    assert s.finished and s.results() == []


def test_bad_settings() -> None:
    with pytest.raises(ValueError):
        Scheduler([MAP], [], workers=0)
