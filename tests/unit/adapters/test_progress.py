"""The progress display fed a job's life by a fake master: figures right at each step, as live
bars on a terminal and as plain lines in a pipe; Job.wait shows it only where asked."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any, cast

import pytest
from rich.console import Console

from discoworker.adapters.progress import PlainView, ProgressDisplay, RichView
from discoworker.app.ports import JobResults, Master
from discoworker.job import Job

# A job's life as jobinfo tells it: [stage, pending, waiting, running, done, failed].
LIFE: list[tuple[str, list[list[object]]]] = [
    ("active", [["map", 0, 3, 0, 0, 0]]),
    ("active", [["map", 0, 1, 2, 0, 0]]),
    ("active", [["map", 0, 1, 1, 1, 1]]),  # an attempt failed: its task waits again
    ("active", [["map", 0, 0, 0, 3, 1], ["reduce", 0, 0, 2, 0, 0]]),
    ("active", [["map", 0, 0, 0, 3, 1], ["reduce", 0, 0, 2, 0, 0]]),  # nothing new
    ("ready", [["map", 0, 0, 0, 3, 1], ["reduce", 0, 0, 0, 2, 0]]),
]

LINES = [
    "J: map 0/3 done, 0 running, 0 failed [0.0 s]",
    "J: map 0/3 done, 2 running, 0 failed [1.0 s]",
    "J: map 1/3 done, 1 running, 1 failed [2.0 s]",
    "J: map 3/3 done, 0 running, 1 failed | reduce 0/2 done, 2 running, 0 failed [3.0 s]",
    # the fifth reading changed nothing: no line
    "J: map 3/3 done, 0 running, 1 failed | reduce 2/2 done, 0 running, 0 failed ready [5.0 s]",
]


class FakeMaster:
    """Answers jobinfo from LIFE, one step per reading."""

    def __init__(self) -> None:
        self.step = 0

    def jobinfo(self, name: str) -> dict[str, Any]:
        status, pipeline = LIFE[min(self.step, len(LIFE) - 1)]
        return {"active": status, "pipeline": pipeline, "timestamp": "", "results": []}

    def results(self, name: str, timeout: float | None = None) -> JobResults:
        self.step = len(LIFE) - 1
        return JobResults("ready", [])


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def live(master: FakeMaster, view: Any, clock: Clock) -> Iterator[None]:
    """Feed each step of LIFE to a display, a second apart; yield after each reading."""
    display = ProgressDisplay("J", lambda: master.jobinfo("J"), view, clock=clock)
    for step in range(len(LIFE)):
        master.step, clock.now = step, 100.0 + step
        assert display.poll() is not None
        yield


def test_plain_lines_say_each_change_once_with_no_control_characters() -> None:
    out = io.StringIO()
    for _ in live(FakeMaster(), PlainView(out), Clock()):
        pass
    assert out.getvalue().splitlines() == LINES
    assert not any(c < " " for c in out.getvalue().replace("\n", ""))


def test_terminal_bars_show_each_stages_figures_at_each_step() -> None:
    term = io.StringIO()
    clock = Clock()
    view = RichView(term, get_time=clock, width=120)
    seen = []
    for _ in live(FakeMaster(), view, clock):
        shot = Console(file=io.StringIO(), width=120, record=True, color_system=None)
        shot.print(view.renderable())
        seen.append([" ".join(line.split()) for line in shot.export_text().splitlines()])
    view.close()
    assert seen[0][0].startswith("map") and "0/3 done, 0 running, 0 failed" in seen[0][0]
    assert "0/3 done, 2 running, 0 failed" in seen[1][0]
    assert "1/3 done, 1 running, 1 failed" in seen[2][0]
    assert "3/3 done, 0 running, 1 failed" in seen[3][0]
    assert seen[3][1].startswith("reduce") and "0/2 done, 2 running, 0 failed" in seen[3][1]
    assert "2/2 done, 0 running, 0 failed" in seen[5][1]
    # Each stage's time runs from its first task (map's at 1 s) and stops when it is done.
    assert "-:--:--" in seen[0][0] and "0:00:01" in seen[2][0] and "0:00:02" in seen[5][0]
    assert "0:00:00" in seen[3][1] and "0:00:02" in seen[5][1]
    # Drawn live: the terminal got cursor movements, and the final line after the bars.
    assert "\x1b[" in term.getvalue()
    assert term.getvalue().rstrip().endswith(LINES[-1])


@pytest.mark.parametrize("show", [None, False])
def test_wait_shows_nothing_unless_asked_when_stderr_is_no_terminal(
    show: bool | None, capsys: pytest.CaptureFixture[str]
) -> None:
    job = Job(name="J", master=cast(Master, FakeMaster()))
    job.wait(show=show)
    assert capsys.readouterr().err == ""


def test_wait_with_show_writes_the_lines_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    job = Job(name="J", master=cast(Master, FakeMaster()))
    job.wait(show=True)
    assert capsys.readouterr().err.splitlines()[-1].startswith(
        "J: map 3/3 done, 0 running, 1 failed | reduce 2/2 done, 0 running, 0 failed ready ["
    )
