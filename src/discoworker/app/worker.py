"""The ``Worker`` facade (seed: ``disco.worker.Worker``): builds the job pack on the client,
runs the task on the node.

A Worker is a ``dict`` of parameters. On the client it makes the four fields of the job pack
(:meth:`jobdict`, :meth:`jobenvs`, :meth:`jobhome`, :meth:`jobdata`); on the node,
:func:`discoworker.app.task_life.run_task` rebuilds it from the jobdata and calls :meth:`start`,
which runs :meth:`run` with :meth:`input` and :meth:`output` at hand.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from discoworker.app.context import current_context
from discoworker.app.reading import MergedInput, SerialInput
from discoworker.app.writing import DiscoOutput, Output
from discoworker.domain.jobpack import JobPack
from discoworker.errors import JobArgumentError

if TYPE_CHECKING:
    # Packing a job is the client's work: a task, which imports this module for its Worker,
    # does not load what only packing needs.
    import zipfile

#: The worker program inside the job home (no spaces or shell metacharacters: the master runs
#: it as an unquoted shell string).
WORKER_PROGRAM = "discoworker_task.py"
_PROGRAM_TEXT = """#!/usr/bin/env python3
# A Disco worker: runs one task of a job packed by discoworker.
try:
    from discoworker.app.bootstrap import run_worker
except BaseException:
    # discoworker cannot load here: say why in the protocol (stdlib only), not as raw text
    # on stderr that the master cannot parse.
    import json, os, sys, traceback

    def say(name, payload):
        body = json.dumps(payload).encode()
        os.write(2, name + b" %d " % len(body) + body + b"\\n")

    say(b"WORKER", {"pid": os.getpid(), "version": "1.1"})
    sys.stdin.buffer.readline()
    say(b"FATAL", "discoworker cannot start on this node:\\n" + traceback.format_exc())
    raise SystemExit(1)

run_worker()
"""
#: Fixed zip timestamps keep a job home's bytes the same from run to run.
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)
#: Pure-Python packages a node needs to run the worker, shipped in the job home's ``lib``.
#: (``typing_extensions`` is a single module that cattrs needs.)
NODE_PACKAGES = ("discoworker", "attrs", "attr", "cattrs", "cloudpickle", "typing_extensions")


#: Job arguments every worker reads into the jobdict, beside its :meth:`Worker.defaults`.
_JOBDICT_ARGS = frozenset({"input", "name", "owner", "scheduler", "save_info", "save_results"})
#: Spellings from older Disco releases or other tools, and what discoworker calls them.
_SPELLINGS = {"nr_reduces": "partitions", "sorted": "sort", "inputs": "input",
              "num_partitions": "partitions", "combine": "combiner"}


def _unknown_jobargs(unknown: list[str], known: frozenset[str], worker: type) -> str:
    import difflib

    hints = []
    for name in unknown:
        spelled = _SPELLINGS.get(name)
        close = [spelled] if spelled in known else difflib.get_close_matches(name, known, n=1)
        hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    listed = ", ".join(sorted(known))
    which = "arguments" if len(unknown) > 1 else "argument"
    return (
        f"unknown job {which} {', '.join(hints)} for {worker.__module__}.{worker.__qualname__}; "
        f"valid arguments: {listed}"
    )


class Worker(dict[str, Any]):
    """Parameters of a job's worker, and the code that runs its tasks.

    Subclasses define :meth:`run`; the classic and pipeline workers are the two that ship.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(self.defaults())
        self.update(kwargs)
        self._outputs: dict[int | None, Output] = {}

    def defaults(self) -> dict[str, Any]:
        """The parameters every worker has, with their defaults."""
        return {
            "save_results": False,
            "save_info": "ddfs",
            "profile": False,
            "required_files": {},
            "required_modules": None,
        }

    def getitem(
        self, key: str, job: object, jobargs: Mapping[str, Any], default: Any = None
    ) -> Any:
        """``key`` from the jobargs, else the job's attribute, else this worker, else default."""
        if key in jobargs:
            return jobargs[key]
        if hasattr(job, key):
            return getattr(job, key)
        return self.get(key, default)

    # -- client side: the job pack ----------------------------------------------------------

    @property
    def bin(self) -> str:
        """The worker program, relative to the job home (``jobdict.worker``)."""
        return WORKER_PROGRAM

    def jobdict(self, job: Any, **jobargs: Any) -> dict[str, Any]:
        """The keys every jobdict has; subclasses add their pipeline or classic keys."""
        from discoworker.domain.jobdict import check_prefix

        # Refused here, a name with whitespace never reaches a real master (which would take it
        # and fail the job later).
        prefix = self.getitem("name", job, jobargs) or type(job).__name__
        return {
            "prefix": check_prefix(prefix) if isinstance(prefix, str) else prefix,
            "owner": self.getitem("owner", job, jobargs) or default_owner(),
            "worker": self.bin,
            "save_results": bool(self.getitem("save_results", job, jobargs, False)),
            "save_info": self.getitem("save_info", job, jobargs, "ddfs"),
            "scheduler": dict(self.getitem("scheduler", job, jobargs, None) or {}),
        }

    def jobenvs(self, job: Any, **jobargs: Any) -> dict[str, str]:
        """The job's environment on the nodes: ``lib`` of the job home first on the paths."""
        # Bytecode may be written: the first task on a node compiles lib/, the others reuse it.
        # A job written against the ``disco`` names of discoworker finds them on the node too.
        from discoworker.disco_compat import DISCO_DIR, in_use

        path = f"lib:lib/discoworker/{DISCO_DIR}" if in_use() else "lib"
        return {"PYTHONPATH": path, "LD_LIBRARY_PATH": "lib"}

    def jobhome(self, job: Any, **jobargs: Any) -> bytes:
        """The job home, as the zip archive the master unpacks on each node."""
        # lib/ is compressed once per process (the packages were read once too), then each
        # job's own entries are added after it.
        import zipfile

        buffer = io.BytesIO(_node_packages_zip())
        with zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED) as archive:
            self.jobzip(archive, job, **jobargs)
        return buffer.getvalue()

    def jobzip(self, archive: zipfile.ZipFile, job: Any, **jobargs: Any) -> None:
        """Fill the job home: the worker program, its packages, required files and modules."""
        _write(archive, self.bin, _PROGRAM_TEXT.encode(), mode=0o755)
        files = _node_package_files()
        if files and files[0][0] not in archive.NameToInfo:  # jobhome() put them first
            for name, data in _node_packages():
                archive.writestr(_zip_info(name), data)
        required = self.getitem("required_files", job, jobargs) or {}
        if isinstance(required, Mapping):
            for name, content in required.items():
                _write(archive, str(name), _as_bytes(content))
        else:
            for path in required:
                _write(archive, f"lib/{Path(path).name}", Path(path).read_bytes())
        required_modules = self.getitem("required_modules", job, jobargs)
        if required_modules is None:
            required_modules = self.find_required_modules(job, jobargs)
        shipped = set(archive.namelist())
        for module in required_modules:
            if isinstance(module, tuple | list):
                name, path = module
                if _travels_anyway(name):
                    continue  # already in lib/, whether installed or from a checkout
                entry = f"lib/{_module_file(name, path)}"
                if entry not in shipped:
                    shipped.add(entry)
                    _write(archive, entry, Path(path).read_bytes())

    def find_required_modules(self, job: Any, jobargs: Mapping[str, Any]) -> list[Any]:
        """The modules the job's functions use, found in their code (names the node's
        worker gives them, such as ``Task`` and ``put``, are not modules)."""
        from discoworker.app.bootstrap import module_finder
        from discoworker.app.job_globals import PROVIDED_NAMES

        return module_finder()(
            self.job_functions(job, jobargs), exclude=PROVIDED_NAMES, shipped=_shipped_packages()
        )

    def jobdata(self, job: Any, **jobargs: Any) -> bytes:
        """What the node needs to rebuild the job and this worker: ``(job, jobargs)``.

        Job code from the user's own modules travels by value, so a node needs only the
        modules it uses (sent by :meth:`jobzip`), not the ones that define it.
        """
        from discoworker.app.bootstrap import is_local_module
        from discoworker.app.jobdata import dumps_jobdata

        defined_in = {getattr(f, "__module__", None) for f in self.job_functions(job, jobargs)}
        # The job's and worker's classes and their bases: a base class may be the user's too.
        defined_in |= {c.__module__ for c in (*type(job).__mro__, *type(self).__mro__)}
        by_value = sorted(
            m for m in defined_in
            if m and m != "__main__" and not _travels_anyway(m) and is_local_module(m)
        )
        return dumps_jobdata(job, jobargs, by_value)

    def job_functions(self, job: Any, jobargs: Mapping[str, Any]) -> list[Any]:
        """Every function of the job: in this worker's items and the jobargs, stages included."""
        found: list[Any] = []

        def visit(value: Any, depth: int) -> None:
            if depth > 3 or isinstance(value, str | bytes | type):
                return
            if callable(value):
                found.append(value)
            elif isinstance(value, Mapping):
                for item in value.values():
                    visit(item, depth + 1)
            elif isinstance(value, list | tuple | set):
                for item in value:
                    visit(item, depth + 1)
            elif callable(getattr(value, "callables", None)):
                found.extend(value.callables())
            elif isinstance(getattr(value, "__dict__", None), dict):
                # Params and the like: functions kept as their attributes travel too.
                for item in vars(value).values():
                    visit(item, depth + 1)

        # What the job itself defines counts too (``class MyJob(Job): map = ...``).
        for value in (*(self.getitem(k, job, jobargs) for k in self), *jobargs.values()):
            visit(value, 0)
        return found

    def jobarg_names(self) -> frozenset[str]:
        """The job arguments this worker reads: its parameters (:meth:`defaults` and what it
        was made with) and the jobdict's."""
        return frozenset(self) | _JOBDICT_ARGS

    def check_jobargs(self, jobargs: Mapping[str, Any]) -> None:
        """Refuse a job argument this worker would silently ignore (a typo, most often)."""
        known = self.jobarg_names()
        unknown = sorted(k for k in jobargs if k not in known)
        if unknown:
            raise JobArgumentError(_unknown_jobargs(unknown, known, type(self)))

    def jobpack(self, job: Any, **jobargs: Any) -> JobPack:
        """The whole job pack for ``job`` run with ``jobargs``; unknown arguments refused."""
        self.check_jobargs(jobargs)
        jobdict = self.jobdict(job, **jobargs)
        empty_ok = getattr(job, "allow_empty_input", False) is True
        if not empty_ok and any(key in jobdict and not jobdict[key] for key in ("input", "inputs")):
            # An empty input list is a glob that matched nothing, an empty tag or a forgotten
            # argument far more often than a wish for an empty result: say so before it runs.
            raise JobArgumentError(
                "the job has no inputs: give input=[...] with URLs (file://, raw://, http://, "
                "tag://, dir://, disco://) or paths of files"
            )
        version = 2 if "pipeline" in jobdict else 1
        if self.getitem("required_modules", job, jobargs) is None:
            # Found once; the node imports them too, as globals of the job's functions.
            jobargs = {**jobargs, "required_modules": self.find_required_modules(job, jobargs)}
        return JobPack(
            version,
            jobdict,
            self.jobenvs(job, **jobargs),
            self.jobhome(job, **jobargs),
            self.jobdata(job, **jobargs),
        )

    # -- node side: running a task ----------------------------------------------------------

    def input(self, task: Any, merged: bool = False, **kwds: Any) -> SerialInput | MergedInput:
        """The records of every input of ``task`` (a merge of sorted inputs when ``merged``)."""
        context = current_context()
        inputs = context.line.all_inputs()
        if merged:
            return MergedInput(inputs, task, context=context, **kwds)
        return SerialInput(inputs, task, context=context, **kwds)

    def output(self, task: Any, label: int | None = None, **kwds: Any) -> Output:
        """The output of ``task`` for ``label`` (None: the unlabelled output), opened once."""
        output = self._outputs.get(label)
        if output is None:
            context = current_context()
            kwds.setdefault("open", lambda path: DiscoOutput(context.output_file(path)))
            output = Output(context.task.output(label), **kwds)
            self._outputs[label] = output
        return output

    def start(self, task: Any, job: Any, **jobargs: Any) -> list[Output]:
        """Run the task; the outputs it opened.

        With ``profile`` the task runs under cProfile and its stats become the job's
        out-of-band result ``profile-<task uid>`` (read them with ``Job.oob_get``), as in
        the original.
        """
        self._outputs = {}
        if self.getitem("profile", job, jobargs):
            import cProfile

            from discoworker.app.oob import put

            profiler = cProfile.Profile()
            profiler.runcall(self.run, task, job, **jobargs)
            name = f"profile-{task.uid}"
            stats = current_context().output_file(task.path(name))
            os.makedirs(os.path.dirname(stats), exist_ok=True)
            profiler.dump_stats(stats)
            with open(stats, "rb") as f:
                put(name, f.read())
        else:
            self.run(task, job, **jobargs)
        return list(self._outputs.values())

    def run(self, task: Any, job: Any, **jobargs: Any) -> None:
        """Do the task's work; subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__} does not define run()")

    def discard_outputs(self) -> None:
        """Abandon every output of a failed task: nothing is left under a final name."""
        for output in self._outputs.values():
            output.discard()
        self._outputs = {}

    @classmethod
    def main(cls) -> None:
        """Run the task the master gives this process (the worker program's entry point)."""
        from discoworker.app.bootstrap import run_worker

        run_worker()

    def __reduce_ex__(self, protocol: Any) -> Any:
        # Outputs are a node's state, never part of a job pack.
        return (_rebuild_worker, (type(self), dict(self)))


def _rebuild_worker(cls: type[Worker], items: dict[str, Any]) -> Worker:
    worker = cls.__new__(cls)
    dict.update(worker, items)
    worker._outputs = {}
    return worker


def _shipped_packages() -> tuple[str, ...]:
    """The packages in every job home already: discoworker's own, and its ``disco`` when a
    job uses those names."""
    from discoworker.disco_compat import in_use

    return (*NODE_PACKAGES, "disco") if in_use() else NODE_PACKAGES


def _travels_anyway(module: str) -> bool:
    """Whether ``module`` is in every job home already (:func:`_shipped_packages`)."""
    return module.partition(".")[0] in _shipped_packages()


def default_owner() -> str:
    """``DISCO_JOB_OWNER``, else ``user@host`` as the original client says."""
    owner = os.environ.get("DISCO_JOB_OWNER")
    if owner:
        return owner
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _zip_info(name: str, mode: int = 0o644) -> zipfile.ZipInfo:
    import zipfile

    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o100000 | mode) << 16
    return info


def _write(archive: zipfile.ZipFile, name: str, data: bytes, mode: int = 0o644) -> None:
    archive.writestr(_zip_info(name, mode), data)


def _as_bytes(content: str | bytes) -> bytes:
    return content.encode() if isinstance(content, str) else content


def _module_file(name: str, path: str) -> str:
    """Where a required module goes under ``lib``: its dotted name as a path."""
    suffix = "/__init__.py" if Path(path).name == "__init__.py" else ".py"
    return name.replace(".", "/") + suffix


@functools.cache
def _node_packages_zip() -> bytes:
    """A zip of the node packages alone: every job home starts as a copy of it.

    Reading and compressing the packages is most of a small job's packing, so the zip is kept
    in the user's cache (``DISCOWORKER_LIB_CACHE``), named by the SHA-256 of the packages'
    file names, sizes and modification times, as Python's own bytecode cache trusts a
    source's: a changed file (an upgrade, an edited checkout) gets a new one. One whose
    entries are not those files, sizes and all (cut short, damaged), is rebuilt.
    """
    import hashlib
    import zipfile

    from discoworker.app.bootstrap import user_cache

    files = _node_package_files()
    digest = hashlib.sha256()
    for name, _path, size, mtime_ns in files:
        digest.update(b"%d %s %d %d\n" % (len(name), name.encode(), size, mtime_ns))
    cached = user_cache("discoworker-lib", "DISCOWORKER_LIB_CACHE") / f"{digest.hexdigest()}.zip"
    with contextlib.suppress(OSError, zipfile.BadZipFile):
        built = cached.read_bytes()
        entries = zipfile.ZipFile(io.BytesIO(built)).infolist()
        if [(i.filename, i.file_size) for i in entries] == [(f[0], f[2]) for f in files]:
            with contextlib.suppress(OSError):
                os.utime(cached)  # in use: kept
            return built
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in _node_packages():
            archive.writestr(_zip_info(name), data)
    built = buffer.getvalue()
    with contextlib.suppress(OSError):  # no cache: every process builds its own
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_name(f".{cached.name}.{os.getpid()}.partial")
        partial.write_bytes(built)
        os.replace(partial, cached)
        _prune_lib_zips(cached)
    return built


#: A cached lib zip no process has used for this many days is removed when another is made.
LIB_ZIP_KEEP_DAYS = 7


def _prune_lib_zips(keep: Path) -> None:
    """Remove the cache's zips (and leftover partial ones) unused for ``LIB_ZIP_KEEP_DAYS``:
    each upgrade or edit of the packages makes a new one."""
    import time

    too_old = time.time() - LIB_ZIP_KEEP_DAYS * 86400
    try:
        entries = list(keep.parent.iterdir())
    except OSError:
        return
    for entry in entries:
        with contextlib.suppress(OSError):
            if entry != keep and entry.suffix in (".zip", ".partial") and (
                entry.stat().st_mtime < too_old
            ):
                entry.unlink()


@functools.cache
def _node_package_files() -> tuple[tuple[str, Path, int, int], ...]:
    """The source files of :data:`NODE_PACKAGES`: ``(lib/<path>, path, size, mtime_ns)``."""
    files: list[tuple[str, Path, int, int]] = []

    def add(name: str, path: Path) -> None:
        stat = path.stat()
        files.append((name, path, stat.st_size, stat.st_mtime_ns))

    for package in NODE_PACKAGES:
        module = sys.modules.get(package) or __import__(package)
        source = Path(module.__file__ or "")
        if not hasattr(module, "__path__"):  # a single module, not a package
            add(f"lib/{source.name}", source)
            continue
        root = source.parent
        for path in sorted(root.rglob("*")):
            if path.suffix in (".py", ".typed", ".pyi") and "__pycache__" not in path.parts:
                add(f"lib/{package}/{path.relative_to(root).as_posix()}", path)
    return tuple(files)


@functools.cache
def _node_packages() -> tuple[tuple[str, bytes], ...]:
    """The source files of :data:`NODE_PACKAGES` as ``(lib/<path>, bytes)``, read once."""
    return tuple((name, path.read_bytes()) for name, path, _, _ in _node_package_files())

