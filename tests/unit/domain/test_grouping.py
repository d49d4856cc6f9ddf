"""Groupings against what the real master did in the recordings, and their rules."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from discoworker.domain.grouping import (
    DataOutput,
    DirOutput,
    Group,
    OutputRef,
    data_host,
    group_outputs,
    refs_of,
    task_outputs,
)
from discoworker.domain.index import IndexEntry
from discoworker.domain.inputs import TaskInput
from tests.unit.domain._recordings import Recorded, recorded_tasks

JOBS = [
    "job2_wordcount_ok",
    "job3_pipeline_reduce_FATAL_bad_input_chain",
    "job4_pipeline_ok",
    "job9_inputerr_RETRY_FAIL_direct",
    "job10b_ddfs_tag_input_wordcount_ok",
    "job11_http_api_submitted_by_curl_wordcount",
    "job12_wordcount_after_restart",
    "job1b_wordcount_spaces_in_raw_input",
]


def _first_input_reply(rec: Recorded) -> list[Any]:
    # The first INPUT reply answers ["exclude", []]: the task's full input list. The
    # recording keeps them all, concatenated; the first reply's items come first and ids
    # restart at 0 in the next reply.
    items: list[Any] = []
    for item in rec.inputs:
        assert isinstance(item, list)
        if items and item[0] == 0:
            break
        items.append(item)
    return items


def _stages(job: Path) -> list[list[Recorded]]:
    by_id: dict[int, Recorded] = {}
    for rec in recorded_tasks(job):
        if rec.inputs:
            by_id.setdefault(rec.spec.taskid, rec)
    stages: dict[str, list[Recorded]] = {}
    for taskid in sorted(by_id):
        stages.setdefault(by_id[taskid].spec.stage, []).append(by_id[taskid])
    return list(stages.values())


def _index_url(later: Sequence[Recorded], stage: str, taskid: int) -> str:
    for rec in later:
        for item in rec.inputs:
            for _rid, url in item[3]:
                if f"/.disco/{stage}-{taskid}-" in url:
                    return str(url)
    raise AssertionError(f"no index URL of {stage}:{taskid}")


@pytest.mark.parametrize("job", JOBS)
def test_groups_are_what_the_real_master_made(golden: Path, job: str) -> None:
    stages = _stages(golden / "real-master" / job)
    first = stages[0]
    # The job inputs, in the order the first stage's tasks got them.
    job_inputs = [
        OutputRef(-1, i, DataOutput(item[2], 0, tuple(url for _rid, url in item[3])))
        for i, item in enumerate(it for rec in first for it in _first_input_reply(rec))
    ]
    prev = job_inputs
    next_taskid = 0
    for n, tasks in enumerate(stages):
        grouping = tasks[0].spec.grouping
        groups = group_outputs(grouping, prev)
        assert len(groups) == len(tasks), (job, tasks[0].spec.stage)
        for group, rec in zip(groups, tasks, strict=True):
            assert rec.spec.taskid == next_taskid
            next_taskid += 1
            assert group.group == rec.spec.group
            got = [i.to_json() for i in group.task_inputs()]
            assert got == _first_input_reply(rec)
        later = [r for s in stages[n + 1 :] for r in s]
        if not later:
            break
        prev = []
        for rec in tasks:
            url = _index_url(later, rec.spec.stage, rec.spec.taskid)
            local = [(label, size) for label, _loc, size in rec.outputs]
            prev += refs_of(rec.spec.taskid, task_outputs(rec.spec.host, url, local, []))


def test_job2_shapes(golden: Path) -> None:
    stages = _stages(golden / "real-master" / "job2_wordcount_ok")
    assert [[r.spec.grouping for r in s] for s in stages] == [
        ["split", "split"],
        ["group_node"],
        ["group_label", "group_label"],
    ]
    (shuffle,) = stages[1]
    assert {item[2] for item in shuffle.inputs} == {"all"}


def _dir(host: str, name: str, *labels: int) -> DirOutput:
    return DirOutput(host, f"dir://{host}/disco/{name}", tuple((lb, 10) for lb in labels))


def _dat(label: int, *urls: str) -> DataOutput:
    return DataOutput(label, 5, urls)


REFS = [
    OutputRef(0, 0, _dir("b", "t0", 1, 0, 1)),
    OutputRef(0, 1, _dat(1, "disco://a/x", "disco://b/x")),
    OutputRef(1, 0, _dir("a", "t1", 1)),
    OutputRef(2, 0, _dat(0, "raw://zz")),
    OutputRef(3, 0, _dat(0)),  # no replicas: dropped
    OutputRef(4, 0, _dir("c", "t4")),  # no labels: dropped
]


def _summary(groups: list[Group]) -> list[tuple[int, str, list[tuple[int, int, object]]]]:
    return [
        (g.label, g.host, [(i.ref.task_id, i.ref.output_id, i.label) for i in g.inputs])
        for g in groups
    ]


def test_split() -> None:
    assert _summary(group_outputs("split", REFS)) == [
        (0, "b", [(0, 0, 0)]),
        (1, "b", [(0, 0, 1)]),
        (1, "a", [(1, 0, 1)]),
        (1, "a", [(0, 1, 1)]),
        (0, "zz", [(2, 0, 0)]),
    ]
    picked = group_outputs("split", REFS, pick=lambda hosts: hosts[-1])
    assert picked[3].host == "b"


def test_group_label() -> None:
    assert _summary(group_outputs("group_label", REFS)) == [
        (0, "", [(0, 0, 0), (2, 0, 0)]),
        (1, "", [(0, 0, 1), (0, 1, 1), (1, 0, 1)]),
    ]


def test_group_node() -> None:
    assert _summary(group_outputs("group_node", REFS)) == [
        (0, "a", [(0, 1, 1), (1, 0, "all")]),
        (0, "b", [(0, 0, "all")]),
        (0, "zz", [(2, 0, 0)]),
    ]


def test_group_node_label() -> None:
    assert _summary(group_outputs("group_node_label", REFS)) == [
        (0, "b", [(0, 0, 0)]),
        (0, "zz", [(2, 0, 0)]),
        (1, "a", [(1, 0, 1), (0, 1, 1)]),
        (1, "b", [(0, 0, 1)]),
    ]


def test_group_all() -> None:
    assert _summary(group_outputs("group_all", REFS)) == [
        (0, "", [(0, 0, "all"), (1, 0, "all"), (0, 1, 1), (2, 0, 0)]),
    ]
    assert group_outputs("group_all", REFS[4:]) == []
    assert group_outputs("group_all", []) == []


def test_task_inputs_are_input_reply_items() -> None:
    (group,) = group_outputs("group_all", REFS[:2])
    assert group.task_inputs() == (
        TaskInput.from_json([0, "ok", "all", [[0, "dir://b/disco/t0"]]]),
        TaskInput.from_json([1, "ok", 1, [[0, "disco://a/x"], [1, "disco://b/x"]]]),
    )


def test_rules() -> None:
    with pytest.raises(ValueError, match="unknown grouping"):
        group_outputs("join_all", REFS)
    assert data_host(_dat(0, "/no/scheme")) == ""
    assert group_outputs("group_node", [OutputRef(0, 0, _dat(0, "/p"))])[0].group == (0, "")
    entries = [IndexEntry(2, "u", 3), IndexEntry(2, "v", 4)]
    assert DirOutput.from_entries("h", "dir://h/x", entries).unique_labels() == (2,)
    with pytest.raises(ValueError):
        task_outputs("h", None, [(0, 1)], [])
    outs = task_outputs("h", "dir://h/i", [(0, 1)], [(3, "http://x/y", 9)])
    assert outs == [DirOutput("h", "dir://h/i", ((0, 1),)), DataOutput(3, 9, ("http://x/y",))]
