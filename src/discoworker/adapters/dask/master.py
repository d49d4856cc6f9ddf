"""The Dask master: the Master port with every task run on a ``dask.distributed`` cluster.

The job's state, events, results and DDFS stay with the client, as the embedded master keeps
them (this class is one, with another coordinator); each task run is one Dask task
(``node.run_task``) that runs the job's worker program on a Dask worker and plays the master's
side of the protocol there. A task's local outputs are its Dask task's result, kept in the
Dask worker's memory; a later task's Dask task depends on exactly the outputs (labels) it
reads, so Dask moves those bytes worker to worker, and when a worker is lost Dask runs again
the tasks whose outputs it held (their inputs first). The last stage's outputs are gathered
to the client at the end, where ``result_iterator`` reads them as local files.
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeAlias

import attrs

from discoworker.adapters.dask.node import (
    EVENTS_TOPIC,
    FileKey,
    NodeTask,
    TaskResult,
    forget_job,
    given,
    kill_job,
    meta_of,
    run_task,
    select,
)
from discoworker.adapters.embedded._log import get_logger
from discoworker.adapters.embedded.fork_server import ForkServer
from discoworker.adapters.embedded.master import EmbeddedMaster, _described, _Job
from discoworker.adapters.embedded.scheduler import Scheduler, TaskState
from discoworker.adapters.embedded.store import ACTIVE, atomic_write
from discoworker.adapters.embedded.worker_process import Outcome
from discoworker.app.oob import blob_key, oob_tag
from discoworker.domain.grouping import DataOutput, DirOutput, StageOutput
from discoworker.domain.index import dir_url_to_path, parse_index
from discoworker.domain.inputs import url_scheme
from discoworker.domain.jobdict import PipelineStage, validate_jobenvs
from discoworker.domain.jobpack import JobPack
from discoworker.errors import CommError

#: ``distributed``'s client and futures (typed as Any: the package is optional and only
#: partly typed).
Client: TypeAlias = Any
Future: TypeAlias = Any

log = get_logger(__name__)

#: How long the coordinator waits for a task before it looks at kills again (seconds).
POLL = 0.1
#: How long a client tries to reach the Dask scheduler (seconds).
CONNECT_TIMEOUT = 30.0


def scheduler_address(url: str) -> str:
    """The Dask scheduler's address of a ``dask://host:port`` master URL (``tcp://host:port``)."""
    rest = url.removeprefix("dask://")
    if not rest or "/" in rest.rstrip("/"):
        raise CommError(f"not a Dask master URL (dask://host:port): {url!r}")
    return f"tcp://{rest.rstrip('/')}"


@attrs.define
class _Run:
    """One Dask task of a task: its full result (outputs' bytes stay on the worker), its meta."""

    task: TaskState
    full: Future
    meta: Future


@attrs.define
class DaskMaster(EmbeddedMaster):
    """A master whose tasks run on a Dask cluster (``client``: a ``distributed.Client``).

    Stages run one after another (a ``concurrent`` stage waits for the one before it, as a
    plain one does); a task that fails is retried up to ``max_attempts`` times, on any
    worker; a worker lost mid-job has its tasks (and the outputs it held) run again by Dask.
    """

    _client: Any = attrs.field(default=None, kw_only=True, alias="client")
    #: Per job, per task run: the numbers of its events written so far (live or at its end).
    _said: dict[str, dict[str, set[int]]] = attrs.field(factory=dict, init=False)
    _said_lock: threading.Lock = attrs.field(factory=threading.Lock, init=False)

    def __attrs_post_init__(self) -> None:
        if self._client is None:
            raise ValueError("a DaskMaster needs a distributed.Client")
        super().__attrs_post_init__()
        _listen(self)

    @classmethod
    def connect(cls, url: str, data_dir: Path, **options: Any) -> DaskMaster:
        """The Dask master of the scheduler at ``dask://host:port``, with its client state
        in ``data_dir`` (one client per scheduler and process)."""
        client = _client_for(scheduler_address(url))
        return cls(data_dir, client=client, master_url=url, **options)

    @classmethod
    def of_client(cls, client: Client, data_dir: Path, **options: Any) -> DaskMaster:
        """The Dask master of an existing ``distributed.Client``."""
        url = "dask://" + str(client.scheduler.address).removeprefix("tcp://")
        return cls(data_dir, client=client, master_url=url, **options)

    def warm(self, jobenvs: dict[str, str] | None = None) -> None:
        """Nothing to get ready here: tasks start on the Dask workers, never from this
        machine's fork servers."""

    @property
    def client(self) -> Client:
        """The Dask client the tasks are submitted with."""
        client: Client = self._client
        return client

    def _scheduler(
        self, pipeline: tuple[PipelineStage, ...], inputs: list[StageOutput], slots: int
    ) -> Scheduler:
        # A task here gets all its inputs when it starts: no stage may begin before the one
        # feeding it has finished. Dask, not the slots, decides how many run at once.
        serial = tuple(attrs.evolve(s, concurrent=False) for s in pipeline)
        return Scheduler(serial, inputs, max_attempts=self._max_attempts, workers=1 << 30)

    # --- the coordinator ------------------------------------------------------------------

    def _coordinate(
        self,
        job: _Job,
        command: list[str],
        home: Path,
        env: dict[str, str],
        server: ForkServer | None = None,
    ) -> None:
        if server is not None:
            server.close()  # never started: the tasks run on the Dask workers
        runs: dict[int, _Run] = {}
        #: Each output's Dask task by its dir:// URL, with its task's stage.
        outputs: dict[str, tuple[int, Future]] = {}
        #: Set when a task's Dask task ends.
        wake = threading.Event()
        try:
            pack = self._store.jobfile(job.name).read_bytes()
            jobenvs = validate_jobenvs(JobPack.loads(pack).jobenvs)
            pack_future = self.client.submit(given, pack, pure=False,
                                             key=f"discoworker {job.name} jobpack")
            shipped = self._ship_inputs(job.name, job.inputs)
            while True:
                with job.cond:
                    self._notes(job)
                    if job.status != ACTIVE:
                        break
                    request = self._store.kill_request(job.name)
                    if request is not None:
                        self._die(job, request)
                        break
                    if job.scheduler.finished:
                        self._gather(job, outputs)
                        self._finish(job)
                        break
                    while (task := job.scheduler.next_task(len(runs))) is not None:
                        run = runs[task.taskid] = self._submit_task(
                            job, task=task, jobenvs=jobenvs, pack=pack_future, outputs=outputs,
                            shipped=shipped)
                        run.meta.add_done_callback(lambda _: wake.set())
                        job.unsaved = True
                    if job.unsaved:
                        self._save(job)
                    if not runs:
                        job.cond.wait(POLL)
                        continue
                ended = self._wait([r.meta for r in runs.values()], wake)
                for taskid, run in list(runs.items()):
                    if run.meta not in ended:
                        continue
                    del runs[taskid]
                    self._ended(job, run, outputs)
        except Exception as e:  # the job must end, whatever went wrong here
            log.exception("job.coordinator_failed", job=job.name)
            self._die(job, f"the Dask master failed: {_described(e, self._data_dir)}")
        finally:
            self._release(job, runs, outputs)

    def _wait(self, futures: list[Future], wake: threading.Event) -> set[Future]:
        # Not distributed.wait: it asks for the process's default client, and a client this
        # master made itself (``dask://`` URL) is deliberately not the default one. Each
        # task's future sets ``wake`` when it ends (a callback given as it is submitted).
        wake.wait(POLL)
        wake.clear()
        return {f for f in futures if f.done()}

    def _release(
        self, job: _Job, runs: dict[int, _Run], outputs: dict[str, tuple[int, Future]]
    ) -> None:
        # Stop what still runs, and free the workers' memory and disk of this job.
        client = self.client
        with contextlib.suppress(Exception):
            if runs:
                client.cancel(list({f.key: f for r in runs.values()
                                    for f in (r.meta, r.full)}.values()))
                client.run(kill_job, job.name)
            client.run(forget_job, job.name, self._host)
        runs.clear()
        outputs.clear()  # the last references: Dask forgets the job's data
        with self._said_lock:
            self._said.pop(job.name, None)

    def _ship_inputs(self, jobname: str, inputs: Iterable[StageOutput]) -> dict[str, Future]:
        """The job inputs that are this client's own files (the results of an earlier job,
        a blob of its DDFS, a tag), as Dask data a task writes where their URLs point."""
        shipped: dict[str, Future] = {}
        for item in inputs:
            urls = [item.url] if isinstance(item, DirOutput) else list(item.urls)
            for url in urls:
                files = self._own_files(url)
                if files:
                    shipped[url] = self.client.submit(
                        given, files, pure=False, key=f"discoworker {jobname} input {url}")
        return shipped

    def _own_files(self, url: str) -> dict[FileKey, bytes]:
        files: dict[FileKey, bytes] = {}
        scheme = url_scheme(url)
        if scheme == "tag":
            name = url[len("tag://"):].split("/", 1)[0]
            tag_file = self._store.ddfs_data / "tags" / name
            if tag_file.is_file():
                files["ddfs", f"tags/{name}"] = tag_file.read_bytes()
            with contextlib.suppress(CommError):
                for replicas in self._ddfs.blobs(name):
                    for rep in replicas:
                        files.update(self._own_files(rep))
            return files
        if scheme == "dir":
            index = dir_url_to_path(url, str(self._store.disco_data), self._host)
            if index is None:
                return files
            data = Path(index).read_bytes()
            files.update(self._file_key(index, data))
            for entry in parse_index(data, url):
                files.update(self._own_files(entry.url))
            return files
        if scheme != "disco":
            return files
        path = self.locality.local_path(url)
        if path is not None and Path(path).is_file():
            files.update(self._file_key(path, Path(path).read_bytes()))
        return files

    def _file_key(self, path: str, data: bytes) -> dict[FileKey, bytes]:
        for area, base in (("ddfs", self._store.ddfs_data), ("disco", self._store.disco_data)):
            with contextlib.suppress(ValueError):
                return {(area, str(Path(path).relative_to(base))): data}
        return {}

    def _submit_task(
        self,
        job: _Job,
        *,
        task: TaskState,
        jobenvs: dict[str, str],
        pack: Future,
        outputs: dict[str, tuple[int, Future]],
        shipped: dict[str, Future],
    ) -> _Run:
        client = self.client
        stage = job.scheduler.stage_spec(task.taskid)
        answer = job.scheduler.inputs(task.taskid)
        assert answer is not None  # its stage is fed: every input is known
        name = f"{stage.name}:{task.taskid}"
        key = f"discoworker {job.name} {name} attempt {task.attempts}"
        data: list[Future] = []
        for i, gi in enumerate(task.inputs):
            label = gi.label if isinstance(gi.label, int) else None
            for url in gi.urls:
                if url in outputs:
                    data.append(client.submit(select, outputs[url][1], label, pure=False,
                                              key=f"{key} input {i} {url}"))
                elif url in shipped:
                    data.append(shipped[url])
        oob = self._oob_so_far(job.name)
        node_task = NodeTask(
            jobname=job.name, worker=job.jobdict.worker, jobenvs=jobenvs, taskid=task.taskid,
            stage=stage.name, grouping=stage.grouping, group=task.group, host=self._host,
            master=self._master_url, index_micros=time.time_ns() // 1000,
            inputs=answer[1], oob=oob, limits=self._limits,
        )
        full = client.submit(run_task, node_task, pack, *data, pure=False, key=key)
        for url in [u for u, (s, _) in outputs.items() if s < task.stage - 1]:
            # Its readers' stage is over: no task will ask for it again. Dask still knows
            # how to make it again, should a later output that needs it be lost.
            del outputs[url]
        meta = client.submit(meta_of, full, pure=False, key=f"{key} meta")
        return _Run(task, full, meta)

    def _oob_so_far(self, jobname: str) -> tuple[tuple[str, bytes], ...]:
        # A later task may read what earlier ones put (oob.get): small values, given to it.
        try:
            blobs = self._ddfs.blobs(oob_tag(jobname))
        except CommError:
            return ()
        found = []
        for replicas in blobs:
            path = self.locality.local_path(replicas[0])
            if path is not None:
                found.append((blob_key(replicas[0]), Path(path).read_bytes()))
        return tuple(found)

    def _ended(self, job: _Job, run: _Run, outputs: dict[str, tuple[int, Future]]) -> None:
        task = run.task
        stage = job.scheduler.stage_spec(task.taskid).name
        name = f"{stage}:{task.taskid}"
        try:
            result: TaskResult = run.meta.result()
        except Exception as e:  # the Dask task itself failed: its worker died too often
            result = TaskResult("error", f"the Dask task failed: {type(e).__name__}: {e}",
                                "", ())
        with job.cond:
            try:
                if job.status != ACTIVE or result.kind == "killed":
                    return
                host = _host_of(result.worker) or self._host
                self._say(job, task.taskid, result.run, result.worker,
                          [(i, when, message) for i, (when, message) in enumerate(result.events)])
                for (_area, rel), data in result.logs.items():
                    atomic_write(self._store.disco_data / rel, data)
                for key, value in result.oob:
                    self._ddfs.push(oob_tag(job.name), key, io.BytesIO(value))
                if result.kind == "done":
                    done: list[StageOutput] = []
                    if result.index_url is not None:
                        # Its node is the machine of the Dask worker that made it (for the
                        # group_node groupings), whatever worker holds it later.
                        done.append(DirOutput.from_entries(host, result.index_url,
                                                           result.entries))
                        outputs[result.index_url] = (task.stage, run.full)
                    done.extend(DataOutput(label, size, (url,))
                                for label, url, size in result.remote)
                    job.scheduler.task_done(task.taskid, done)
                    self._event(job, "master",
                                f"SYS: [{name}] Received results from {host}")
                    self._notes(job)
                else:
                    self._task_failed(job, task, name, Outcome(result.kind, result.reason))
                job.unsaved = True  # saved once per batch of ends, by the coordinator's loop
            finally:
                job.cond.notify_all()

    def live_event(self, said: dict[str, Any]) -> None:
        """A task's event as it happened (sent by ``node.run_task`` on its Dask worker)."""
        job = self._jobs.get(str(said.get("job")))
        if job is None or job.status != ACTIVE:
            return
        try:
            self._say(job, int(said["task"]), str(said["run"]), str(said["worker"]),
                      [(int(said["seq"]), float(said["time"]), str(said["message"]))])
        except (KeyError, ValueError, TypeError, OSError):
            log.exception("job.live_event_dropped", job=job.name)

    def _say(
        self, job: _Job, taskid: int, run: str, worker: str,
        events: list[tuple[int, float, str]],
    ) -> None:
        """Write a task run's events not written yet, after the line that says where it ran."""
        host = _host_of(worker) or self._host
        with self._said_lock:
            runs = self._said.setdefault(job.name, {})
            said = runs.get(run)
            if said is None:
                said = runs[run] = set()
                name = f"{job.scheduler.stage_spec(taskid).name}:{taskid}"
                began = events[0][1] if events else None
                self._store.add_event(job.name, "master", f"{name} assigned to {host}",
                                      now=began)
            for seq, when, message in events:
                if seq not in said:
                    said.add(seq)
                    self._store.add_event(job.name, host, message, now=when)

    def _gather(self, job: _Job, outputs: dict[str, tuple[int, Future]]) -> None:
        """Bring the job's results (the last stage's outputs) to the client's data dir."""
        wanted = [outputs[u][1] for reps in job.scheduler.results() for u in reps
                  if u in outputs]
        for result in self.client.gather(wanted):
            for (area, rel), data in result.files.items():
                base = self._store.disco_data if area == "disco" else self._store.ddfs_data
                atomic_write(base / rel, data)


def _host_of(address: str) -> str:
    """``127.0.0.1`` of ``tcp://127.0.0.1:40123``."""
    rest = address.split("://", 1)[-1]
    return rest.rsplit(":", 1)[0] if ":" in rest else rest


_CLIENTS: dict[str, Client] = {}
_CLIENTS_LOCK = threading.Lock()
#: The Dask masters of each client (by id): a client has one handler per event topic.
_LISTENERS: dict[int, weakref.WeakValueDictionary[int, DaskMaster]] = {}


def _listen(master: DaskMaster) -> None:
    """Have ``master`` told its tasks' events as they happen."""
    client = master.client
    with _CLIENTS_LOCK:
        listeners = _LISTENERS.get(id(client))
        if listeners is None:
            listeners = _LISTENERS[id(client)] = weakref.WeakValueDictionary()
            masters = listeners

            def handler(event: tuple[float, Any]) -> None:
                _stamp, said = event
                if isinstance(said, dict):
                    for each in list(masters.values()):
                        each.live_event(said)

            client.subscribe_topic(EVENTS_TOPIC, handler)
        listeners[id(master)] = master


def _client_for(address: str) -> Client:
    import distributed

    connect: Any = distributed.Client
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(address)
        if client is None or client.status in ("closed", "closing"):
            try:
                client = connect(address, set_as_default=False, timeout=CONNECT_TIMEOUT)
            except OSError as e:
                raise CommError(f"cannot reach the Dask scheduler at {address}: {e}") from None
            _CLIENTS[address] = client
        return client
