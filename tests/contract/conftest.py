"""The masters every contract test runs against.

``embedded`` and ``served`` (the embedded master behind its HTTP server on loopback, reached
through the HTTP adapters) always run; ``dask`` (the Dask master on a ``LocalCluster`` of 3
worker processes) runs when ``distributed`` is installed (the ``dask`` extra); ``live`` runs
when ``DISCO_CONTRACT_MASTER`` names a running Disco master (e.g. ``http://localhost:8989``,
see scripts/live-contract.sh), and is reported as skipped, with that reason, otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

LIVE = os.environ.get("DISCO_CONTRACT_MASTER", "")


@pytest.fixture(scope="package")
def dask_client() -> Iterator[Any]:
    """A client of a Dask ``LocalCluster`` of 3 worker processes, for the contract suite.

    Closed after it: its threads would otherwise run on through the tests that fake the clock.
    """
    try:
        import distributed
    except ImportError:
        pytest.skip("distributed is not installed (pip install discoworker[dask])")
    local: Any = distributed.LocalCluster
    client_of: Any = distributed.Client
    with local(n_workers=3, threads_per_worker=2, processes=True,
               dashboard_address=None) as cluster, client_of(cluster) as client:
        yield client


@pytest.fixture(scope="package", params=["embedded", "served", "dask", "live"])
def master(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A master port: the embedded one, the embedded one over HTTP, the Dask one, or a live
    Disco master."""
    if request.param == "embedded":
        from discoworker.adapters.embedded import EmbeddedMaster

        yield EmbeddedMaster(tmp_path_factory.mktemp("embedded"), workers=2)
        return
    if request.param == "dask":
        from discoworker.adapters.dask import DaskMaster

        client = request.getfixturevalue("dask_client")
        yield DaskMaster.of_client(client, tmp_path_factory.mktemp("dask"))
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
