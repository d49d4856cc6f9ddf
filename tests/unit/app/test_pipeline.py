"""The pipeline worker, task by task through the in-memory master."""

from __future__ import annotations

import collections
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from discoworker.app.pipeline import Stage, Worker
from discoworker.domain.jobdict import PipelineJobDict
from discoworker.domain.partition import default_partition
from discoworker.errors import DiscoError
from tests.unit.app.test_classic import (
    Cluster,
    data_input,
    expected_counts,
    job_inputs,
)

LABELS = 3


def map_words(interface: Any, state: Any, label: int, inp: Iterable[Any]) -> None:
    for line in inp:
        text = line.decode("utf-8") if isinstance(line, bytes) else line
        for word in text.split():
            interface.output(default_partition(word, LABELS)).add(word, 1)


def reduce_init(interface: Any, params: Any) -> collections.Counter[str]:
    return collections.Counter()


def reduce_process(interface: Any, state: Any, label: int, inp: Iterable[Any]) -> None:
    for word, count in inp:
        state[word] += count


def reduce_done(interface: Any, state: collections.Counter[str]) -> None:
    out = interface.output(0)
    for word, count in sorted(state.items()):
        out.add(word, count)


def word_count(**reduce_options: Any) -> Worker:
    return Worker(
        pipeline=[
            ("split", Stage("map", process=map_words)),
            ("group_label", Stage("reduce", init=reduce_init, process=reduce_process,
                                  done=reduce_done, **reduce_options)),
        ]
    )


def run_word_count(tmp_path: Path, worker: Worker) -> tuple[Cluster, list[Any]]:
    cluster = Cluster(tmp_path, worker, {})
    urls = job_inputs(tmp_path)
    maps = [cluster.run("map", "split", (0, "h"), [data_input(0, url)]) for url in urls]
    dirs = [cluster.index("map", m) for m in maps]
    labels = sorted({o.label for m in maps for o in m.outputs})
    reduces = [
        cluster.run("reduce", "group_label", (label, ""),
                    [data_input(i, d, label) for i, d in enumerate(dirs)])
        for label in labels
    ]
    return cluster, reduces


def test_a_pipeline_word_count_equals_counter(tmp_path: Path) -> None:
    cluster, reduces = run_word_count(tmp_path, word_count())
    counts: collections.Counter[str] = collections.Counter()
    for reduce in reduces:
        (output,) = reduce.outputs
        assert output.label == 0
        assert output.location.endswith(f"/reduce-{reduce.task.group[0]}--0")
        counts.update(dict(cluster.records(output)))
    assert counts == expected_counts(tmp_path)
    assert len(reduces) == LABELS



def combined_process(interface: Any, state: Any, label: int, inp: Iterable[Any]) -> None:
    records = list(inp)
    out = interface.output(0)
    out.add(("label", label), len(records))
    for key, value in records:
        out.add(key, value)


def test_combine_and_sort_give_process_one_sorted_input_per_label(tmp_path: Path) -> None:
    worker = Worker(pipeline=[
        ("split", Stage("map", process=map_words)),
        ("group_label", Stage("reduce", process=combined_process, combine=True, sort=True)),
    ])
    cluster, reduces = run_word_count(tmp_path, worker)
    total: collections.Counter[str] = collections.Counter()
    for reduce in reduces:
        (output,) = reduce.outputs
        header, *records = cluster.records(output)
        assert header == (("label", reduce.task.group[0]), len(records))
        keys = [k for k, _v in records]
        assert keys == sorted(keys)
        for key, value in records:
            total[key] += value
    assert total == expected_counts(tmp_path)


def hook_init(interface: Any, params: Any) -> list[Any]:
    return ["init"]


def reverse_hook(state: list[Any], labels: Iterable[int]) -> list[int]:
    state.append("hook")
    return sorted(labels, reverse=True)


def note_process(interface: Any, state: list[Any], label: int, inp: Iterable[Any]) -> None:
    state.append(label)


def note_done(interface: Any, state: list[Any]) -> None:
    interface.output(0).add("order", state)


def test_init_runs_before_the_input_hook_which_orders_the_labels(tmp_path: Path) -> None:
    worker = Worker(pipeline=[
        ("split", Stage("first", process=map_words)),
        ("group_all", Stage("second", init=hook_init, input_hook=reverse_hook,
                            process=note_process, done=note_done)),
    ])
    cluster = Cluster(tmp_path, worker, {})
    first = cluster.run("first", "split", (0, "h"), [data_input(0, "raw://" + "a%20b%20c%20d")])
    index = cluster.index("first", first)
    second = cluster.run("second", "group_all", (0, ""), [data_input(0, index, "all")])
    (output,) = second.outputs
    labels = sorted({o.label for o in first.outputs}, reverse=True)
    assert cluster.records(output) == [("order", ["init", "hook", *labels])]


def test_the_jobdict_is_version_2_with_inputs_as_label_size_urls() -> None:
    job = type("J", (), {"name": "PipeWC"})()
    jobdict = word_count().jobdict(job, input=["raw://a", ["http://h1/x", "http://h2/x"]])
    checked = PipelineJobDict.from_json(jobdict)
    assert jobdict["pipeline"] == [["map", "split", False], ["reduce", "group_label", False]]
    assert jobdict["inputs"] == [[0, 0, ["raw://a"]], [0, 0, ["http://h1/x", "http://h2/x"]]]
    assert [s.name for s in checked.pipeline] == ["map", "reduce"]
    concurrent = Worker(pipeline=[("split", Stage("a")), ("group_all", Stage("b"), True)])
    assert concurrent.jobdict(job, input=[])["pipeline"][1] == ["b", "group_all", True]


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        ([("group_everything", Stage("a"))], "Unknown grouping"),
        ([("split", Stage("a")), ("group_all", Stage("a"))], "Repeated stage"),
        ([("split",)], "pipeline entry"),
    ],
)
def test_a_bad_pipeline_is_refused_on_the_client(pipeline: list[Any], message: str) -> None:
    job = type("J", (), {"name": "Bad"})()
    with pytest.raises(DiscoError, match=message):
        Worker(pipeline=pipeline).jobdict(job, input=[])

