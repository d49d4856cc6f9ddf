"""A task run as a real worker process, over its stdin and stderr, as a real master runs it.

The job home is unpacked from our job pack, its worker program (``discoworker_task.py``)
executed there with the job's environment; a test-side master (:class:`ScriptedMaster`, with
the domain encoder and decoder) answers over pipes. Like a real master it reads the worker's
stdout and stderr as one stream, closes stdin after the last word, and kills by pid.
"""

from __future__ import annotations

import io
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
import types
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest

from discoworker.adapters.embedded.worker_process import worker_env
from discoworker.adapters.transport_memory import ScriptedMaster
from discoworker.app.classic import Worker
from discoworker.app.writing import PARTIAL_SUFFIX
from discoworker.domain import protocol as p
from discoworker.domain.inputs import Replica, TaskInput
from discoworker.domain.records import disco_input_stream
from discoworker.domain.task import TaskSpec, job_home
from tests.conftest import GOLDEN

JOBNAME = "Wire@703:64f42:64531"
HOST = "localhost"
GOLDEN_ROWS = [
    json.loads(line)
    for line in (GOLDEN / "protocol/worker_protocol.jsonl").read_text().splitlines()
]
# A module whose compilation warns (SyntaxWarning), as the recorded job that broke the master.
WARNING_MODULE = "LITERAL_IS = 1 is 1\n"

pytestmark = pytest.mark.slow


def original_frame(name: str, payload: object) -> bytes:
    """A frame as the original worker writes it: ``json.dumps`` defaults, ASCII only."""
    body = json.dumps(payload).encode("ascii")
    return b"%s %d %s\n" % (name.encode("ascii"), len(body), body)


def golden(case: str) -> bytes:
    (row,) = [r for r in GOLDEN_ROWS if r["case"] == case and r["direction"] == "worker->master"]
    return bytes(row["text"], "latin-1")


# -- the job code the process runs ---------------------------------------------------------


def noisy(line: str, params: Any) -> Iterator[tuple[str, int]]:
    """Word count's map, printing every way job code can print."""
    import importlib

    print("to stdout")
    print("to stderr", file=sys.stderr)
    os.write(1, b"raw fd 1\n")
    os.write(2, b"raw fd 2\n")
    subprocess.run(["sh", "-c", "echo child on fd 2 >&2; echo child on fd 1"], check=True)
    warnings.warn("careful", UserWarning, stacklevel=1)
    importlib.import_module("warns_at_import")
    for word in line.split("_"):
        yield word, 1


def half_then_hang(line: str, params: Any) -> Iterator[tuple[str, Any]]:
    """Writes a few MiB of output, says so with a marker file, then waits to be killed."""
    for i in range(3000):
        yield f"key{i}", i
        yield f"pad{i}", "x" * 1000
    open("halfway", "w").close()
    time.sleep(60)


# -- the master's side ---------------------------------------------------------------------


@attrs.define
class PipeMaster:
    """A ScriptedMaster answering one worker process: frames in from its stderr+stdout pipe,
    replies out on its stdin."""

    proc: subprocess.Popen[bytes]
    home: Path
    read_fd: int
    master: ScriptedMaster
    wire: bytearray = attrs.field(factory=bytearray)
    frames: list[p.Frame] = attrs.field(factory=list)
    decoder: p.FrameDecoder = attrs.field(factory=p.FrameDecoder)

    def converse(self, until: Callable[[], bool] = lambda: False, timeout: float = 30.0) -> bool:
        """Answer until end of stream (False) or ``until()`` holds (True)."""
        deadline = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < deadline, f"worker silent; said {self.master.said}"
            ready, _, _ = select.select([self.read_fd], [], [], 0.05)
            if not ready:
                continue
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk:
                self.decoder.close()
                return False
            self.wire += chunk
            for frame in self.decoder.feed(chunk):
                self.frames.append(frame)
                reply = self.master.reply(p.decode_worker_message(frame))
                if reply is not None:
                    assert self.proc.stdin is not None
                    self.proc.stdin.write(p.encode(reply))
                    self.proc.stdin.flush()
                if self.master.ended_with is not None and self.proc.stdin is not None:
                    # As a real master after DONE, ERROR or FATAL: close stdin.
                    self.proc.stdin.close()
        return True

    def finish(self, timeout: float = 10.0) -> int:
        """Wait for the worker to exit (killing it past ``timeout``); its return code."""
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            if self.read_fd >= 0:
                os.close(self.read_fd)
                self.read_fd = -1


def start_task(
    tmp_path: Path,
    worker: Worker,
    inputs: list[TaskInput],
    interpreter: Sequence[str] = (),
    prepare: Callable[[Path], None] = lambda home: None,
) -> PipeMaster:
    """Unpack the job home (``prepare`` may alter it), start its worker program there (with
    ``interpreter`` when given); the master answering it."""
    data = tmp_path / "data"
    home = Path(job_home(str(data / "disco"), HOST, JOBNAME))
    home.mkdir(parents=True)
    job = types.SimpleNamespace(name="Wire", worker=worker)
    pack = worker.jobpack(job, input=["raw://placeholder"], required_modules=[])
    with zipfile.ZipFile(io.BytesIO(pack.jobhome)) as archive:
        archive.extractall(home)
    (home / "lib/warns_at_import.py").write_text(WARNING_MODULE)
    prepare(home)
    program = home / pack.jobdict["worker"]
    program.chmod(0o755)  # as the master does: a zip need not carry permissions
    jobfile = home / "jobfile"
    jobfile.write_bytes(pack.dumps())
    spec = TaskSpec(
        taskid=0,
        master="http://localhost:8989",
        disco_port=8989,
        put_port=8990,
        ddfs_data=str(data / "ddfs"),
        disco_data=str(data / "disco"),
        stage="map",
        grouping="split",
        group=(0, HOST),
        jobfile=str(jobfile),
        jobname=JOBNAME,
        host=HOST,
    )
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [*interpreter, str(program)],
        cwd=home,
        env=worker_env(pack.jobenvs),
        stdin=subprocess.PIPE,
        stdout=write_fd,
        stderr=write_fd,
        close_fds=True,
    )
    os.close(write_fd)
    return PipeMaster(proc, home, read_fd, ScriptedMaster(spec, inputs))


def raw_input(url: str) -> TaskInput:
    return TaskInput(0, "ok", 0, (Replica(0, url),))


# -- the tests -----------------------------------------------------------------------------


def test_the_golden_frames_are_json_dumps_frames() -> None:
    # The rule our comparison uses, checked on every worker frame the original recorded.
    checked = 0
    for row in GOLDEN_ROWS:
        if row["direction"] != "worker->master" or "text" not in row or "type" not in row:
            continue
        data = bytes(row["text"], "latin-1")
        for frame in p.FrameDecoder().feed(data):
            assert original_frame(frame.name, frame.value()) == p.encode_frame(frame)
            checked += 1
    assert checked >= 15


def test_a_worker_process_speaks_only_the_originals_frames_whatever_job_code_prints(
    tmp_path: Path,
) -> None:
    worker = Worker(map=noisy, partitions=2)
    pipe = start_task(tmp_path, worker, [raw_input("raw://foo_bar_hello_hello")])

    pipe.converse()
    code = pipe.finish()

    master = pipe.master
    assert isinstance(master.ended_with, p.Done), master.ended_with
    assert code == 0
    # Nothing but frames on the stream: the frames re-encoded are every byte that came.
    assert b"".join(p.encode_frame(f) for f in pipe.frames) == bytes(pipe.wire)
    assert b"raw fd" not in pipe.wire and b"child on fd" not in pipe.wire
    # Each frame is byte for byte what the original writes for its payload.
    for frame in pipe.frames:
        assert p.encode_frame(frame) == original_frame(frame.name, frame.value())
    names = [f.name for f in pipe.frames]
    assert names[:3] == ["WORKER", "TASK", "INPUT"] and names[-1] == "DONE"
    sent = [p.encode_frame(f) for f in pipe.frames]
    pid = pipe.proc.pid
    assert sent[0] == golden("worker").replace(b"4242", str(pid).encode()).replace(
        b"WORKER 31", b"WORKER %d" % (31 + len(str(pid)) - 4)
    )
    assert sent[1] == golden("task_request") == b'TASK 2 ""\n'
    assert sent[-1] == golden("done") == b'DONE 2 ""\n'
    (output,) = master.outputs
    assert (output.label, output.size) == (0, 79)  # the size the real master was told in job2
    assert output.location.startswith(tuple(f"{h:02x}/map:0-{HOST}-0-" for h in range(256)))
    assert output.location.endswith(f"-{pid}/map-0-{HOST}-0")
    # What job code printed through Python reached the master as MSG text, nothing else did.
    text = "\n".join(master.messages)
    for printed in ("to stdout", "to stderr", "UserWarning: careful", 'SyntaxWarning: "is"'):
        assert printed in text
    assert "raw fd" not in text and "child on fd" not in text


def test_a_worker_killed_half_way_leaves_no_output_under_its_final_name(tmp_path: Path) -> None:
    worker = Worker(map=half_then_hang, partitions=1)
    pipe = start_task(tmp_path, worker, [raw_input("raw://a")])
    home = pipe.home

    try:
        assert pipe.converse(until=(home / "halfway").exists)
        partial = list(home.rglob(f"*{PARTIAL_SUFFIX}"))
        assert partial and partial[0].stat().st_size > 0, "no hunk written yet"
    finally:
        os.kill(pipe.proc.pid, signal.SIGKILL)  # half-way through its output
        code = pipe.finish()
    assert code == -signal.SIGKILL

    outputs = [f for f in home.rglob("map-*") if f.is_file()]
    assert outputs and all(f.name.endswith(PARTIAL_SUFFIX) for f in outputs)
    assert not (partial[0].parent / partial[0].name.removesuffix(PARTIAL_SUFFIX)).exists()
    assert pipe.master.outputs == [] and pipe.master.ended_with is None


def test_a_node_with_only_python_runs_the_task_from_the_job_home(tmp_path: Path) -> None:
    # -S: no site-packages at all; discoworker and its dependencies come from the job home.
    worker = Worker(map=lambda line, params: [(line, len(line))])
    master = start_task(
        tmp_path, worker, [raw_input("raw://only_python")], interpreter=[sys.executable, "-S"]
    )
    master.converse()
    master.finish()
    assert isinstance(master.master.ended_with, p.Done), master.master.ended_with
    (report,) = master.master.outputs
    with (master.home / report.location).open("rb") as f:
        assert list(disco_input_stream(f, report.size, report.location)) == [("only_python", 11)]


def test_a_node_that_cannot_load_discoworker_says_so_in_the_protocol(tmp_path: Path) -> None:
    worker = Worker(map=lambda line, params: [(line, 1)])
    master = start_task(
        tmp_path,
        worker,
        [raw_input("raw://x")],
        interpreter=[sys.executable, "-S"],
        prepare=lambda home: shutil.rmtree(home / "lib" / "cattrs"),
    )
    master.converse()
    master.finish()
    ended = master.master.ended_with
    assert isinstance(ended, p.TaskFatal), ended
    assert "discoworker cannot start on this node" in ended.text
    assert "No module named 'cattrs'" in ended.text
    assert bytes(master.wire).startswith(b"WORKER ")
