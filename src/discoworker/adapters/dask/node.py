"""The master's side of one task, run on a Dask worker: the worker program over its own pipes.

:func:`run_task` is what the Dask master submits for every task run. On the Dask worker it
unpacks the job home once (in the worker's local directory), writes the task's inputs that
came from earlier tasks as Dask data at the very paths their URLs name, starts the job's
worker program as a process (a fork of the job's fork server in this Dask worker, as the
embedded master does) and speaks the Disco Worker Protocol with it (the embedded
master's ``WorkerProcess``), then returns a :class:`TaskResult`: how it ended, its events, and
its local outputs as bytes, which stay in the Dask worker's memory (Dask spills them to disk)
until a later task needs them; Dask moves them worker to worker, never through the client.

Names are relative to the data directory and the same on every Dask worker and on the
client (``<host>/<2 hex>/<job>/...``), so a ``dir://`` or ``disco://`` URL names the same file
wherever its bytes have been written.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import attrs

from discoworker.adapters.embedded.ddfs_local import LocalDdfs
from discoworker.adapters.embedded.fork_server import ForkedTask, ForkServer, forkable
from discoworker.adapters.embedded.store import Store, atomic_write
from discoworker.adapters.embedded.worker_process import (
    Limits,
    TaskLink,
    WorkerProcess,
    worker_env,
)
from discoworker.app.master_line import log_urls
from discoworker.app.oob import blob_key, oob_tag
from discoworker.domain.index import IndexEntry, format_index
from discoworker.domain.inputs import Locality, Replica, TaskInput
from discoworker.domain.task import (
    TaskSpec,
    index_file_name,
    index_url,
    job_path,
    local_output_url,
)
from discoworker.errors import CommError, DiscoError

#: Files as ``(area, path relative to the area)``: ``disco`` (job data) or ``ddfs`` (blobs).
FileKey = tuple[str, str]
#: The Dask event topic a task's events go out on as they happen (``Worker.log_event``).
EVENTS_TOPIC = "discoworker-events"


@attrs.frozen
class NodeTask:
    """What a task run needs on the Dask worker, besides the job pack and its inputs' data."""

    jobname: str
    worker: str
    jobenvs: Mapping[str, str]
    taskid: int
    stage: str
    grouping: str
    group: tuple[int, str]
    host: str
    master: str
    #: Fixed by the client, so every run of the task (a rerun too) writes the same index.
    index_micros: int
    inputs: tuple[TaskInput, ...]
    oob: tuple[tuple[str, bytes], ...] = ()
    limits: Limits = attrs.field(factory=Limits)


@attrs.frozen
class TaskResult:
    """One task run's end as the client sees it, and its local outputs' bytes.

    ``kind`` is ``done``, ``error``, ``fatal`` or ``killed``; ``events`` are ``(time,
    message)``, numbered from 0 in the run ``run`` (also sent live: :data:`EVENTS_TOPIC`);
    ``index_url`` and ``entries`` its ``dir://`` index when it wrote local outputs;
    ``files`` the index and the outputs, by data path; ``pieces`` each output file's label.
    """

    kind: Literal["done", "error", "fatal", "killed"]
    reason: str
    worker: str
    events: tuple[tuple[float, str], ...]
    run: str = ""
    index_url: str | None = None
    entries: tuple[IndexEntry, ...] = ()
    remote: tuple[tuple[int, str, int], ...] = ()
    logs: Mapping[FileKey, bytes] = attrs.field(factory=dict)
    oob: tuple[tuple[str, bytes], ...] = ()
    files: Mapping[FileKey, bytes] = attrs.field(factory=dict)
    pieces: tuple[tuple[int, FileKey], ...] = ()


# --- on the Dask worker -------------------------------------------------------------------

_LOCK = threading.Lock()
#: The tasks running in this Dask worker process, by job, and the jobs killed.
_RUNNING: dict[str, dict[int, WorkerProcess]] = {}
_KILLED: set[str] = set()
#: Each job's fork server in this Dask worker process (its tasks start as forks of it).
_SERVERS: dict[str, ForkServer] = {}


def kill_job(jobname: str) -> None:
    """Stop ``jobname``'s task processes in this Dask worker, and any it would start later
    (run on every worker by ``Client.run``)."""
    with _LOCK:
        _KILLED.add(jobname)
        procs = list(_RUNNING.pop(jobname, {}).values())
    for proc in procs:
        proc.stop()


def forget_job(jobname: str, host: str) -> None:
    """End ``jobname``'s fork server and remove its files from this Dask worker (its job is
    over and its results gathered)."""
    with _LOCK:
        _KILLED.discard(jobname)
        server = _SERVERS.pop(jobname, None)
    if server is not None:
        server.close()
    shutil.rmtree(_root() / job_path(host, jobname), ignore_errors=True)


def _spawner(
    task: NodeTask, home: Path, env: Mapping[str, str]
) -> Callable[[int, int], ForkedTask | None] | None:
    """How this task's process starts: a fork of its job's server here when it can be."""
    program = home / task.worker
    if not forkable(program):
        return None
    with _LOCK:
        server = _SERVERS.get(task.jobname)
        if server is None:
            server = _SERVERS[task.jobname] = ForkServer(program, env)
    return server.spawn


def _root() -> Path:
    from distributed import get_worker

    try:
        base = Path(get_worker().local_directory)
    except ValueError:  # not on a Dask worker (a test calls it in process)
        import tempfile

        base = Path(tempfile.gettempdir())
    return base / "discoworker"


def _safe(rel: str) -> str:
    path = PurePosixPath(rel)
    if path.is_absolute() or ".." in path.parts or not rel:
        raise DiscoError(f"the Dask master was sent an unsafe data path {rel!r}")
    return rel


def _job_home(store: Store, task: NodeTask, jobpack: bytes) -> Path:
    from discoworker.domain.jobpack import JobPack

    home = store.job_home(task.jobname)
    with _LOCK:
        if not (home / ".jobhome").exists():
            shutil.rmtree(home, ignore_errors=True)
            store.create_job_home(task.jobname, jobpack, JobPack.loads(jobpack).jobhome,
                                  task.worker)
    return home


def _answer(
    inputs: tuple[TaskInput, ...], mode: str, ids: tuple[int, ...]
) -> tuple[Literal["more", "done"], tuple[TaskInput, ...]]:
    chosen = set(ids)
    return "done", tuple(
        i for i in inputs
        if mode == "all" or (mode == "exclude" and i.id not in chosen)
        or (mode == "include" and i.id in chosen)
    )


def run_task(task: NodeTask, jobpack: bytes, *data: Mapping[FileKey, bytes]) -> TaskResult:
    """Run one task on this Dask worker (see the module docstring); never raises for the
    task's own failures, which the client decides about."""
    from distributed import get_worker

    try:
        dask_worker: Any = get_worker()
        where = dask_worker.address
    except ValueError:
        dask_worker, where = None, "local"
    run = uuid.uuid4().hex
    events: list[tuple[float, str]] = []
    root = _root()
    store = Store(root, task.host)
    run_ddfs = root / ".ddfs-runs" / uuid.uuid4().hex
    try:
        home = _job_home(store, task, jobpack)
        for given_files in data:
            for (area, rel), payload in given_files.items():
                base = store.disco_data if area == "disco" else run_ddfs
                atomic_write(base / _safe(rel), payload)
        ddfs = LocalDdfs(run_ddfs, task.host)
        for key, value in task.oob:
            ddfs.push(oob_tag(task.jobname), key, io.BytesIO(value))
        spec = TaskSpec(
            taskid=task.taskid, master=task.master, disco_port=0, put_port=0,
            ddfs_data=str(run_ddfs), disco_data=str(store.disco_data), stage=task.stage,
            grouping=task.grouping, group=task.group, jobfile=str(home / "jobfile"),
            jobname=task.jobname, host=task.host,
        )
        inputs = task.inputs

        def replicas(input_id: int) -> tuple[Replica, ...] | None:
            for item in inputs:
                if item.id == input_id:
                    return item.replicas
            return None

        def event(message: str) -> None:
            now = time.time()
            events.append((now, message))
            if dask_worker is not None:
                # As it happens, for a client watching the job; the result carries it too.
                with contextlib.suppress(Exception):
                    dask_worker.log_event(EVENTS_TOPIC, {
                        "job": task.jobname, "task": task.taskid, "run": run,
                        "seq": len(events) - 1, "time": now, "worker": where,
                        "message": message})

        link = TaskLink(spec, lambda mode, ids: _answer(inputs, mode, ids), replicas, event)
        env = worker_env(task.jobenvs)
        proc = WorkerProcess(link, [str(home / task.worker)], home, env, task.limits,
                             _spawner(task, home, env))
        with _LOCK:
            if task.jobname in _KILLED:
                return TaskResult("killed", "the job was stopped", where, tuple(events), run)
            _RUNNING.setdefault(task.jobname, {})[id(proc)] = proc
        try:
            outcome = proc.run()
        finally:
            with _LOCK:
                _RUNNING.get(task.jobname, {}).pop(id(proc), None)
        where_data = Locality(task.host, str(store.disco_data), str(run_ddfs))
        logs = _logs(events, where_data, store)
        if outcome.kind != "done":
            return TaskResult(outcome.kind, outcome.reason, where, tuple(events), run,
                              logs=logs)
        entries = tuple(
            IndexEntry(o.label, local_output_url(task.host, task.jobname, o.location), o.size)
            for o in outcome.local
        )
        files: dict[FileKey, bytes] = {}
        pieces: list[tuple[int, FileKey]] = []
        url: str | None = None
        if entries:
            name = index_file_name(task.stage, task.taskid, task.index_micros)
            index_rel = f"{job_path(task.host, task.jobname)}/{name}"
            index_bytes = format_index(entries)
            atomic_write(store.disco_data / index_rel, index_bytes)
            files["disco", index_rel] = index_bytes
            url = index_url(task.host, task.jobname, task.stage, task.taskid, task.index_micros)
            for o in outcome.local:
                rel = f"{job_path(task.host, task.jobname)}/{o.location}"
                files["disco", rel] = (home / o.location).read_bytes()
                pieces.append((o.label, ("disco", rel)))
        return TaskResult(
            "done", "", where, tuple(events), run, index_url=url, entries=entries,
            remote=tuple((o.label, o.url, o.size) for o in outcome.remote), logs=logs,
            oob=_new_oob(ddfs, task), files=files, pieces=tuple(pieces),
        )
    except (OSError, DiscoError) as e:
        # The node could not run it (a full disk, a refused job home): the client retries.
        return TaskResult("error", f"the Dask worker {where} could not run the task: {e}",
                          where, tuple(events), run)
    finally:
        shutil.rmtree(run_ddfs, ignore_errors=True)


def _logs(
    events: list[tuple[float, str]], where: Locality, store: Store
) -> dict[FileKey, bytes]:
    """The log files the task's messages name, to be served by the client as they are here."""
    logs: dict[FileKey, bytes] = {}
    for _, message in events:
        for url in log_urls(message):
            path = where.local_path(url)
            if path is None:
                continue
            with contextlib.suppress(OSError, ValueError):
                rel = str(Path(path).relative_to(store.disco_data))
                logs["disco", rel] = Path(path).read_bytes()
    return logs


def _new_oob(ddfs: LocalDdfs, task: NodeTask) -> tuple[tuple[str, bytes], ...]:
    """The out-of-band results this run put (those it was given are not new)."""
    given = {key for key, _ in task.oob}
    try:
        urls: list[list[str]] = ddfs.get(oob_tag(task.jobname))["urls"]
    except CommError:
        return ()
    where = Locality(task.host, "", str(ddfs.root))
    found: list[tuple[str, bytes]] = []
    for replicas in urls:
        key = blob_key(replicas[0])
        path = where.local_path(replicas[0])
        if key in given or path is None:
            continue
        found.append((key, Path(path).read_bytes()))
    return tuple(found)


def given(value: object) -> object:
    """``value`` itself: data the client gives as a Dask task (not scattered), so Dask can
    make it again on another worker when the one holding it is lost."""
    return value


# --- what the client asks for of a finished run ------------------------------------------

def meta_of(result: TaskResult) -> TaskResult:
    """The run without its outputs' bytes: what the client gathers of every task."""
    return attrs.evolve(result, files={}, pieces=())


def select(result: TaskResult, label: int | None) -> dict[FileKey, bytes]:
    """The run's index and its output files of ``label`` (None: all of them): what one input
    of a later task needs. Raises when a rerun of the task did not finish (nothing to give)."""
    if result.kind != "done":
        raise DiscoError(f"a task rerun on another Dask worker ended {result.kind}: "
                         f"{result.reason}")
    outputs = {key for _, key in result.pieces}
    wanted = {key for lab, key in result.pieces if label is None or lab == label}
    return {key: value for key, value in result.files.items()
            if key in wanted or key not in outputs}
