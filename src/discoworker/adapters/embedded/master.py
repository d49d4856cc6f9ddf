"""The embedded master: the Master port run on this machine, tasks as local worker processes.

Each submitted job gets a coordinator thread that walks its pipeline (``scheduler``) and a
thread per running task that starts the worker and speaks the protocol (``worker_process``).
Job homes, index files, events and job state live under one data directory (``store``), so
another process can list jobs, read events and results.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import attrs

from discoworker.adapters.embedded._log import get_logger
from discoworker.adapters.embedded.ddfs_local import LocalDdfs
from discoworker.adapters.embedded.fork_server import (
    SWITCH_ENV,
    ForkServer,
    SharedServers,
    forkable,
)
from discoworker.adapters.embedded.scheduler import (
    Scheduler,
    StageFinished,
    StageStarted,
    TaskState,
)
from discoworker.adapters.embedded.store import (
    ACTIVE,
    DEAD,
    READY,
    Store,
    abspath,
    event_time,
    process_start,
)
from discoworker.adapters.embedded.worker_process import (
    Limits,
    Outcome,
    TaskLink,
    WorkerProcess,
    elapsed,
    lifeline,
    worker_env,
)
from discoworker.app.ports import Event, JobResults, JobStatus
from discoworker.domain.grouping import DataOutput, DirOutput, StageOutput
from discoworker.domain.index import IndexEntry, dir_url_to_path, parse_index
from discoworker.domain.inputs import Locality, Replica, TaskInput
from discoworker.domain.jobdict import (
    ClassicJobDict,
    JobDict,
    JobInput,
    PipelineStage,
    job_name,
    jobdict_from_json,
    pipeline_of_classic,
    validate_jobenvs,
)
from discoworker.domain.jobpack import JobPack
from discoworker.domain.task import TaskSpec, local_output_url
from discoworker.errors import CommError, DataError, IndexFileError, JobDictError

log = get_logger(__name__)

#: How often a job's coordinator looks for a kill asked by another process (seconds).
KILL_POLL = 0.1
#: How long a job's fork server waits, after the job, for its last tasks' exit codes.
SERVER_GRACE = 5.0
#: How long ``kill`` from another process waits for the job's own master to stop it.
KILL_WAIT = 10.0
#: How long ``warm`` waits for its thread to launch the shared server before going on.
WARM_WAIT = 0.05


@attrs.define
class _Job:
    """One job's live state in this process; guarded by ``cond``."""

    name: str
    jobdict: JobDict
    pipeline: tuple[PipelineStage, ...]
    inputs: list[StageOutput]
    scheduler: Scheduler
    started: float
    cond: threading.Condition = attrs.field(factory=threading.Condition)
    status: Literal["active", "ready", "dead"] = "active"
    error: str = ""
    results: list[list[str]] = attrs.field(factory=list)
    procs: dict[int, WorkerProcess] = attrs.field(factory=dict)
    #: Workers that said DONE (their slots freed) and are being killed and reaped.
    ending: int = 0
    stage_started: dict[str, float] = attrs.field(factory=dict)
    #: Why it died is in the events file (a full disk may refuse it).
    death_said: bool = False
    #: Tasks started or ended since the state was last saved (saved by the coordinator once
    #: a burst of them is over).
    unsaved: bool = False


@attrs.define
class EmbeddedMaster:
    """A Disco master on this machine: jobs run as parallel worker processes, no cluster.

    ``workers`` task processes run at once per job (default: the CPU count); a task that
    fails (``ERROR``, a crash, no ``WORKER`` in time, a stall) is retried up to
    ``max_attempts`` times; ``FATAL`` or a protocol violation ends the job.
    """

    _data_dir: Path = attrs.field(converter=abspath, alias="data_dir")
    _workers: int = attrs.field(factory=lambda: os.cpu_count() or 1, alias="workers")
    _max_attempts: int = attrs.field(default=3, alias="max_attempts")
    _host: str = attrs.field(default="localhost", alias="host")
    _limits: Limits = attrs.field(factory=Limits, alias="limits")
    _master_url: str = attrs.field(default="embedded", alias="master_url")
    _disco_port: int = attrs.field(default=8989, alias="disco_port")
    _put_port: int = attrs.field(default=8990, alias="put_port")
    #: Where job homes' ``lib/`` copies are shared by every data dir (None: the user's cache,
    #: ``DISCOWORKER_LIBS``); one this process cannot write leaves them in the data dir.
    _libs_dir: Path | None = attrs.field(default=None, alias="libs_dir")
    _store: Store = attrs.field(init=False)
    _ddfs: LocalDdfs = attrs.field(init=False)
    _jobs: dict[str, _Job] = attrs.field(factory=dict, init=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False)
    _shared: SharedServers = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        if self._workers < 1 or self._max_attempts < 1:
            raise ValueError("workers and max_attempts must be at least 1")
        if self._libs_dir is None:
            from discoworker.app.bootstrap import default_libs_dir

            self._libs_dir = default_libs_dir()
        self._store = Store(self._data_dir, self._host, libs=self._libs_dir)
        self._ddfs = LocalDdfs(self._store.ddfs_data, self._host)
        self._shared = SharedServers(self._store.state_dir / "servers")
        # A master dropped without shutdown() does not keep its shared servers to the end.
        weakref.finalize(self, self._shared.close)
        _MASTERS[id(self)] = self

    def warm(self, jobenvs: dict[str, str] | None = None) -> None:
        """Get ready, in the background, for a job about to be submitted with ``jobenvs``:
        start the shared fork server of the ``lib/`` the last job here used (``Job.run``
        calls this before it packs the job, so the two overlap)."""
        if os.environ.get(SWITCH_ENV, "1") == "0":
            return
        lib = self._store.recent_lib()
        if lib is None:
            return
        env = worker_env(validate_jobenvs(jobenvs or {}), settings=self._node_settings())
        starting = threading.Thread(
            target=self._shared.warm, args=(lib, env, lifeline()), name="warm fork server",
            daemon=True,
        )
        starting.start()
        # Launching the server takes the thread well under a millisecond, but the packing that
        # follows holds the GIL and would let it run only at the next switch (5 ms and more).
        # A server that is slow to launch (an old one being ended first) goes on behind.
        starting.join(WARM_WAIT)

    @property
    def store(self) -> Store:
        """The data directory's files."""
        return self._store

    @property
    def ddfs(self) -> LocalDdfs:
        """The local DDFS under the data directory."""
        return self._ddfs

    @property
    def locality(self) -> Locality:
        """This machine holds every result: a client reads them as local files."""
        return Locality(
            self._host, str(self._store.disco_data), str(self._store.ddfs_data), self._disco_port
        )

    def _node_settings(self) -> dict[str, str]:
        # Served over HTTP, this master is a node with a settings file: the original worker
        # reads the port from it (not from the TASK reply) when it resolves dir:// inputs.
        if not self._master_url.startswith(("http://", "https://")):
            return {}
        return {
            "DISCO_MASTER": self._master_url,
            "DISCO_PORT": str(self._disco_port),
            "DDFS_PUT_PORT": str(self._put_port),
            "DISCO_DATA": str(self._store.disco_data),
            "DDFS_DATA": str(self._store.ddfs_data),
            # As start.sh of a real node: the original library's SyntaxWarnings, printed on
            # stderr before WORKER, would fail every task; a user's own setting wins.
            "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", "ignore"),
        }

    # --- submit ---------------------------------------------------------------------------

    def submit(self, jobpack: bytes) -> str:
        """Validate and start a job; its name. JobPackError / JobDictError with the reason."""
        pack = JobPack.loads(jobpack)
        jobdict = jobdict_from_json(pack.version, pack.jobdict)
        jobenvs = validate_jobenvs(pack.jobenvs)
        if isinstance(jobdict, ClassicJobDict):
            pipeline, raw_inputs = pipeline_of_classic(jobdict)
        else:
            pipeline, raw_inputs = jobdict.pipeline, jobdict.inputs
        inputs = [self._stage_input(i) for i in raw_inputs]
        max_cores = jobdict.max_cores
        slots = self._workers
        if isinstance(max_cores, int) and not isinstance(max_cores, bool) and max_cores > 0:
            slots = min(slots, max_cores)
        with self._lock:
            name = self._new_name(jobdict.prefix)
            try:
                home = self._store.create_job_home(name, jobpack, pack.jobhome, jobdict.worker)
            except OSError as e:
                raise CommError(f"the embedded master could not create job {name}: {e}") from None
            sched = self._scheduler(pipeline, inputs, slots)
            job = _Job(name, jobdict, pipeline, inputs, sched, time.time())
            self._jobs[name] = job
        try:
            self._event(job, "master", "New job initialized!")
            self._event(job, "master", f'Created job "{name}"')
            self._save(job)
        except OSError as e:
            # Nothing half-made stays behind: the job was never submitted.
            with self._lock:
                self._jobs.pop(name, None)
            self._store.purge(name)
            raise CommError(f"the embedded master could not record job {name}: {e}") from None
        command = [str(home / jobdict.worker)]
        env = worker_env(jobenvs, settings=self._node_settings())
        program = home / jobdict.worker
        server = ForkServer(program, env, self._shared) if forkable(program) else None
        thread = threading.Thread(
            target=self._coordinate, args=(job, command, home, env, server), name=f"job {name}",
            daemon=True,
        )
        try:
            thread.start()
        except RuntimeError as e:  # no thread to run it: the job ends now, saying why
            self._die(job, f"the embedded master could not start the job: {e}")
        log.debug("job.submitted", job=name, stages=[s.name for s in pipeline])
        return name

    def _scheduler(
        self, pipeline: tuple[PipelineStage, ...], inputs: list[StageOutput], slots: int
    ) -> Scheduler:
        """A new job's scheduler (the Dask master's differs: its stages never overlap)."""
        return Scheduler(pipeline, inputs, max_attempts=self._max_attempts, workers=slots)

    def _new_name(self, prefix: str) -> str:
        now = time.time()
        name = job_name(prefix, now)
        # Two submits in one microsecond would share a name: move on a microsecond.
        while name in self._jobs or self._store.job_home(name).exists():
            now += 1e-6
            name = job_name(prefix, now)
        return name

    def _stage_input(self, item: JobInput) -> StageOutput:
        if item.is_dir:
            url = item.urls[0]
            path = dir_url_to_path(url, str(self._store.disco_data), self._host)
            if path is None:
                raise JobDictError(f"dir:// input not on this host: {url}")
            try:
                entries = parse_index(Path(path).read_bytes(), url)
            except (OSError, DataError, IndexFileError) as e:
                raise JobDictError(f"dir:// input unreadable: {url}: {e}") from None
            return DirOutput.from_entries(self._host, url, entries)
        return DataOutput(item.label, item.size_hint, item.urls)

    # --- the coordinator ------------------------------------------------------------------

    def _coordinate(
        self,
        job: _Job,
        command: list[str],
        home: Path,
        env: dict[str, str],
        server: ForkServer | None = None,
    ) -> None:
        try:
            with job.cond:
                self._notes(job)
                while job.status == ACTIVE:
                    request = self._store.kill_request(job.name)
                    if request is not None:
                        self._die(job, request)
                        break
                    if job.scheduler.finished:
                        self._finish(job)
                        break
                    task = job.scheduler.next_task(len(job.procs))
                    if task is None:
                        if job.unsaved:
                            # jobinfo reads the saved state: without this a running task
                            # counted as waiting until some task ended. Once per burst.
                            self._save(job)
                        # Woken by a task's end, or in time to see another process's kill.
                        job.cond.wait(KILL_POLL)
                        continue
                    self._start(job, task, command, home, env, server=server)
        except Exception as e:  # the job must end, whatever went wrong here
            log.exception("job.coordinator_failed", job=job.name)
            self._die(job, f"the embedded master failed: {_described(e, self._data_dir)}")
        finally:
            if server is not None:
                self._close_server(job, server)

    def _close_server(self, job: _Job, server: ForkServer) -> None:
        # Its last tasks are told their exit codes first (they are ending: killed or done).
        with job.cond:
            deadline = time.monotonic() + SERVER_GRACE
            while (job.procs or job.ending) and (left := deadline - time.monotonic()) > 0:
                job.cond.wait(left)
        server.close()

    def _start(
        self,
        job: _Job,
        task: TaskState,
        command: list[str],
        home: Path,
        env: dict[str, str],
        *,
        server: ForkServer | None = None,
    ) -> None:
        spec_stage = job.scheduler.stage_spec(task.taskid)
        spec = TaskSpec(
            taskid=task.taskid,
            master=self._master_url,
            disco_port=self._disco_port,
            put_port=self._put_port,
            ddfs_data=str(self._store.ddfs_data),
            disco_data=str(self._store.disco_data),
            stage=spec_stage.name,
            grouping=spec_stage.grouping,
            group=task.group,
            jobfile=str(home / "jobfile"),
            jobname=job.name,
            host=self._host,
        )
        taskid = task.taskid

        def inputs(
            mode: str, ids: tuple[int, ...]
        ) -> tuple[Literal["more", "done"], tuple[TaskInput, ...]] | None:
            with job.cond:
                while job.status == ACTIVE:
                    answer = job.scheduler.inputs(taskid, mode, ids)
                    if answer is not None:
                        return answer
                    job.cond.wait()
            return None

        def replicas(input_id: int) -> tuple[Replica, ...] | None:
            with job.cond:
                return job.scheduler.replicas(taskid, input_id)

        def event(message: str) -> None:
            self._event(job, self._host, message)

        link = TaskLink(spec, inputs, replicas, event)
        spawn = server.spawn if server is not None else None
        proc = WorkerProcess(link, command, home, env, self._limits, spawn)
        job.procs[taskid] = proc
        self._event(job, "master", f"{spec.stage}:{taskid} assigned to {self._host}")
        job.unsaved = True
        threading.Thread(
            target=self._run_task, args=(job, task, proc), name=f"{job.name} {spec.stage}:{taskid}",
            daemon=True,
        ).start()  # a RuntimeError here reaches _coordinate, which ends the job

    def _run_task(self, job: _Job, task: TaskState, proc: WorkerProcess) -> None:
        # Any exception here is the master's own failure: the job ends dead, saying why, and
        # the thread never dies leaving the job active (Job.wait would block for ever).
        name = f"task {task.taskid}"

        def failed(e: Exception) -> None:
            log.exception("task.master_failed", job=job.name, task=name)
            why = _described(e, self._data_dir)
            self._die(job, f"the embedded master failed at task {name}: {why}")

        def ended(outcome: Outcome) -> None:
            with job.cond:
                job.procs.pop(task.taskid, None)
                try:
                    if job.status == ACTIVE and outcome.kind != "killed":
                        if outcome.kind == "done":
                            self._task_done(job, task, name.partition(":")[0], outcome)
                        else:
                            self._task_failed(job, task, name, outcome)
                        # Saved by the coordinator, woken below, once it has started what
                        # this task's end lets start: one write for both.
                        job.unsaved = True
                except Exception as e:
                    failed(e)  # still holding the lock: the job is dead before anyone looks
                finally:
                    job.cond.notify_all()

        # A task's DONE frees its slot at once; its worker is killed and reaped meanwhile (the
        # job's server stays until it is: job.ending counts such workers).
        told = False

        def done(outcome: Outcome) -> None:
            nonlocal told
            with job.cond:
                job.ending += 1
                told = True
                ended(outcome)

        try:
            name = f"{job.scheduler.stage_spec(task.taskid).name}:{task.taskid}"
            try:
                outcome = proc.run(on_done=done)
            finally:
                if told:
                    with job.cond:
                        job.ending -= 1
                        job.cond.notify_all()
            log.debug("task.ended", job=job.name, task=name, kind=outcome.kind,
                      code=outcome.exit_code)
            if not told:
                ended(outcome)
        except Exception as e:
            proc.stop()
            with job.cond:
                job.procs.pop(task.taskid, None)
            failed(e)

    def _task_done(self, job: _Job, task: TaskState, stage: str, outcome: Outcome) -> None:
        outputs: list[StageOutput] = []
        if outcome.local:
            entries = [
                IndexEntry(o.label, local_output_url(self._host, job.name, o.location), o.size)
                for o in outcome.local
            ]
            url = self._store.write_index(job.name, stage, task.taskid, entries)
            outputs.append(DirOutput.from_entries(self._host, url, entries))
        outputs.extend(DataOutput(o.label, o.size, (o.url,)) for o in outcome.remote)
        job.scheduler.task_done(task.taskid, outputs)
        self._event(job, "master", f"SYS: [{stage}:{task.taskid}] Received results from "
                                   f"{self._host}")
        self._notes(job)

    def _task_failed(self, job: _Job, task: TaskState, name: str, outcome: Outcome) -> None:
        fatal = outcome.kind == "fatal"
        # The reason (a traceback, mostly) is told once, as a real master does: FATAL or
        # ERROR tagged with the task; the lines after it only say what the master decided.
        self._event(job, "master", f"{'FATAL' if fatal else 'ERROR'}: [{name}] {outcome.reason}")
        decision = job.scheduler.task_failed(task.taskid, fatal=fatal)
        if decision == "retry":
            self._event(
                job, "master",
                f'Task {name} failed on "{self._host}", {task.attempts}th failures so far. '
                "Retrying.",
            )
            return
        if fatal:
            self._die(job, f"Task {name} failed (FATAL): {outcome.reason}", say=None)
        else:
            tried = (f"Task {name} failed {task.attempts} times "
                     f"(at most {self._max_attempts} attempts)")
            self._die(job, f"{tried}. Last error: {outcome.reason}", say=f"ERROR: {tried}")

    def _notes(self, job: _Job) -> None:
        for note in job.scheduler.take_notes():
            if isinstance(note, StageStarted):
                job.stage_started[note.stage] = time.monotonic()
                self._event(job, "master",
                            f"Stage {note.stage} scheduled with {note.tasks} tasks")
            elif isinstance(note, StageFinished):
                began = job.stage_started.get(note.stage, time.monotonic())
                self._event(job, "master", f"Stage {note.stage} finished in "
                                           f"{elapsed(time.monotonic() - began)}")

    def _finish(self, job: _Job) -> None:
        results = job.scheduler.results()
        if job.jobdict.save_results:
            tag = f"disco:results:{job.name}"
            self._save_results(tag, results)
            results = [[f"tag://{tag}"]]
        job.results = results
        job.status = READY
        try:
            self._save(job)
        except BaseException:
            # Not ready until the state says so: the coordinator then ends the job dead.
            job.status = ACTIVE
            raise
        job.cond.notify_all()
        with contextlib.suppress(OSError):
            self._event(job, "master", f"READY: Job done in {elapsed(time.time() - job.started)}")

    def _save_results(self, tag: str, results: list[list[str]]) -> None:
        """Copy each result file into DDFS as a blob of ``tag``, as a real master does:
        the tag then holds the data itself, not ``dir://`` indexes into the job's files."""
        where = self.locality
        blobs: list[list[str]] = []
        for replicas in results:
            url = replicas[0]
            index = dir_url_to_path(url, str(self._store.disco_data), self._host)
            if index is None:
                blobs.append(list(replicas))
                continue
            for entry in parse_index(Path(index).read_bytes(), url):
                path = where.local_path(entry.url)
                if path is None:
                    blobs.append([entry.url])
                    continue
                with open(path, "rb") as data:
                    blobs.append(self._ddfs.store(os.path.basename(path), data))
        # One tag update: the tag lists the results in the job's order.
        self._ddfs.tag(tag, blobs)

    def _die(self, job: _Job, why: str, *, say: str | None = "") -> None:
        """End the job for ``why``; the event says ``say`` (default ``ERROR: why``, None:
        nothing, the events having told the reason already)."""
        with job.cond:
            if job.status != ACTIVE:
                return
            job.status = DEAD
            job.error = why
            procs = list(job.procs.values())
            try:
                # Workers first: once the state says dead, none of them runs (kill waits on it).
                for proc in procs:
                    proc.stop()
                # A full disk must not keep the job's waiters blocked (they read job.error),
                # nor stop the state from saying dead (it has room reserved).
                reason = [] if say is None else [say or f"ERROR: {why}"]
                job.death_said = not reason
                for line in [*reason, "WARN: Job killed"]:
                    try:
                        self._event(job, "master", line)
                    except Exception:
                        log.exception("job.death_not_recorded", job=job.name)
                        continue
                    job.death_said = job.death_said or line in reason
                try:
                    self._save(job)
                except Exception:
                    log.exception("job.death_not_recorded", job=job.name)
            finally:
                job.cond.notify_all()

    # --- state ----------------------------------------------------------------------------

    def _event(self, job: _Job, host: str, message: str) -> None:
        self._store.add_event(job.name, host, message)

    def _save(self, job: _Job) -> None:
        job.unsaved = False
        inputs = [u for i in job.inputs for u in _urls(i)]
        self._store.save_state(
            job.name,
            {
                "jobname": job.name,
                "status": job.status,
                "start": job.started,
                "timestamp": event_time(job.started),
                "pid": os.getpid(),
                "pid_start": _own_start(),
                "pipeline": job.scheduler.counts(),
                "results": job.results,
                "inputs": inputs,
                "worker": job.jobdict.worker,
                "owner": job.jobdict.owner,
                "error": job.error,
                "stages": {s.name: job.scheduler.stage_results(s.name) for s in job.pipeline},
            },
        )

    def _state(self, jobname: str) -> dict[str, Any] | None:
        try:
            return self._store.load_state(jobname)
        except ValueError:
            return None

    # --- the Master port ------------------------------------------------------------------

    def results(self, jobname: str, timeout: float | None = None) -> JobResults:
        """Status and results, waiting up to ``timeout`` s (None: until the job ends)."""
        job = self._jobs.get(jobname)
        if job is not None:
            deadline = None if timeout is None else time.monotonic() + timeout
            with job.cond:
                while job.status == ACTIVE:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        break
                    job.cond.wait(left)
                status: JobStatus = job.status
                return JobResults(status, list(job.results) if status == READY else [])
        state = self._state(jobname)
        if state is None:
            return JobResults("unknown job", [])
        status = state["status"]
        return JobResults(status, state["results"] if status == READY else [])

    def error(self, jobname: str) -> str:
        """Why a dead job died (``""`` when it did not)."""
        state = self._state(jobname)
        return "" if state is None else str(state.get("error", ""))

    def jobinfo(self, jobname: str) -> dict[str, Any]:
        """The job info object of master-http.md; KeyError for an unknown job."""
        state = self._state(jobname)
        if state is None:
            raise KeyError(jobname)
        return {
            "timestamp": state["timestamp"],
            "active": state["status"],
            "pipeline": state["pipeline"],
            "results": [u for reps in state["results"] for u in reps],
            "inputs": state["inputs"],
            "worker": state["worker"],
            "hosts": [],
            "owner": state["owner"],
        }

    def stage_results(self, jobname: str, stage: str) -> list[list[str]]:
        """The outputs of ``stage`` so far as replica lists; KeyError for an unknown one."""
        state = self._state(jobname)
        if state is None or state.get("stages", {}).get(stage) is None:
            raise KeyError(f"{jobname} {stage}")
        result: list[list[str]] = state["stages"][stage]
        return result

    def events(self, jobname: str, offset: int = 0) -> Iterator[Event]:
        """The job's events from byte ``offset`` of its event log."""
        job = self._jobs.get(jobname)
        if job is None:
            self._state(jobname)  # records the death of a job whose master process is gone
        lines = self._store.read_events(jobname, offset).splitlines()
        for line in lines:
            try:
                when, host, message = json.loads(line)
            except ValueError:
                continue  # a line cut by a concurrent append: the next read has it whole
            yield Event(when, host, message)
        if (job is not None and job.status == DEAD and offset == 0
                and not (job.death_said and lines)):
            # The death could not be written (disk full) or the files were purged meanwhile.
            yield Event(event_time(), "master", f"ERROR: {job.error}")

    def raw_events(self, jobname: str, offset: int = 0) -> bytes:
        """The event log's bytes from ``offset`` (``rawevents`` with ``Range: bytes=N-``)."""
        return self._store.read_events(jobname, offset)

    def jobpack(self, jobname: str) -> bytes:
        """The job pack as submitted; KeyError for an unknown job."""
        try:
            return self._store.jobfile(jobname).read_bytes()
        except (OSError, ValueError):
            raise KeyError(jobname) from None

    def kill(self, jobname: str) -> None:
        """Stop the job's tasks; the job is dead.

        A job run by another process on this data directory is asked to stop through a file
        its master watches; this returns once that master says the job is dead (its workers
        killed), CommError if it does not within ``KILL_WAIT`` seconds.
        """
        self._kill(jobname, f"Job killed by process {os.getpid()}")

    def _kill(self, jobname: str, why: str) -> None:
        job = self._jobs.get(jobname)
        if job is not None:
            self._die(job, "Job killed")
            return
        state = self._state(jobname)
        if state is None or state.get("status") != ACTIVE:
            return
        self._store.request_kill(jobname, why)
        deadline = time.monotonic() + KILL_WAIT
        while time.monotonic() < deadline:
            state = self._state(jobname)
            if state is None or state.get("status") != ACTIVE:
                return
            time.sleep(0.05)
        raise CommError(
            f"job {jobname}: its master (pid {state.get('pid')}) did not stop it within "
            f"{KILL_WAIT:g} s"
        )

    def clean(self, jobname: str) -> None:
        """Kill the job and forget its state and events (its data stays)."""
        self._kill(jobname, f"Job killed: cleaned by process {os.getpid()}")
        with self._lock:
            self._jobs.pop(jobname, None)
        self._store.clean(jobname)

    def purge(self, jobname: str) -> None:
        """Kill the job and remove everything it stored (its results and OOB tags too)."""
        self._kill(jobname, f"Job killed: purged by process {os.getpid()}")
        with self._lock:
            self._jobs.pop(jobname, None)
        self._store.purge(jobname)
        for tag in (f"disco:results:{jobname}", f"disco:job:oob:{jobname}"):
            # A prefix may hold characters no tag name can: then there is no such tag.
            with contextlib.suppress(CommError):
                self._ddfs.delete(tag)

    def jobs(self) -> list[tuple[float, str, str]]:
        """``(start time, status, jobname)`` of every job, newest first."""
        rows: list[tuple[float, str, str]] = []
        for name in self._store.job_names():
            state = self._state(name)
            if state is not None:
                rows.append((float(state["start"]), str(state["status"]), name))
        rows.sort(reverse=True)
        return rows

    def running(self) -> bool:
        """True while a job of this master's own is active."""
        return any(job.status == ACTIVE for job in list(self._jobs.values()))

    def shutdown(self, why: str = "the embedded master shut down") -> None:
        """Kill every job this master runs (their workers included)."""
        for job in list(self._jobs.values()):
            self._die(job, why)
        self._shared.close()


#: Every embedded master of this process, for the exit hook.
_MASTERS: weakref.WeakValueDictionary[int, EmbeddedMaster] = weakref.WeakValueDictionary()


@atexit.register
def _at_exit() -> None:
    # The client ends (its script returned, Ctrl-C, sys.exit) before its jobs did: nobody
    # will collect their results, so their workers stop now and the events say why.
    # (SIGKILL skips this: the workers' lifeline ends them, a later reader records it.)
    masters = [m for m in list(_MASTERS.values()) if m.running()]
    if not masters:
        return
    with contextlib.suppress(ValueError):
        # A second Ctrl-C must not cut this short (its workers would then wait for the lifeline).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    why = (f"Job killed: the process that ran its embedded master (pid {os.getpid()}) "
           f"exited before the job ended")
    for master in masters:
        master.shutdown(why)


def _described(error: BaseException, data_dir: Path) -> str:
    """An exception as a user reads it; an OSError without a file name says where it was."""
    if isinstance(error, OSError):
        return str(error) if error.filename else f"{error} (data directory {data_dir})"
    return f"{type(error).__name__}: {error}"


def _urls(output: StageOutput) -> list[str]:
    return [output.url] if isinstance(output, DirOutput) else list(output.urls)


#: This process's start time, by pid (a forked child has its own): asked of /proc once.
_OWN_START: dict[int, int | None] = {}


def _own_start() -> int | None:
    pid = os.getpid()
    if pid not in _OWN_START:
        _OWN_START[pid] = process_start(pid)
    return _OWN_START[pid]
