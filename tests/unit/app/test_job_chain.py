"""JobChain, stage results and profile stats on the embedded master."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from discoworker.adapters.embedded import EmbeddedMaster
from discoworker.job import Job, JobChain, result_iterator
from discoworker.task_io import chain_reader

pytestmark = pytest.mark.slow


class Words(Job):
    @staticmethod
    def map(line: Any, params: Any) -> Any:
        for word in str(line).split("_"):
            yield word, 1

    @staticmethod
    def reduce(records: Any, params: Any) -> Any:
        counts: dict[str, int] = {}
        for word, n in records:
            counts[word] = counts.get(word, 0) + int(n)
        yield from sorted(counts.items())


class Doubled(Job):
    @staticmethod
    def map(record: Any, params: Any) -> Any:
        word, n = record
        yield word, 2 * n

    # It reads the first job's results: records, not lines.
    map_reader = staticmethod(chain_reader)


@pytest.fixture
def master(tmp_path: Path) -> EmbeddedMaster:
    return EmbeddedMaster(tmp_path / "data", workers=2)


def test_a_chain_runs_each_job_when_the_jobs_it_reads_are_ready(master: EmbeddedMaster) -> None:
    first, second = Words(master=master), Doubled(master=master)
    chain = JobChain({first: ["raw://a_b_b", "raw://c"], second: [first]})
    assert second.status() == "unknown job"
    chain.wait(poll_interval=0.05)
    assert first.status() == second.status() == "ready"
    assert dict(result_iterator(second.wait())) == {"a": 2, "b": 4, "c": 2}
    chain.purge()
    assert master.results(first.name, 0).status == "unknown job"


def test_stageresults_and_profile_stats(master: EmbeddedMaster) -> None:
    job = Words(master=master).run(input=["raw://x_y"], profile=True)
    job.wait()
    (map_output,) = job.stageresults("map")
    assert map_output and all(isinstance(u, str) for u in map_output)
    out = io.StringIO()
    stats = job.profile_stats("map", stream=out)
    stats.print_stats(3)
    assert "function calls" in out.getvalue()
    with pytest.raises(Exception, match="no profile data for shuffle"):
        job.profile_stats("shuffle")
