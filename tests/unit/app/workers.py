"""Workers and job packing used by the node-side tests (importable by worker subprocesses)."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

from discoworker.app.worker import Worker
from discoworker.domain.inputs import Replica, TaskInput
from discoworker.domain.jobpack import JobPack
from discoworker.domain.records import DiscoOutputStream
from discoworker.domain.task import TaskSpec


class CopyWorker(Worker):
    """Copies every input record to the output of label ``key % labels``."""

    def run(self, task: Any, job: Any, **jobargs: Any) -> None:
        labels = int(jobargs.get("labels", 1))
        for key, value in self.input(task):
            self.output(task, label=len(key) % labels if labels > 1 else None).file.add(key, value)


class RaisingWorker(Worker):
    """Fails with the exception named in jobargs, after writing one record."""

    def run(self, task: Any, job: Any, **jobargs: Any) -> None:
        self.output(task, label=0).file.add("half", "done")
        raise jobargs["error"]


class PrintingWorker(Worker):
    """Prints ``lines`` lines, then writes one record."""

    def run(self, task: Any, job: Any, **jobargs: Any) -> None:
        for i in range(int(jobargs.get("lines", 3))):
            print("line", i)
        self.output(task).file.add("printed", jobargs.get("lines", 3))


def pack_job(directory: Path, worker: Worker, **jobargs: Any) -> str:
    """Write a job pack carrying ``worker`` and ``jobargs``; the path of the file."""
    job = types.SimpleNamespace(name="test", worker=worker)
    pack = JobPack(
        2,
        {"prefix": "test", "worker": worker.bin, "owner": "t@h", "scheduler": {},
         "pipeline": [["map", "split", False]], "inputs": []},
        {},
        b"",
        worker.jobdata(job, **jobargs),
    )
    path = directory / "jobfile"
    path.write_bytes(pack.dumps())
    return str(path)


def task_spec(jobfile: str, data: Path, stage: str = "map", taskid: int = 0) -> TaskSpec:
    """A TASK reply for a task on host ``localhost`` whose data dir is ``data``."""
    return TaskSpec(
        taskid=taskid, master="http://localhost:8989", disco_port=8989, put_port=8990,
        ddfs_data=str(data / "ddfs"), disco_data=str(data / "disco"), stage=stage,
        grouping="split", group=(0, "localhost"), jobfile=jobfile, jobname="test@1:2:3",
        host="localhost",
    )


def records_file(path: Path, records: list[tuple[Any, Any]]) -> str:
    """Write ``records`` in the internal format; a ``file://`` URL of it."""
    with path.open("wb") as f:
        stream = DiscoOutputStream(f)
        for record in records:
            stream.append(record)
        stream.close()
    return f"file://{path}"


def data_input(input_id: int, *urls: str, label: int = 0) -> TaskInput:
    """An input with one replica per URL, ids from 0."""
    return TaskInput(input_id, "ok", label, tuple(Replica(i, u) for i, u in enumerate(urls)))


class FailingMapWorker(Worker):
    """Reads its inputs and raises ValueError on the first record."""

    def run(self, task: Any, job: Any, **jobargs: Any) -> None:
        for key, _ in self.input(task):
            raise ValueError(f"cannot map {key!r}")
