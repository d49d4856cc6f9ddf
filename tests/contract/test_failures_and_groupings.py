"""Failures a master must absorb, and the groupings it must honour, on every master."""

from __future__ import annotations

import collections
import os
import signal
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from discoworker.app.ports import Master
from discoworker.classic import sum_combiner
from discoworker.domain.jobpack import JobPack
from discoworker.errors import JobError
from discoworker.job import Job, result_iterator
from discoworker.pipeline import Stage
from discoworker.pipeline import Worker as PipelineWorker
from tests.contract.test_jobs import TEXTS, counts_of, split_words, sum_counts, words_of
from tests.contract.test_jobs import write_inputs as write_text_inputs


def first_attempt(marker: str) -> bool:
    """True the first time it is asked for ``marker`` (a file: attempts are processes)."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def test_a_task_that_errors_once_is_retried_and_the_result_is_exact(
    master: Master, tmp_path: Path
) -> None:
    marker = str(tmp_path / "errored-once")

    def flaky_map(line: str, params: Any) -> Iterator[tuple[str, int]]:
        from discoworker.errors import DataError

        if first_attempt(marker):
            raise DataError("the disk hiccuped", "raw://flaky")
        yield line, 1

    job = Job(name="ContractRetry", master=master).run(input=["raw://once"], map=flaky_map)
    assert counts_of(master, job.wait(timeout=180)) == {"once": 1}
    assert os.path.exists(marker)


def test_a_task_that_kills_itself_is_retried_and_the_result_is_identical(
    master: Master, tmp_path: Path
) -> None:
    marker = str(tmp_path / "killed-once")
    inputs = write_text_inputs(tmp_path)

    def dying_map(line: bytes | str, params: Any) -> Iterator[tuple[str, int]]:
        if first_attempt(marker):
            os.kill(os.getpid(), signal.SIGKILL)
        yield from split_words(line, params)

    job = Job(name="ContractKilled", master=master).run(
        input=inputs[:1], map=dying_map, reduce=sum_counts, sort=True
    )
    assert counts_of(master, job.wait(timeout=180)) == words_of(TEXTS[:1])


def test_partitions_4_gives_four_reduce_tasks(master: Master, tmp_path: Path) -> None:
    job = Job(name="ContractFour", master=master).run(
        input=write_text_inputs(tmp_path), map=split_words, reduce=sum_counts,
        combiner=sum_combiner, partitions=4, sort=True,
    )
    results = job.wait(timeout=180)
    assert counts_of(master, results) == words_of(TEXTS)
    stages = {row[0]: row[1:] for row in job.jobinfo()["pipeline"]}
    assert sum(stages["reduce"]) == 4  # pending, waiting, running, done, failed: all done
    assert stages["reduce"][3] == 4


def test_the_five_groupings(master: Master) -> None:
    inputs = ["raw://alpha", "raw://beta", "raw://gamma"]

    def tag(interface: Any, state: Any, label: int, inp: Iterable[Any]) -> None:
        for line in inp:
            text = line.decode() if isinstance(line, bytes) else line
            interface.output(len(text) % 2).add(text, 1)

    def count_group(interface: Any, state: Any, label: int, inp: Iterable[Any]) -> None:
        # One record per task: which label it saw, and how many records.
        interface.output(label).add(f"{label}", sum(1 for _ in inp))

    def total(interface: Any, state: Any, label: int, inp: Iterable[Any]) -> None:
        interface.output(0).add("total", sum(n for _, n in inp))

    worker = PipelineWorker(
        pipeline=[
            ("split", Stage("tag", process=tag)),
            ("group_node_label", Stage("by_node_label", process=count_group, combine=True)),
            ("group_label", Stage("by_label", process=count_group, combine=True)),
            ("group_node", Stage("by_node", process=count_group, combine=True)),
            ("group_all", Stage("all", process=total, combine=True)),
        ]
    )
    job = Job(name="ContractGroupings", master=master, worker=worker).run(input=inputs)
    # group_all: one task; with combine, ``total`` runs once per label it holds (0 and 1),
    # each label carrying the one record the group_node task wrote for it.
    assert list(result_iterator(job.wait(timeout=180), master=master)) == [("total", 1)] * 2
    tasks = {row[0]: row[4] for row in job.jobinfo()["pipeline"]}
    # 3 splits; labels 1 (alpha, gamma) and 0 (beta) on one node: 2 node-label groups,
    # 2 label groups, 1 node group, 1 for all.
    assert tasks == {"tag": 3, "by_node_label": 2, "by_label": 2, "by_node": 1, "all": 1}
    counter = collections.Counter(len(w) % 2 for w in ("alpha", "beta", "gamma"))
    assert counter == {1: 2, 0: 1}


def submit_with_inputs(master: Master, name: str, inputs: list[Any], **jobargs: Any) -> Job:
    """A classic job whose inputs our client refuses (another client, or an older one, may
    send them): packed with a placeholder input, then given ``inputs`` in its jobdict."""
    job = Job(name=name, master=master)
    pack = job.worker.jobpack(job, input=["raw://placeholder"], **jobargs)
    jobdict = {**pack.jobdict, "input": inputs}
    job.name = master.submit(
        JobPack(pack.version, jobdict, pack.jobenvs, pack.jobhome, pack.jobdata).dumps())
    return job


def test_an_input_of_an_unknown_scheme_ends_the_job_after_one_attempt_saying_so(
    master: Master,
) -> None:
    job = submit_with_inputs(master, "ContractScheme", ["nosuch://x"], map=split_words)

    with pytest.raises(JobError) as caught:
        job.wait(timeout=180)

    message = str(caught.value)
    assert "unknown URL scheme 'nosuch'" in message.splitlines()[0]
    assert len(message.splitlines()) <= 3, message
    assert caught.value.task == "map:0"
    events = [e.message for e in job.events()]
    assert sum(m.startswith("map:0 assigned to") for m in events) == 1, events


def test_an_unknown_scheme_on_one_replica_fails_over_to_the_next(
    master: Master, tmp_path: Path
) -> None:
    good = write_text_inputs(tmp_path)[0]
    job = submit_with_inputs(master, "ContractSchemeFailover", [["nosuch://x", good]],
                             map=split_words, reduce=sum_counts, sort=True)
    assert counts_of(master, job.wait(timeout=180)) == words_of(TEXTS[:1])


def test_a_failed_tasks_traceback_is_in_the_events_once(master: Master) -> None:
    def failing_map(line: str, params: Any) -> Iterator[tuple[str, int]]:
        print("about to fail")
        raise ValueError(f"cannot map {line!r}")
        yield line, 1

    job = Job(name="ContractOnce", master=master).run(input=["raw://boom"], map=failing_map)
    with pytest.raises(JobError) as caught:
        job.wait(timeout=180)

    events = "\n".join(e.message for e in job.events())
    assert events.count("Traceback (most recent call last)") == 1, events
    assert caught.value.printed == ("about to fail",)
    assert caught.value.input == "raw://boom"
