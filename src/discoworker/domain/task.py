"""What the master tells a worker about its task (the ``TASK`` reply)."""

from __future__ import annotations

import attrs


@attrs.frozen
class TaskSpec:
    """The payload of the master's ``TASK`` reply, field for field."""

    taskid: int
    master: str
    disco_port: int
    put_port: int
    ddfs_data: str
    disco_data: str
    stage: str
    grouping: str
    group: tuple[int, str]
    jobfile: str
    jobname: str
    host: str
