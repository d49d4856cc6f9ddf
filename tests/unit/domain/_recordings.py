"""Read the real master's recorded conversations (golden/real-master) for domain tests.

A tolerant line reader: protocol frames are one line each (JSON payloads hold no raw LF);
lines that are not frames (the garbage of job14) are skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from discoworker.domain.task import TaskSpec

_FRAME = re.compile(rb"([A-Z_]{1,10}) ([0-9]{1,10}) (.*)\Z")


def frames(data: bytes) -> list[tuple[str, Any]]:
    """The ``(name, decoded payload)`` of every well-formed frame in ``data``."""
    out: list[tuple[str, Any]] = []
    for line in data.split(b"\n"):
        m = _FRAME.match(line)
        if m is None or int(m[2]) != len(m[3]):
            continue
        try:
            out.append((m[1].decode(), json.loads(m[3])))
        except ValueError:
            continue
    return out


@attrs.frozen
class Recorded:
    """One recorded task run: its directory, TASK spec, worker pid, INPUT items, OUTPUTs."""

    where: Path
    spec: TaskSpec
    pid: int | None
    inputs: list[Any]
    outputs: list[tuple[int, str, int]]


def spec_of(payload: dict[str, Any]) -> TaskSpec:
    """The TaskSpec of a recorded TASK payload."""
    fields = dict(payload)
    fields["group"] = (fields["group"][0], fields["group"][1])
    return TaskSpec(**fields)


def recorded_tasks(real_master: Path) -> Iterator[Recorded]:
    """Every recorded task directory that got a TASK reply."""
    for m2w in sorted(real_master.rglob("master_to_worker.bin")):
        where = m2w.parent
        from_master = frames(m2w.read_bytes())
        w2m_file = where / "worker_to_master_stderr.bin"
        from_worker = frames(w2m_file.read_bytes()) if w2m_file.exists() else []
        task = [p for n, p in from_master if n == "TASK"]
        if not task:
            continue
        pids = [p["pid"] for n, p in from_worker if n == "WORKER"]
        inputs = [item for n, p in from_master if n == "INPUT" for item in p[1]]
        outputs = [(p[0], p[1], p[2]) for n, p in from_worker if n == "OUTPUT"]
        yield Recorded(where, spec_of(task[0]), pids[0] if pids else None, inputs, outputs)
