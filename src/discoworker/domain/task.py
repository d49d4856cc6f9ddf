"""What the master tells a worker about its task (the ``TASK`` reply), and the names it implies.

:class:`Task` derives, from a :class:`TaskSpec` plus the start time and pid passed in, the
task's uid, its directory and output file names, and the URLs the master will publish, as
the original does (golden section 5). Module functions give the job home and the master's
index file names for the embedded master.
"""

from __future__ import annotations

import posixpath
import re

import attrs

from discoworker.domain.md5 import md5


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


# DDFS.safe_name: what may appear in a tag name, and in the uid's group part.
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-@:]")
# For file names we keep dots too: the original writes the raw group (``node1.example.com``)
# into output file names, and dots are harmless in a single path component.
_UNSAFE_FILE = re.compile(r"[^A-Za-z0-9_\-@:.]")


def safe_name(text: str) -> str:
    """``text`` with every character outside ``[A-Za-z0-9_-@:]`` replaced by ``_``."""
    return _UNSAFE.sub("_", text)


def file_safe(text: str) -> str:
    """Like :func:`safe_name` but keeping dots: no spaces, slashes or shell metacharacters."""
    return _UNSAFE_FILE.sub("_", text)


def hexhash(text: str) -> str:
    """The first two hex digits of the MD5 of ``text`` (UTF-8): Disco's directory fan-out."""
    return md5(text.encode("utf-8")).hexdigest()[:2]


def job_path(host: str, jobname: str) -> str:
    """A job's home relative to the data dir: ``<host>/<hexhash(jobname)>/<jobname>``."""
    return f"{host}/{hexhash(jobname)}/{jobname}"


def job_home(disco_data: str, host: str, jobname: str) -> str:
    """The job home on a node: ``<disco_data>/<host>/<hexhash(jobname)>/<jobname>``."""
    return posixpath.join(disco_data, job_path(host, jobname))


def index_file_name(stage: str, taskid: int, micros: int) -> str:
    """The master's index file of a task, relative to the job home.

    ``.disco/<stage>-<taskid>-<microseconds since the epoch>.results``.
    """
    return f".disco/{file_safe(stage)}-{taskid}-{micros}.results"


def index_url(host: str, jobname: str, stage: str, taskid: int, micros: int) -> str:
    """The ``dir://`` URL the master publishes for a task's index file."""
    name = index_file_name(stage, taskid, micros)
    return f"dir://{host}/disco/{job_path(host, jobname)}/{name}"


def local_output_url(host: str, jobname: str, location: str) -> str:
    """The URL the master writes in the index for a local output at relative ``location``."""
    return f"disco://{host}/disco/{job_path(host, jobname)}/{location}"


def make_uid(stage: str, group: str, taskid: int, now: float, pid: int) -> str:
    """A task run's uid: ``<stage>:<safe group>-<taskid>-<hexhash(str(now))>-<pid>``."""
    stamp = hexhash(str(float(now)))
    return f"{file_safe(stage)}:{safe_name(group)}-{taskid}-{stamp}-{pid}"


@attrs.frozen
class Task:
    """A task as this worker runs it: the TASK reply plus this run's uid (time and pid)."""

    spec: TaskSpec
    uid: str

    @classmethod
    def from_spec(cls, spec: TaskSpec, *, now: float, pid: int) -> Task:
        """The task of ``spec``, started at ``now`` (``time.time()``) by process ``pid``."""
        label, host = spec.group
        return cls(spec, make_uid(spec.stage, f"{label}-{host}", spec.taskid, now, pid))

    @property
    def taskid(self) -> int:
        """The master's id of this task."""
        return self.spec.taskid

    @property
    def master(self) -> str:
        """The URL of the master running the task (the original's ``Task.master``)."""
        return self.spec.master

    @property
    def disco_port(self) -> int:
        """The port of the node's HTTP server for ``disco://`` data."""
        return self.spec.disco_port

    @property
    def put_port(self) -> int:
        """The port of DDFS's put server."""
        return self.spec.put_port

    @property
    def disco_data(self) -> str:
        """The node's job data directory."""
        return self.spec.disco_data

    @property
    def ddfs_data(self) -> str:
        """The node's DDFS data directory."""
        return self.spec.ddfs_data

    @property
    def stage(self) -> str:
        """The stage this task belongs to (e.g. ``"map"``)."""
        return self.spec.stage

    @property
    def host(self) -> str:
        """The node this task runs on."""
        return self.spec.host

    @property
    def jobname(self) -> str:
        """The job's name."""
        return self.spec.jobname

    @property
    def group_label(self) -> int:
        """The label of the task's group (``this_partition()``)."""
        return self.spec.group[0]

    @property
    def group_host(self) -> str:
        """The host of the task's group (``""`` when the grouping assigns none)."""
        return self.spec.group[1]

    @property
    def group(self) -> str:
        """The group as a string, ``"<label>-<host>"`` (raw: dots and all)."""
        return f"{self.group_label}-{self.group_host}"

    @property
    def taskpath(self) -> str:
        """The task's directory relative to the job home: ``<hexhash(uid)>/<uid>``."""
        return f"{hexhash(self.uid)}/{self.uid}"

    @property
    def jobpath(self) -> str:
        """The job home relative to the data dir (what Python 2 computed; py3 crashed)."""
        return job_path(self.host, self.jobname)

    @property
    def jobhome(self) -> str:
        """The job home on this node, an absolute path under ``disco_data``."""
        return job_home(self.spec.disco_data, self.host, self.jobname)

    def path(self, name: str) -> str:
        """``name`` inside the task's directory, relative to the job home."""
        return f"{self.taskpath}/{name}"

    def output_filename(self, label: int) -> str:
        """The file name of the output of ``label``: ``<stage>-<group>-<label>``.

        ValueError for a label that is not an int (the original's message, None included).
        """
        if not isinstance(label, int):
            raise ValueError(f"Output label ({label} : {type(label)}) must be an integer or None")
        return f"{file_safe(self.stage)}-{file_safe(self.group)}-{label}"

    def output_path(self, label: int) -> str:
        """The labelled output's path relative to the job home."""
        return self.path(self.output_filename(label))

    def output(self, label: int | None = None, typ: str = "disco") -> tuple[str, str, int]:
        """``(path, type, label)`` of an output: the uid file, ``typ``, 0 when unlabelled;
        ``(output_path(label), "part", label)`` when labelled."""
        if label is None:
            return self.path(self.uid), typ, 0
        return self.output_path(label), "part", label

    def url(self, name: str, scheme: str = "disco") -> str:
        """The URL of file ``name`` in the task's directory, as the node serves it."""
        return f"{scheme}://{self.host}/disco/{self.jobpath}/{self.taskpath}/{name}"

    def output_url(self, label: int | None = None) -> str:
        """The URL the master publishes (in the index file) for this task's output."""
        path, _typ, _label = self.output(label)
        return local_output_url(self.host, self.jobname, path)
