"""The embedded master's data directory: job homes, index files, events and job state.

Layout under ``root`` (which is also the ``disco_data`` a task is told)::

    <root>/<host>/<2 hex>/<jobname>/          job home, as the real master lays it out
        jobfile  .jobhome  .disco/<stage>-<taskid>-<micros>.results
    <root>/.master/jobs/<jobname>/state.json  job state (status, counts, results, error)
    <root>/.master/jobs/<jobname>/events      one JSON array per line, as ``rawevents``
    <root>/.ddfs/                             the local DDFS (``ddfs_local``)
    <libs>/<sha256>/                          a job home's ``lib/``, unpacked once per content
                                              for every data dir (``Store.libs``; else
                                              ``<root>/.master/libs``)

Everything is a plain file written atomically, so another process can list jobs and events.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import struct
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any, Final

import attrs

from discoworker.domain.index import IndexEntry, format_index
from discoworker.domain.task import index_file_name, index_url, job_path
from discoworker.errors import JobPackError

#: Disk set aside per job for its last state file (see ``Store.save_state``).
STATE_RESERVE: Final = 16 * 1024
#: Statuses a job state file may hold.
ACTIVE: Final = "active"
READY: Final = "ready"
DEAD: Final = "dead"


def abspath(path: str | os.PathLike[str]) -> Path:
    """``path`` made absolute (not resolved: a symlinked data dir keeps its name)."""
    return Path(path).absolute()


def event_time(now: float | None = None) -> str:
    """The master's event time stamp: ``YYYY/MM/DD HH:MM:SS`` in local time."""
    return time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(time.time() if now is None else now))


def atomic_write(path: Path, data: bytes) -> None:
    # Write beside and rename, so a reader in another process never sees half a file.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _proc_stat(pid: int) -> list[bytes] | None:
    # /proc/<pid>/stat's fields from the third (state) on: the command name before them may
    # hold spaces and parentheses.
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            line = f.read()
        return line[line.rindex(b")") + 2 :].split()
    except (OSError, ValueError):
        return None


def _reserve(path: Path, size: int) -> None:
    # Allocated now (not a sparse file): a later write into it cannot fail for want of space.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    finally:
        os.close(fd)


def process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot), or None where /proc cannot say.

    Kept beside a pid so that a later process given the same pid is not taken for it.
    """
    fields = _proc_stat(pid)
    try:
        return None if fields is None else int(fields[19])
    except (ValueError, IndexError):
        return None


def _pid_alive(pid: int, started: object = None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _proc_stat(pid)
    if fields is None:
        return True  # no /proc here: the signal's answer is all we have
    if fields[:1] in ([b"Z"], [b"X"]):
        return False  # killed, waiting for a parent to reap it
    if isinstance(started, int):
        return process_start(pid) in (None, started)
    return True


#: Top-level names the master writes itself after unpacking (``.disco/`` holds task results).
RESERVED_NAMES: Final = frozenset({"jobfile", ".jobhome", ".disco"})

# Everything zipfile and zlib raise on a malformed, truncated or unsupported archive
# (RuntimeError: an encrypted member; struct.error: a cut header).
_ZIP_ERRORS: Final = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    NotImplementedError,
    ValueError,
    RuntimeError,
    struct.error,
    zlib.error,
)


def _checked_member(
    home: Path, name: str, real_home: str | None = None, seen: dict[Path, str] | None = None
) -> Path:
    """Where zip entry ``name`` lands in ``home`` (``real_home``: its real path, if known;
    ``seen``: real paths of directories found so far, for many entries checked at once);
    JobPackError if it would land outside."""
    if not name or "\\" in name or "\0" in name:
        raise JobPackError(f"jobhome entry {name!r}: invalid name")
    posix = PurePosixPath(name)
    if posix.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise JobPackError(f"jobhome entry {name!r}: absolute path refused")
    if ".." in posix.parts:
        raise JobPackError(f"jobhome entry {name!r}: '..' refused (it would leave the job home)")
    if not posix.parts or posix.parts[0] in RESERVED_NAMES:
        raise JobPackError(f"jobhome entry {name!r}: a name the master keeps for itself")
    target = home.joinpath(*posix.parts)
    # No link is ever made in a job home; this still stops one planted beside it.
    real_home = real_home if real_home is not None else os.path.realpath(home)
    real_parent = seen.get(target.parent) if seen is not None else None
    if real_parent is None:
        real_parent = os.path.realpath(target.parent)
        if seen is not None:
            seen[target.parent] = real_parent
    if os.path.commonpath([real_home, real_parent]) != real_home:
        raise JobPackError(f"jobhome entry {name!r}: would land outside the job home")
    return target


def _write_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    # O_NOFOLLOW: never write through a link, whatever made it.
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(target, flags, 0o644)
    with archive.open(info) as src, os.fdopen(fd, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)


def _checked_name(jobname: str) -> str:
    # Job names come from callers (HTTP bodies later): never let one name a path elsewhere.
    if not jobname or "/" in jobname or "\0" in jobname or jobname.startswith("."):
        raise ValueError(f"invalid job name {jobname!r}")
    return jobname


def safe_unzip(
    data: bytes, home: Path, write: Callable[[str], bool] = lambda name: True
) -> list[str]:
    """Unpack the jobhome zip ``data`` into ``home``; the names written.

    The real master does not check, so whoever unpacks must. JobPackError, naming the entry,
    for: a malformed, truncated, encrypted or unsupported archive or member; an absolute
    name, a ``..`` component or a name the master keeps (``jobfile``, ``.jobhome``,
    ``.disco``); and any symbolic link. Links are refused outright rather than resolved:
    the original client zips files with ``ZipFile.write`` (links followed, never stored)
    and the real master's unzip writes every entry as a regular file, so no job pack
    needs one, and a home without links cannot be redirected. Every name is checked before
    anything is written. Executable bits kept. Only the entries ``write`` accepts are
    written (every entry is checked).
    """
    import io

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_ERRORS as e:
        raise JobPackError(f"jobhome is not a zip archive: {e}") from None
    written: list[str] = []
    with archive:
        infos = archive.infolist()
        targets = []
        real_home = os.path.realpath(home)
        # Every name is checked before anything is written: a directory's real path is the
        # same for each entry in it.
        seen: dict[Path, str] = {}
        for info in infos:
            target = _checked_member(home, info.filename, real_home, seen)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise JobPackError(
                    f"jobhome entry {info.filename!r}: a symbolic link (job homes hold none)"
                )
            targets.append(target)
        for info, target in zip(infos, targets, strict=True):
            if not write(info.filename):
                continue
            try:
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                _write_member(archive, info, target)
            except _ZIP_ERRORS as e:
                raise JobPackError(f"jobhome entry {info.filename!r}: {e}") from None
            except (FileExistsError, NotADirectoryError, IsADirectoryError) as e:
                # A file and a directory of one name, or a member beneath a file.
                raise JobPackError(
                    f"jobhome entry {info.filename!r}: clashes with another entry: {e.strerror}"
                ) from None
            if (info.external_attr >> 16) & 0o111:
                os.chmod(target, 0o755)
            written.append(info.filename)
    return written


#: The job home's directory of packages and modules (first on the workers' PYTHONPATH).
LIB: Final = "lib"
#: A shared ``lib`` no job has used for this many days is removed.
LIB_KEEP_DAYS: Final = 7
#: Written in a shared ``lib`` copy before it is renamed into place: a copy without it, or
#: without any of its files (someone deleted part of it), is made again.
LIB_MARKER: Final = ".discoworker-lib-complete"


def _all(name: str) -> bool:
    return True


def _in_lib(name: str) -> bool:
    return name.startswith(LIB + "/")


def _shareable_lib(jobhome: bytes) -> bool:
    """True when the job home has a ``lib/`` (and no file named ``lib``): it may be shared."""
    import io

    try:
        names = zipfile.ZipFile(io.BytesIO(jobhome)).namelist()
    except _ZIP_ERRORS:
        return False  # safe_unzip says why
    return LIB not in names and any(_in_lib(n) and not n.endswith("/") for n in names)


def _lib_digest(jobhome: bytes) -> tuple[str, list[str]]:
    """SHA-256 of the ``lib/`` entries of a (checked) job home: each entry's name, mode, sizes,
    CRC and its bytes as stored (local header and compressed data, which decompress to one
    content only), and the entries' names below ``lib/``. Nothing is decompressed: the same
    content stored otherwise gets a copy of its own, never another's."""
    import hashlib
    import io

    digest = hashlib.sha256()
    data = memoryview(jobhome)
    names: list[str] = []
    with zipfile.ZipFile(io.BytesIO(jobhome)) as archive:
        for info in archive.infolist():
            if _in_lib(info.filename) and not info.is_dir():
                names.append(info.filename[len(LIB) + 1 :])
                start = info.header_offset
                # The local header: 30 bytes, then the name and extra field it gives lengths of.
                try:
                    name_len, extra_len = struct.unpack_from("<HH", jobhome, start + 26)
                except struct.error:
                    raise JobPackError(f"jobhome entry {info.filename!r}: cut short") from None
                end = start + 30 + name_len + extra_len + info.compress_size
                if end > len(jobhome):
                    raise JobPackError(f"jobhome entry {info.filename!r}: cut short")
                digest.update(b"%d %s %d %d %d %d %o\n" % (
                    len(info.filename), info.filename.encode(), info.file_size, info.CRC,
                    info.compress_type, end - start, (info.external_attr >> 16) & 0o111,
                ))
                digest.update(data[start:end])
    return digest.hexdigest(), names


def _complete_lib(shared: Path, names: Iterable[str] = ()) -> bool:
    """True when the shared copy ``shared`` has its marker and every file of ``names``."""
    try:
        if not os.path.isfile(shared / LIB_MARKER):
            return False
        return all(os.path.isfile(os.path.join(shared, name)) for name in names)
    except OSError:  # e.g. a name too long for this file system
        return False


def _empty_trash(trash: Path) -> None:
    """Delete what purges put in ``trash`` (another process may be deleting it too)."""
    with contextlib.suppress(OSError):
        for entry in trash.iterdir():
            shutil.rmtree(entry, ignore_errors=True)


def _remove_read_only(tree: Path) -> None:
    for path, _, _ in os.walk(tree):
        with contextlib.suppress(OSError):
            os.chmod(path, 0o755)
    shutil.rmtree(tree, ignore_errors=True)


@attrs.define
class Store:
    """The embedded master's files under one data directory (see the module docstring)."""

    root: Path = attrs.field(converter=abspath)
    host: str = "localhost"
    #: Where the shared ``lib/`` copies are kept for every data dir of this user (the master
    #: passes its cache, ``bootstrap.default_libs_dir``); None, or a directory this process
    #: cannot write: the data dir's own ``.master/libs``.
    libs: Path | None = attrs.field(
        default=None, converter=attrs.converters.optional(abspath), kw_only=True
    )
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False)
    #: Whether this store's thread emptying the trash runs (one at a time, whatever the purges).
    _sweeping: bool = attrs.field(default=False, init=False)

    @property
    def disco_data(self) -> Path:
        """The ``disco_data`` directory a task is told (the root itself)."""
        return self.root

    @property
    def ddfs_data(self) -> Path:
        """Where the local DDFS keeps tags and blobs."""
        return self.root / ".ddfs"

    def job_home(self, jobname: str) -> Path:
        """``<root>/<host>/<2 hex>/<jobname>``."""
        return self.root / job_path(self.host, _checked_name(jobname))

    @property
    def state_dir(self) -> Path:
        """The master's own files under the data dir: jobs' state and events, unpacked libs
        (without a cache), fork servers' run directories, the trash."""
        return self.root / ".master"

    def _meta(self, jobname: str) -> Path:
        return self.state_dir / "jobs" / _checked_name(jobname)

    # --- job homes ----------------------------------------------------------------------

    def create_job_home(self, jobname: str, jobpack: bytes, jobhome: bytes, worker: str) -> Path:
        """Unpack the job home once: zip (safely), ``jobfile``, ``.jobhome``, worker mode 755.

        On a refused zip the half-made job home is removed and JobPackError raised.
        """
        home = self.job_home(jobname)
        home.mkdir(parents=True, exist_ok=False)
        try:
            if jobhome:
                shares_lib = _shareable_lib(jobhome)
                safe_unzip(jobhome, home, (lambda n: not _in_lib(n)) if shares_lib else _all)
                if shares_lib:
                    os.symlink(self._shared_lib(jobhome), home / LIB, target_is_directory=True)
            (home / ".disco").mkdir(exist_ok=True)
            (home / "jobfile").write_bytes(jobpack)
            worker_path = _checked_member(home, worker)
            if worker_path.is_file() and not worker_path.is_symlink():
                os.chmod(worker_path, 0o755)
            (home / ".jobhome").touch()
        except BaseException:
            shutil.rmtree(home, ignore_errors=True)
            raise
        return home

    @property
    def own_libs(self) -> Path:
        """The data dir's own shared ``lib/`` copies (used when ``libs`` cannot be)."""
        return self.state_dir / "libs"

    def _shared_lib(self, jobhome: bytes) -> Path:
        """The shared ``lib/`` of this job home, unpacked once per content.

        Every job packed by the same discoworker (and dependencies, and modules) ships the
        same ``lib/``: unpacking and compiling it for each job was most of a small job's
        start. Named by the SHA-256 of its entries' names and bytes and kept in ``libs``, so a
        new data dir finds it made and compiled. Made beside and renamed, so a job never sees
        half of one (masters of other data dirs may be making the same one at once); a copy
        missing its marker or a file is made again. Ones unused for ``LIB_KEEP_DAYS`` are
        removed when a new one is made.
        """
        digest, names = _lib_digest(jobhome)
        if self.libs is not None:
            try:
                return self._lib_in(self.libs, digest, names, jobhome)
            except OSError:
                pass  # a cache this process cannot write: the data dir's own, as without one
        return self._lib_in(self.own_libs, digest, names, jobhome)

    def _lib_in(self, libs: Path, digest: str, names: list[str], jobhome: bytes) -> Path:
        shared = libs / digest
        if _complete_lib(shared, names):
            with contextlib.suppress(OSError):
                os.utime(shared)  # in use: kept
            return shared
        libs.mkdir(parents=True, exist_ok=True)
        made = Path(tempfile.mkdtemp(dir=libs, prefix=".new-"))
        try:
            safe_unzip(jobhome, made, _in_lib)
            (made / LIB / LIB_MARKER).touch()
            # Sources read-only; directories stay writable for the bytecode the job's fork
            # server writes on its first import (fork_server_main.preload), once for all jobs.
            for path, _dirs, files in os.walk(made / LIB):
                for name in files:
                    os.chmod(os.path.join(path, name), 0o444)
            if os.path.lexists(shared) and not _complete_lib(shared, names):
                # Part of it deleted: set aside (whoever uses it meanwhile reads it by its
                # path, which is whole again once ours is renamed in) and made again.
                with contextlib.suppress(FileNotFoundError):
                    os.rename(shared, made / "broken")
            try:
                os.rename(made / LIB, shared)
            except OSError:
                if not _complete_lib(shared, names):  # not made by another master meanwhile
                    raise
                _remove_read_only(made / LIB)
        finally:
            _remove_read_only(made)
        self._prune_libs(libs, keep=shared)
        if libs != self.own_libs:
            self._prune_libs(self.own_libs, keep=shared)  # copies made before the cache
        return shared

    def recent_lib(self) -> Path | None:
        """The shared ``lib/`` a job used last, in any data dir using ``libs`` (the next job
        most likely ships the same)."""
        found: list[tuple[float, Path]] = []
        for libs in (self.libs, self.own_libs):
            if libs is None:
                continue
            try:
                entries = list(libs.iterdir())
            except OSError:
                continue
            for entry in entries:
                if entry.name.startswith(".") or not _complete_lib(entry):
                    continue
                with contextlib.suppress(OSError):
                    found.append((entry.stat().st_mtime, entry))
        return max(found)[1] if found else None

    def _prune_libs(self, libs: Path, keep: Path) -> None:
        too_old = time.time() - LIB_KEEP_DAYS * 86400
        try:
            entries = list(libs.iterdir())
        except OSError:
            return
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry != keep and entry.stat().st_mtime < too_old:
                    _remove_read_only(entry)

    def jobfile(self, jobname: str) -> Path:
        """The job pack as submitted, kept in the job home."""
        return self.job_home(jobname) / "jobfile"

    def write_index(
        self, jobname: str, stage: str, taskid: int, entries: Iterable[IndexEntry]
    ) -> str:
        """Write a task's index file and return its ``dir://`` URL."""
        micros = time.time_ns() // 1000
        name = index_file_name(stage, taskid, micros)
        atomic_write(self.job_home(jobname) / name, format_index(entries))
        return index_url(self.host, jobname, stage, taskid, micros)

    # --- events -------------------------------------------------------------------------

    def add_event(self, jobname: str, host: str, message: str, now: float | None = None) -> None:
        """Append one event line ``["time","host","message"]`` (compact JSON, as rawevents)."""
        line = json.dumps([event_time(now), host, message], separators=(",", ":")) + "\n"
        data = memoryview(line.encode("utf-8"))
        path = self._meta(jobname) / "events"
        with self._lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                start = os.fstat(fd).st_size
                try:
                    while data:
                        data = data[os.write(fd, data) :]
                except OSError:
                    # Half a line (a full disk) would swallow the next one: take it back.
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, start)
                    raise
            finally:
                os.close(fd)

    def read_events(self, jobname: str, offset: int = 0) -> bytes:
        """The events file from byte ``offset`` (the ``Range: bytes=N-`` of rawevents)."""
        path = self._meta(jobname) / "events"
        try:
            with open(path, "rb") as f:
                f.seek(max(0, offset))
                return f.read()
        except FileNotFoundError:
            return b""

    # --- job state ----------------------------------------------------------------------

    def save_state(self, jobname: str, state: dict[str, Any]) -> None:
        """Persist the job's state object atomically.

        The first save also sets aside ``STATE_RESERVE`` bytes of disk: when the disk is full
        later, the job's final state (dead or ready) is written there and renamed into place,
        so other processes never see an ended job as active.
        """
        data = json.dumps(state, separators=(",", ":")).encode("utf-8")
        meta = self._meta(jobname)
        reserve = meta / "state.reserve"
        try:
            atomic_write(meta / "state.json", data)
            if not reserve.exists():
                try:
                    _reserve(reserve, STATE_RESERVE)
                except OSError as e:
                    # A filesystem that cannot allocate ahead goes without; a full one fails.
                    if e.errno in (errno.ENOSPC, errno.EDQUOT):
                        raise
        except OSError as e:
            final = state.get("status") != ACTIVE
            if not final or e.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            if len(data) > STATE_RESERVE:
                raise
            try:
                fd = os.open(reserve, os.O_WRONLY)
            except OSError:
                raise e from None
            try:
                # Blocks allocated at the reserve's making: this write needs no new space.
                os.pwrite(fd, data, 0)
                os.ftruncate(fd, len(data))
            finally:
                os.close(fd)
            os.replace(reserve, meta / "state.json")

    def load_state(self, jobname: str) -> dict[str, Any] | None:
        """The job's state, or None for an unknown job.

        A job left ``active`` by a master process that is gone reads as ``dead``.
        """
        try:
            raw = (self._meta(jobname) / "state.json").read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        state: dict[str, Any] = json.loads(raw)
        pid = state.get("pid")
        if (
            state.get("status") == ACTIVE
            and isinstance(pid, int)
            and not _pid_alive(pid, state.get("pid_start"))
        ):
            state["status"] = DEAD
            state["error"] = (
                f"Job killed: the process that ran its embedded master (pid {pid}) ended "
                f"before the job did"
            )
            self._record_orphan(jobname, state)
        return state

    def _record_orphan(self, jobname: str, state: dict[str, Any]) -> None:
        # The master was killed (SIGKILL, SIGTERM) and could not say so: the first reader does,
        # once (the marker is created exclusively), so the job's events tell what happened.
        meta = self._meta(jobname)
        try:
            os.close(os.open(meta / "orphan", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except OSError:
            return
        with contextlib.suppress(OSError):
            self.add_event(jobname, "master", f"ERROR: {state['error']}")
            self.add_event(jobname, "master", "WARN: Job killed")
            self.save_state(jobname, state)

    # --- a kill asked by another process ------------------------------------------------

    def request_kill(self, jobname: str, why: str) -> None:
        """Ask the process that runs ``jobname`` to kill it (it looks for this file)."""
        atomic_write(self._meta(jobname) / "kill", why.encode("utf-8"))

    def kill_request(self, jobname: str) -> str | None:
        """Why another process asked to kill ``jobname``; None when none did."""
        try:
            return (self._meta(jobname) / "kill").read_text("utf-8", "replace")
        except OSError:
            return None

    def job_names(self) -> Iterator[str]:
        """The names of every job with a state file."""
        jobs = self.state_dir / "jobs"
        if not jobs.is_dir():
            return
        for entry in jobs.iterdir():
            if (entry / "state.json").is_file():
                yield entry.name

    def purge(self, jobname: str) -> None:
        """Remove the job home and the job's state and events.

        They leave their places at once (renamed into ``.master/trash``); their files are
        deleted meanwhile by a thread of this process, or, if it ends first, by a later purge.
        Deleting a job's many small directories took longer than the job itself.
        """
        trash = self.state_dir / "trash"
        with contextlib.suppress(OSError):
            trash.mkdir(parents=True, exist_ok=True)
        for path in (self.job_home(jobname), self._meta(jobname)):
            try:
                os.rename(path, tempfile.mkdtemp(dir=trash, prefix=f"{jobname}."))
            except FileNotFoundError:
                continue
            except OSError:
                shutil.rmtree(path, ignore_errors=True)
        with self._lock:
            if self._sweeping:
                return  # the running sweep looks again before it ends
            self._sweeping = True
        threading.Thread(target=self._sweep, args=(trash,), name="purge", daemon=True).start()

    def _sweep(self, trash: Path) -> None:
        # One sweep at a time: it looks again under the lock before it ends, so a purge that
        # saw it running has its files deleted by it. What it cannot delete (nothing of the
        # trash went away in a whole pass) is left for a later purge.
        before: set[str] = set()
        while True:
            _empty_trash(trash)
            with self._lock:
                try:
                    left = {entry.name for entry in trash.iterdir()}
                except OSError:
                    left = set()
                if not left or left == before:
                    self._sweeping = False
                    return
            before = left

    def clean(self, jobname: str) -> None:
        """Forget the job's state and events; its data stays."""
        shutil.rmtree(self._meta(jobname), ignore_errors=True)
