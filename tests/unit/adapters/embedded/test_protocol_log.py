"""A failed task can be understood from the master's debug log alone."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from discoworker.adapters.embedded import EmbeddedMaster
from discoworker.errors import JobError
from discoworker.job import Job


def test_every_exchange_of_a_task_is_logged_at_debug(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_map(line: str, params: Any) -> Any:
        raise KeyError("no such column")

    master = EmbeddedMaster(tmp_path, workers=1, max_attempts=1)
    with caplog.at_level(logging.DEBUG, logger="discoworker.adapters.embedded"):
        job = Job(name="Logged", master=master).run(input=["raw://x"], map=broken_map)
        with pytest.raises(JobError):
            job.wait(timeout=60)

    said = [r.getMessage() for r in caplog.records if "worker.said" in r.getMessage()]
    replied = [r.getMessage() for r in caplog.records if "master.replied" in r.getMessage()]
    assert any("WORKER" in m for m in said)
    assert any("TASK" in m for m in said) and any("TASK" in m for m in replied)
    assert any("FATAL" in m and "no such column" in m for m in said)
