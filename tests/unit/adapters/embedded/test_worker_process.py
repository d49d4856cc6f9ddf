"""One task's worker process and the master's side of its conversation."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from discoworker.adapters.embedded.worker_process import (
    Limits,
    Outcome,
    TaskLink,
    WorkerProcess,
    worker_env,
)
from discoworker.domain.task import TaskSpec
from tests.processes import alive

# Says WORKER, then DONE, then stays: as a worker waiting for the master to close its input.
_LINGERING = textwrap.dedent(
    """
    import os, sys, time
    from discoworker.domain import protocol as p

    with open("pid", "w") as f:
        f.write(str(os.getpid()))
    os.write(2, p.encode(p.WorkerHello(pid=os.getpid(), version="1.1")))
    sys.stdin.buffer.readline()
    os.write(2, p.encode(p.Done()))
    time.sleep(60)
    """
)


def _spec(tmp_path: Path) -> TaskSpec:
    return TaskSpec(
        taskid=0, master="http://localhost:8989", disco_port=8989, put_port=8990,
        ddfs_data=str(tmp_path), disco_data=str(tmp_path), stage="map", grouping="split",
        group=(0, ""), jobfile=str(tmp_path / "jobfile"), jobname="J", host="localhost",
    )


def test_done_is_told_while_the_worker_lives_and_the_worker_is_killed_after(
    tmp_path: Path,
) -> None:
    program = tmp_path / "worker.py"
    program.write_text(_LINGERING)
    events: list[str] = []
    link = TaskLink(_spec(tmp_path), lambda mode, ids: None, lambda i: None, events.append)
    src = str(Path(__file__).resolve().parents[4] / "src")
    env = worker_env({"PYTHONPATH": src})
    proc = WorkerProcess(link, [sys.executable, str(program)], tmp_path, env, Limits())
    told: list[tuple[Outcome, bool]] = []

    def on_done(outcome: Outcome) -> None:
        told.append((outcome, alive(int((tmp_path / "pid").read_text()))))

    outcome = proc.run(on_done=on_done)
    # The slot could take the next task at DONE: the worker was still there, its exit code
    # not known yet; it was killed (SIGKILL) and reaped before run() returned.
    assert [(o.kind, o.exit_code, alive) for o, alive in told] == [("done", None, True)]
    assert (outcome.kind, outcome.exit_code) == ("done", -9)
    assert any("Task finished" in e for e in events), events
    assert not alive(int((tmp_path / "pid").read_text()))
