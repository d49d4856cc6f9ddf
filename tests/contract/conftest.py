"""The masters every contract test runs against.

``embedded`` always runs; ``live`` runs when ``DISCO_CONTRACT_MASTER`` names a running Disco
master (e.g. ``http://localhost:8989``, see scripts/live-contract.sh), and is reported as
skipped, with that reason, otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

LIVE = os.environ.get("DISCO_CONTRACT_MASTER", "")


@pytest.fixture(scope="session", params=["embedded", "live"])
def master(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A master port: the embedded one, or a live Disco master over HTTP."""
    if request.param == "embedded":
        from discoworker.adapters.embedded import EmbeddedMaster

        return EmbeddedMaster(tmp_path_factory.mktemp("embedded"), workers=2)
    if not LIVE:
        pytest.skip("no live Disco master: set DISCO_CONTRACT_MASTER=http://host:8989")
    from discoworker.adapters.master_http import HttpMaster

    return HttpMaster(LIVE)


@pytest.fixture
def words_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder for input files (local files: the live master's node is this machine)."""
    yield tmp_path
