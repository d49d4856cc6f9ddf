"""The one place that picks real adapters and wires them to the use cases."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from discoworker.app.master_line import MasterLine
from discoworker.app.ports import Ddfs, Master, Opener
from discoworker.domain.inputs import Locality, url_scheme
from discoworker.domain.task import Task


def node_opener(locality: Locality) -> Opener:
    """How a task on a node opens its input URLs."""
    from discoworker.adapters.openers import UrlOpener

    return UrlOpener(locality)


def node_ddfs(task: Task) -> Ddfs:
    """The DDFS of ``task``'s master, as a task on its node reaches it.

    A real master names itself by URL in the TASK reply (``http://host:8989``): its DDFS over
    HTTP. The embedded master names itself ``embedded``: its local DDFS, in ``ddfs_data``.
    """
    spec = task.spec
    if url_scheme(spec.master) in ("http", "https", "disco"):
        from discoworker.adapters.ddfs_http import HttpDdfs

        return HttpDdfs(spec.master)
    from discoworker.adapters.embedded.ddfs_local import LocalDdfs

    return LocalDdfs(Path(spec.ddfs_data), spec.host)


def run_worker() -> None:
    """The worker program: own stdio first (nothing may print before WORKER), run the task."""
    from discoworker.adapters.transport_stdio import take_over_stdio, watch_lifeline
    from discoworker.app.task_life import run_task

    taken = take_over_stdio()
    watch_lifeline()
    line = MasterLine(taken.transport)
    line.collect(taken.printed)
    ok = run_task(taken.transport, node_opener, line=line)
    raise SystemExit(0 if ok else 1)


def module_finder() -> Callable[..., list[Any]]:
    """How the client finds the modules job functions use (``required_modules``)."""
    from discoworker.adapters.modules_ast import find_modules

    return find_modules


def is_local_module(name: str) -> bool:
    """True when module ``name`` is the user's own code, not installed or standard."""
    from discoworker.adapters.modules_ast import locate_modules

    try:
        located = locate_modules([name], recurse=False, include_sys=True)
    except ImportError:
        return False
    return any(found == name and path is not None for found, path in located)


def user_cache(name: str, override: str) -> Path:
    """``$override`` when set, else ``name`` in the user's cache (``XDG_CACHE_HOME``)."""
    configured = os.environ.get(override)
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / name


def default_data_dir() -> Path:
    """Where the embedded master keeps its state: ``DISCOWORKER_DATA``, else the user cache."""
    return user_cache("discoworker", "DISCOWORKER_DATA")


def default_libs_dir() -> Path:
    """Where embedded masters unpack a job home's ``lib/`` once for every data dir of the
    user: ``DISCOWORKER_LIBS``, else the user cache."""
    return user_cache("discoworker-libs", "DISCOWORKER_LIBS")


def dask_data_dir() -> Path:
    """Where a Dask master keeps its client-side state (events, results, DDFS)."""
    return default_data_dir() / "dask"


def master_of(obj: object) -> Master | None:
    """The master of a ``distributed.Client`` passed as a job's master, else None."""
    if not type(obj).__module__.startswith("distributed.") or not hasattr(obj, "submit"):
        return None
    from discoworker.adapters.dask import DaskMaster

    master: Master = DaskMaster.of_client(obj, dask_data_dir())
    return master


def master_for(url: str | None = None, settings: dict[str, Any] | None = None) -> Master:
    """The master a job runs on: the embedded one, unless a Disco master's URL is given
    (``http://...``, or ``dask://scheduler:8786`` for a Dask cluster).

    ``settings`` may hold ``data_dir``, ``workers`` and ``max_attempts`` for the embedded master.
    """
    settings = settings or {}
    url = url or os.environ.get("DISCO_MASTER")
    if url and url.startswith("dask://"):
        from discoworker.adapters.dask import DaskMaster

        options = {k: settings[k] for k in ("max_attempts",) if k in settings}
        return DaskMaster.connect(url, Path(settings.get("data_dir") or dask_data_dir()),
                                  **options)
    if url:
        from discoworker.adapters.master_http import HttpMaster

        return HttpMaster(url)
    from discoworker.adapters.embedded import EmbeddedMaster

    options = {k: settings[k] for k in ("workers", "max_attempts") if k in settings}
    master: Master = EmbeddedMaster(Path(settings.get("data_dir") or default_data_dir()), **options)
    return master


def show_progress(
    job: str, jobinfo: Callable[[], Any], show: bool | None,
    events: Callable[[int], bytes] | None = None,
) -> Any:
    """A started display of ``job``'s progress on stderr (live on a terminal, lines otherwise;
    ``show=None``: only on a terminal), or None; stop it with ``.stop()``. ``events(offset)``
    reads the job's event log from a byte offset, for the share of input read."""
    import sys

    from discoworker.adapters.progress import progress_display

    if show is None:
        try:
            show = sys.stderr.isatty()
        except (AttributeError, ValueError):
            show = False
    if not show:
        return None
    return progress_display(job, jobinfo, sys.stderr, events=events).start()


def client_opener(master: Master | str | None = None) -> Opener:
    """How the client reads a job's result URLs on ``master``."""
    from discoworker.adapters.openers import UrlOpener

    chosen = master if master is not None and not isinstance(master, str) else master_for(master)
    return UrlOpener(chosen.locality)


def client_reader(master: Master | str | None = None) -> Callable[[str], bytes]:
    """How the client reads the whole of one URL on ``master`` (a log, an OOB blob)."""
    open_url = client_opener(master)

    def read(url: str) -> bytes:
        stream, _ = open_url(url)
        with stream:
            data: bytes = stream.read()
        return data

    return read
