"""Task messages in a job's events, as both kinds of master write them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from discoworker.domain.events import TaskEvent, assigned_task, task_event


def test_task_messages_of_a_real_master_and_ours() -> None:
    assert task_event("MSG: [map:0] Done: 10 entries mapped") == \
        TaskEvent("MSG", "map:0", "Done: 10 entries mapped")
    assert task_event("FATAL: [reduce:3] Traceback\n  File x") == \
        TaskEvent("FATAL", "reduce:3", "Traceback\n  File x")
    assert task_event("SYS: [map:1] Received results from vm") == \
        TaskEvent("SYS", "map:1", "Received results from vm")
    assert task_event("DONE: [map:8]") == TaskEvent("DONE", "map:8", "")
    assert task_event("READY: Job done in 0:00:01") is None
    assert task_event("MSG: [map 0] spaced") is None
    assert task_event("MSG: [map:0] x").stage == "map"  # type: ignore[union-attr]


def test_an_attempt_starts_with_assigned_to() -> None:
    assert assigned_task("map:2 assigned to vm") == ("map:2", "vm")
    assert assigned_task("Stage map scheduled with 2 tasks") is None
    assert assigned_task("job assigned to nobody") is None  # no stage:id


@given(st.sampled_from(["MSG", "DONE", "ERROR", "FATAL", "WARNING", "SYS"]),
       st.from_regex(r"[a-z_]{1,8}:[0-9]{1,4}", fullmatch=True), st.text())
def test_a_task_message_reads_back(kind: str, task: str, text: str) -> None:
    assert task_event(f"{kind}: [{task}] {text}") == TaskEvent(kind, task, text)


def test_log_lines_give_each_whole_line_and_where_it_ends() -> None:
    from discoworker.domain.events import log_lines

    first = b'["t1","vm","MSG: [map:0] caf\xc3\xa9"]\n'
    data = (first
            + b'not an event\n'
            + b'["t2","master","READY: done"]\n'
            + b'["t3","vm","MSG: [map:1] half')
    got = list(log_lines(data))
    assert got == [(len(first), ("t1", "vm", "MSG: [map:0] café")),
                   (data.rfind(b"\n") + 1, ("t2", "master", "READY: done"))]
