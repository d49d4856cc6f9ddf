"""Nothing is left running (issue 13): a client's workers end with it, however it ends.

A client (a child process) runs a job whose map tasks start a child of their own and then
loop, busy, for ever; each task records its pid and its child's pid. The client is killed
(SIGKILL, SIGINT as Ctrl-C, SIGTERM), or another process kills or purges the job; every
recorded process must be gone within 5 s (the goal is 1 s; the figure is printed), and the
job's events must say it was killed. Whatever a test finds, it kills what it recorded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from discoworker.adapters.embedded import EmbeddedMaster
from tests.processes import alive

pytestmark = pytest.mark.slow

TASKS = 2
#: Generous bounds, for a loaded machine; the figures printed are what counts.
START_BOUND = 60.0
GONE_BOUND = 5.0

_CLIENT = textwrap.dedent(
    """
    import os, subprocess, sys
    from discoworker.job import Job

    def busy_map(line, params):
        child = subprocess.Popen(["sleep", "600"])
        with open(os.path.join(params, f"task.{os.getpid()}"), "w") as f:
            f.write(f"{os.getpid()} {child.pid}")
        # The job's fork server and the shared server it was forked from.
        stat = open(f"/proc/{os.getppid()}/stat").read()
        with open(os.path.join(params, f"server.{os.getpid()}"), "w") as f:
            f.write(f"{os.getppid()} {stat.rsplit(')', 1)[1].split()[1]}")
        n = 0
        while True:  # busy in job code: no protocol exchange, the GIL mostly held
            n += 1
        yield line, n

    job = Job(name="Busy", settings={"workers": %(tasks)d}).run(
        input=[f"raw://line{i}" for i in range(%(tasks)d)], map=busy_map, params=sys.argv[1])
    print(job.name, flush=True)
    job.wait()
    """
) % {"tasks": TASKS}


class Client:
    """The client process, its job's name, and the pids its tasks recorded."""

    def __init__(self, tmp_path: Path) -> None:
        self.data = tmp_path / "data"
        self.pids_dir = tmp_path / "pids"
        self.pids_dir.mkdir()
        script = tmp_path / "client.py"
        script.write_text(_CLIENT)
        env = {**os.environ, "DISCOWORKER_DATA": str(self.data)}
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(self.pids_dir)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.recorded: list[int] = []

    def wait_for_tasks(self) -> str:
        """The job's name, once every task is running its busy loop."""
        assert self.proc.stdout is not None
        name = self.proc.stdout.readline().strip()
        deadline = time.monotonic() + START_BOUND
        while time.monotonic() < deadline:
            files = list(self.pids_dir.glob("task.*"))
            if len(files) == TASKS and all(f.read_text() for f in files):
                self.recorded = [int(p) for f in files for p in f.read_text().split()]
                return name
            assert self.proc.poll() is None, self.proc.communicate()
            time.sleep(0.05)
        raise AssertionError(f"the tasks did not start within {START_BOUND} s")

    def servers(self) -> list[int]:
        """The fork servers the tasks were forked from: the job's and the shared one."""
        found = {int(p) for f in self.pids_dir.glob("server.*") for p in f.read_text().split()}
        return sorted(found - {self.proc.pid})

    def seconds_until_gone(self, since: float) -> float | None:
        """Seconds from ``since`` until no recorded process is left; None past the bound."""
        while time.monotonic() - since < GONE_BOUND:
            if not any(alive(pid) for pid in self.recorded):
                return time.monotonic() - since
            time.sleep(0.01)
        return None

    def survivors(self) -> list[str]:
        out = []
        for pid in self.recorded:
            if alive(pid):
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                out.append(f"{pid} {cmd.decode(errors='replace')[:120]}")
        return out

    def cleanup(self) -> None:
        # Never leave a runaway process behind, whatever the code under test did.
        for pid in self.recorded:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    c = Client(tmp_path)
    yield c
    c.cleanup()


def _events(data: Path, name: str) -> list[str]:
    return [e.message for e in EmbeddedMaster(data, workers=1).events(name)]


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM],
                         ids=["SIGKILL", "SIGINT", "SIGTERM"])
def test_a_killed_clients_workers_and_their_children_are_gone_and_the_events_say_so(
    client: Client, signum: int
) -> None:
    name = client.wait_for_tasks()
    client.proc.send_signal(signum)
    client.proc.wait(timeout=30)
    ended = time.monotonic()
    took = client.seconds_until_gone(ended)
    print(f"{signal.Signals(signum).name}: workers and their children gone "
          f"{'never' if took is None else f'{took:.3f} s'} after the client ended")
    assert took is not None, f"still running {GONE_BOUND} s later: {client.survivors()}"
    events = _events(client.data, name)
    assert any("killed" in e.lower() for e in events), events[-5:]


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_a_killed_clients_fork_servers_are_gone_too(client: Client, signum: int) -> None:
    client.wait_for_tasks()
    servers = client.servers()
    # The job's server, and the shared one it was forked from (started once per master).
    assert len(servers) == 2, servers
    client.recorded = servers
    client.proc.send_signal(signum)
    client.proc.wait(timeout=30)
    took = client.seconds_until_gone(time.monotonic())
    print(f"{signal.Signals(signum).name}: fork servers gone "
          f"{'never' if took is None else f'{took:.3f} s'} after the client ended")
    assert took is not None, f"still running {GONE_BOUND} s later: {client.survivors()}"


@pytest.mark.parametrize("command", ["kill", "purge"])
def test_kill_or_purge_from_another_process_stops_the_running_jobs_workers(
    client: Client, command: str
) -> None:
    name = client.wait_for_tasks()
    asked = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "discoworker.adapters.cli", "--data-dir", str(client.data),
         command, name],
        check=False, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    took = client.seconds_until_gone(asked)
    print(f"discoworker {command}: workers gone {took} s after the command started "
          f"(its own start-up included)")
    assert took is not None, f"still running: {client.survivors()}"
    # The client's Job.wait() ends with the job's death, saying it was killed.
    _, err = client.proc.communicate(timeout=30)
    assert client.proc.returncode == 1
    assert "JobError" in err and "killed" in err, err[-2000:]
    assert "Worker could not be started" not in err
    if command == "purge":
        assert EmbeddedMaster(client.data, workers=1).jobs() == []
        assert not list(client.data.glob(f"localhost/*/{name}"))
    else:
        assert any("killed" in e for e in _events(client.data, name))
