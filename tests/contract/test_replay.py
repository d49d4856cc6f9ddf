"""The contract against a replay of a real Disco 0.5.4 master (golden/real-master).

``embedded``, ``served`` and ``live`` run new jobs; a real master's recording can only run the
jobs it recorded, so here the replay is the master: each task of a recorded job, in the order
of its task ids, is run by our worker against the replies the real master gave that task (no
reply made up: every step's reply is a recorded one), each next stage reading the index
files a real master writes from our OUTPUTs. The job's results, at the ``dir://`` URLs the
real master listed in its job info, read back with ``result_iterator``, are the recorded job's.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

import pytest

from discoworker.adapters.openers import UrlOpener
from discoworker.domain import protocol as p
from discoworker.job import result_iterator
from tests.unit.adapters.test_replay import (
    DATA1,
    JOB4,
    JOB10B,
    PIPE_WC,
    REAL,
    WORDCOUNT,
    JobReplay,
    Replayed,
    assert_same_outputs,
    locality_of,
)


def jobinfo(results: list[Replayed]) -> dict[str, Any]:
    """What the real master said of the recorded job (``/disco/ctrl/jobinfo``)."""
    jobname = results[0].replay.recording.task.jobname
    info: dict[str, Any] = json.loads((REAL / "events" / f"{jobname}.jobinfo.json").read_text())
    return info


def replay_job(job: JobReplay) -> tuple[list[Replayed], list[Any]]:
    """Every task of the job replayed, and the job's results as a user reads them."""
    results = job.run_all()
    for result in results:
        assert result.ok and isinstance(result.replay.ended_with, p.Done), result.replay.steps
        assert result.replay.derived == []
        assert_same_outputs(result)
    info = jobinfo(results)
    assert info["active"] == "ready"
    last = results[-1].replay.recording
    for url in info["results"]:
        job.write_index(last, url)
    opener = UrlOpener(locality_of(last, job.data))
    return results, list(result_iterator(info["results"], opener=opener))


def words_of_inputs(results: list[Replayed]) -> collections.Counter[str]:
    """The words of the job's raw inputs (``_`` between words), as the map tasks got them."""
    words: collections.Counter[str] = collections.Counter()
    for result in results:
        if result.replay.recording.task.stage == "map":
            for task_input in result.replay.recording.inputs.values():
                words.update(task_input.replicas[0].url[len("raw://") :].split("_"))
    return words


@pytest.mark.parametrize(
    "job",
    [
        "job2_wordcount_ok",
        "job11_http_api_submitted_by_curl_wordcount",
        "job12_wordcount_after_restart",
    ],
)
def test_a_recorded_classic_word_count_gives_the_recorded_result(
    tmp_path: Path, job: str
) -> None:
    results, records = replay_job(JobReplay(job, tmp_path, WORDCOUNT))

    stages = [r.replay.recording.task.stage for r in results]
    assert stages == sorted(stages, key=["map", "map_shuffle", "reduce"].index)
    assert collections.Counter(dict(records)) == words_of_inputs(results)
    if job.startswith("job2_"):
        # The README's record of what the real master's job gave.
        assert sorted(records) == [("bar", 1), ("foo", 2), ("hello", 3), ("world", 1)]


def test_the_recorded_pipeline_word_count_gives_the_recorded_result(tmp_path: Path) -> None:
    results, records = replay_job(JobReplay(JOB4, tmp_path, PIPE_WC))

    assert [r.replay.recording.task.stage for r in results] == ["map", "map", "reduce", "reduce"]
    # The reduce counts words input by input (the sizes the real workers reported say so).
    assert records == [
        ("bar", 1), ("foo", 1), ("foo", 1), ("hello", 2), ("hello", 1), ("world", 1),
    ]
    total: collections.Counter[str] = collections.Counter()
    for word, count in records:
        total[word] += count
    assert total == words_of_inputs(results)


def test_the_recorded_ddfs_tag_word_count_gives_the_recorded_result(tmp_path: Path) -> None:
    results, records = replay_job(JobReplay(JOB10B, tmp_path, WORDCOUNT))

    (blob,) = results[0].reads.urls
    assert blob.startswith("disco://vm/ddfs/")
    assert collections.Counter(dict(records)) == collections.Counter(DATA1.decode().split())
