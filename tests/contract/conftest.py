"""The masters every contract test runs against.

``embedded`` and ``served`` (the embedded master behind its HTTP server on loopback, reached
through the HTTP adapters) always run; ``live`` runs when ``DISCO_CONTRACT_MASTER`` names a
running Disco master (e.g. ``http://localhost:8989``, see scripts/live-contract.sh), and is
reported as skipped, with that reason, otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

LIVE = os.environ.get("DISCO_CONTRACT_MASTER", "")


@pytest.fixture(scope="session", params=["embedded", "served", "live"])
def master(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A master port: the embedded one, the embedded one over HTTP, or a live Disco master."""
    if request.param == "embedded":
        from discoworker.adapters.embedded import EmbeddedMaster

        yield EmbeddedMaster(tmp_path_factory.mktemp("embedded"), workers=2)
        return
    from discoworker.adapters.master_http import HttpMaster

    if request.param == "served":
        from discoworker.adapters.embedded.http_server import serve

        with serve(tmp_path_factory.mktemp("served"), port=0, workers=2).start() as server:
            yield HttpMaster(server.url)
        return
    if not LIVE:
        pytest.skip("no live Disco master: set DISCO_CONTRACT_MASTER=http://host:8989")
    yield HttpMaster(LIVE)


@pytest.fixture
def words_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder for input files (local files: the live master's node is this machine)."""
    yield tmp_path
