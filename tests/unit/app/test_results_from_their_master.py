"""A job's results are read back from the master that ran it, with no second argument."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from discoworker.adapters.embedded.http_server import serve
from discoworker.app.job import Job, result_iterator


def fun_map(line: Any, params: Any) -> Any:
    for word in str(line).split("_"):
        yield word, 1


def fun_reduce(records: Any, params: Any) -> Any:
    counts: Counter[str] = Counter()
    for word, n in records:
        counts[word] += n
    yield from counts.items()


@pytest.mark.slow
def test_results_of_a_job_on_another_master_read_back_from_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default (embedded) master is another, empty one: reading from it finds nothing.
    monkeypatch.setenv("DISCOWORKER_DATA", str(tmp_path / "local"))
    monkeypatch.delenv("DISCO_MASTER", raising=False)
    with serve(tmp_path / "served", port=0, workers=2).start() as server:
        job = Job(name="Elsewhere", master=server.url).run(
            input=["raw://a_b_b", "raw://b_c"], map=fun_map, reduce=fun_reduce, partitions=2
        )
        results = job.wait()
        assert dict(result_iterator(results)) == {"a": 1, "b": 3, "c": 1}
        # Copied into a plain list, the results no longer know their master: say which.
        plain = [list(r) for r in results]
        assert dict(result_iterator(plain, master=server.url)) == {"a": 1, "b": 3, "c": 1}
