"""The progress display fed a job's life by a fake master (its jobinfo and its events): figures
right at each step, as live bars on a terminal and as plain lines in a pipe; Job.wait shows it
only where asked."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
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


def event(message: str) -> str:
    return json.dumps(["2026/11/29 18:00:00", "localhost", message]) + "\n"


# The events logged by each step, as the workers' status lines and the master say them.
EVENTS: list[str] = [
    "",
    event("MSG: [map:0] 100000 entries mapped [input read: 30.0%, 3000 of 10000 bytes]")
    + event("MSG: [map:1] user text\n100000 entries mapped [input read: 15.0%, 15 of 100 bytes]"),
    event("MSG: [map:0] Done: 300000 entries mapped [input read: 100.0%, 10000 of 10000 bytes]")
    + event("WARNING: [map:1] Traceback (most recent call last): ...")  # it starts over
    + event("MSG: [map:1] a line that looks like [input read: 90%, but is no status"),
    event("MSG: [map:1] Done: 1 entries mapped [input read: 100.0%, input 1 of 1]")
    + event("MSG: [map:2] Done: 1 entries mapped [input read: 100.0%, input 1 of 1]")
    + event("MSG: [reduce:0] 100000 entries reduced [input read: 40.0%, input 2 of 5]"),
    # A line the master is still writing: read whole at the next step.
    event("MSG: [reduce:1] 5 entries reduced [input read: 80.0%, input 4 of 5]")[:40],
    event("MSG: [reduce:1] 5 entries reduced [input read: 80.0%, input 4 of 5]")[40:]
    + event("MSG: [reduce:0] Done: 9 entries reduced [input read: 100.0%, input 5 of 5]")
    + event("MSG: [reduce:1] Done: 9 entries reduced [input read: 100.0%, input 5 of 5]"),
]

LINES = [
    "J: map 0/3 done, 0 running, 0 failed [0.0 s]",
    # (30% + 15%) of 3 tasks; no pace yet: the stage began now
    "J: map 0/3 done, 2 running, 0 failed, 15% read [1.0 s]",
    # map:0 read all; map:1's attempt failed: it starts over. A third read in 1 s: 2 s left.
    "J: map 1/3 done, 1 running, 1 failed, 33% read, 2 s left [2.0 s]",
    "J: map 3/3 done, 0 running, 1 failed, 100% read | reduce 0/2 done, 2 running, 0 failed, "
    "20% read [3.0 s]",
    # the fifth reading changed nothing (half a line is not read): no line
    "J: map 3/3 done, 0 running, 1 failed, 100% read | reduce 2/2 done, 0 running, 0 failed, "
    "100% read ready [5.0 s]",
]


class FakeMaster:
    """Answers jobinfo from LIFE and the events logged up to the step from EVENTS."""

    def __init__(self) -> None:
        self.step = 0
        self.offsets: list[int] = []

    def raw_events(self, name: str, offset: int = 0) -> bytes:
        self.offsets.append(offset)
        return "".join(EVENTS[: self.step + 1]).encode()[offset:]

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
    display = ProgressDisplay("J", lambda: master.jobinfo("J"), view, clock=clock,
                              events=lambda offset: master.raw_events("J", offset))
    for step in range(len(LIFE)):
        master.step, clock.now = step, 100.0 + step
        assert display.poll() is not None
        yield


def test_plain_lines_say_each_change_once_with_no_control_characters() -> None:
    out = io.StringIO()
    master = FakeMaster()
    for _ in live(master, PlainView(out), Clock()):
        pass
    assert out.getvalue().splitlines() == LINES
    assert not any(c < " " for c in out.getvalue().replace("\n", ""))
    # Each reading asked only for what followed the last whole line it had read.
    whole = [len("".join(EVENTS[: n + 1]).encode()) for n in range(len(EVENTS))]
    assert master.offsets == [0, whole[0], whole[1], whole[2], whole[3], whole[3]]


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
    # The share of each stage's input read, as its tasks' status lines in the events said.
    assert "0 failed, 15% read" in seen[1][0] and "1 failed, 33% read" in seen[2][0]
    assert "0 failed, 20% read" in seen[3][1] and "0 failed, 100% read" in seen[5][1]
    # Each stage's time runs from its first task (map's at 1 s) and stops when it is done;
    # the time left follows the pace of its reading (a third in 1 s: 2 s left), none at first.
    assert seen[0][0].endswith("-:--:-- -:--:--") and seen[1][0].endswith("0:00:00 -:--:--")
    assert seen[2][0].endswith("0:00:01 0:00:02") and seen[5][0].endswith("0:00:02 -:--:--")
    assert seen[3][1].endswith("0:00:00 -:--:--") and seen[4][1].endswith("0:00:01 0:00:04")
    assert seen[5][1].endswith("0:00:02 -:--:--")
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
    # The share of input read comes from the master's events, read through Job.wait.
    assert capsys.readouterr().err.splitlines()[-1].startswith(
        "J: map 3/3 done, 0 running, 1 failed, 100% read | reduce 2/2 done, 0 running, 0 failed, "
        "100% read ready ["
    )


GOLDEN = Path(__file__).parents[3] / "../shared/golden/real-master/events"


def test_a_real_masters_event_log_gives_the_shares_as_ours_do() -> None:
    # A real Disco master's recorded word count; its worker's status lines as ours write them.
    name = "WordCount@703:64f42:64531"
    log = (GOLDEN / f"{name}.events").read_text().replace(
        " entries mapped\"", ' entries mapped [input read: 100.0%, 19 of 19 bytes]"'
    ).replace(" entries reduced\"", ' entries reduced [input read: 100.0%, input 1 of 1]"')
    lines = log.splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if "MSG: [map:0] Done:" in line) + 1
    status = "MSG: [map:1] 100000 entries mapped [input read: 40.0%, 8 of 19 bytes]"
    lines.insert(cut, event(status))
    log = "".join(lines)
    shown = log.encode()[: len("".join(lines[: cut + 1]).encode())]
    info: dict[str, Any] = json.loads((GOLDEN / f"{name}.jobinfo.json").read_text())
    running = {**info, "active": "active",
               "pipeline": [["map", 0, 0, 1, 1, 0], ["map_shuffle", 0, 0, 0, 0, 0]]}
    now = [running]
    out = io.StringIO()
    display = ProgressDisplay(name, lambda: now[0], PlainView(out), clock=Clock(),
                              events=lambda offset: shown[offset:])
    display.poll()
    shown, now[0] = log.encode(), info
    display.poll()
    assert out.getvalue().splitlines() == [
        f"{name}: map 1/2 done, 1 running, 0 failed, 70% read | map_shuffle 0/0 done, 0 running, "
        "0 failed [0.0 s]",
        f"{name}: map 2/2 done, 0 running, 0 failed, 100% read | map_shuffle 1/1 done, 0 running, "
        "0 failed | reduce 2/2 done, 0 running, 0 failed, 100% read ready [0.0 s]",
    ]
