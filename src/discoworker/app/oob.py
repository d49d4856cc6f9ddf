"""Out-of-band results: small values a task stores under a key, beside its outputs.

As a real Disco master keeps them: each value is a DDFS blob named after its key, in the tag
``disco:job:oob:<jobname>`` (pushed through the DDFS of the task's master). A client lists
and reads them with ``Job.oob_list()`` / ``Job.oob_get(key)``; a later task of the same job
reads them with :func:`get` (a reduce may read what the maps put).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable

from discoworker.app.context import current_context
from discoworker.app.ports import Ddfs
from discoworker.errors import CommError, DiscoError

# DDFS names: what a key may hold, as a tag or blob name (1 to 256 characters for a key).
_KEY = re.compile(r"[A-Za-z0-9_\-@:]{1,256}\Z")


def oob_tag(jobname: str) -> str:
    """The DDFS tag that holds the out-of-band results of ``jobname``."""
    return f"disco:job:oob:{jobname}"


def blob_key(url: str) -> str:
    """The key of an out-of-band blob URL: its last path segment without ``$<stamp>``."""
    return url.rsplit("/", 1)[-1].split("$", 1)[0]


def check_key(key: str) -> str:
    """``key`` itself; DiscoError when DDFS could not name a blob with it."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise DiscoError(f"OOB key {key!r} is not 1 to 256 of the characters A-Z a-z 0-9 _ - @ :")
    return key


def put(key: str, value: bytes | bytearray | memoryview) -> None:
    """Store ``value`` (bytes) as the running job's out-of-band result ``key``.

    Keys should be unique in a job; if one is put twice, readers get the first.
    """
    from discoworker.app.bootstrap import node_ddfs

    check_key(key)
    if not isinstance(value, bytes | bytearray | memoryview):
        raise DiscoError(f"an OOB value must be bytes, not {type(value).__name__}")
    task = current_context().task
    node_ddfs(task).push(oob_tag(task.jobname), key, io.BytesIO(bytes(value)))


def get(key: str) -> bytes:
    """The running job's out-of-band result ``key`` (put by an earlier task); KeyError if none."""
    from discoworker.app.bootstrap import node_ddfs

    context = current_context()
    task = context.task
    return read_result(node_ddfs(task), task.jobname, key, context.read_bytes)


def result_keys(ddfs: Ddfs, jobname: str) -> list[str]:
    """The keys of ``jobname``'s out-of-band results, each once, newest first (as DDFS lists
    their blobs)."""
    return list(dict.fromkeys(blob_key(reps[0]) for reps in _blobs(ddfs, jobname) if reps))


def read_result(
    ddfs: Ddfs, jobname: str, key: str, read_bytes: Callable[[str], bytes]
) -> bytes:
    """``jobname``'s out-of-band result ``key``, from the first readable replica of its blob.

    KeyError when the job put no such key.
    """
    check_key(key)
    for replicas in _blobs(ddfs, jobname):
        if not replicas or blob_key(replicas[0]) != key:
            continue
        error: Exception | None = None
        for url in replicas:
            try:
                return read_bytes(url)
            except DiscoError as exc:  # the next replica may be readable
                error = exc
        assert error is not None
        raise error
    raise KeyError(f"no out-of-band result {key!r} in job {jobname}")


def _blobs(ddfs: Ddfs, jobname: str) -> list[list[str]]:
    try:
        urls: list[list[str]] = ddfs.get(oob_tag(jobname))["urls"]
    except CommError as exc:
        if exc.code == 404:  # no task has put anything (or no such job)
            return []
        raise
    return urls
