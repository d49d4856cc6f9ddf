"""Every error a discoworker user may catch, each saying what went wrong and where.

The worker maps them onto the protocol: a :class:`DataError` (or an ``OSError`` /
``MemoryError``) ends a task with ``ERROR`` so the master retries it; anything else ends it
with ``FATAL`` and the job fails.
"""

from __future__ import annotations


class DiscoError(Exception):
    """The base of discoworker's own errors."""


class DataError(DiscoError):
    """Input or data trouble at ``url``: transient, the task is retried.

    ``str()`` reads like the original's: ``Unable to access resource (URL): MSG``.
    """

    def __init__(self, msg: str, url: str = "", code: int | None = None) -> None:
        super().__init__(msg, url, code)
        self.msg = msg
        self.url = url
        self.code = code

    def __str__(self) -> str:
        return f"Unable to access resource ({self.url}): {self.msg}"


class FatalError(DiscoError):
    """A bug in the job or its configuration: the job fails, it is not retried."""


class IndexFileError(FatalError, ValueError):
    """A ``dir://`` index file that is not ``<label> <url> <size>`` lines (names URL and line).

    Fatal, as the original's ValueError was: a malformed index does not mend on a retry.
    """

    def __init__(self, msg: str, url: str = "") -> None:
        super().__init__(msg, url)
        self.msg = msg
        self.url = url

    def __str__(self) -> str:
        return f"{self.msg} ({self.url})" if self.url else self.msg


class InputURLError(FatalError):
    """An input URL that no attempt can read, as one of an unknown scheme: after the other
    replicas of its input were tried, the job ends at once (a retry reads the same URL)."""

    def __init__(self, msg: str, url: str) -> None:
        super().__init__(msg, url)
        self.msg = msg
        self.url = url

    def __str__(self) -> str:
        return f"cannot read {self.url}: {self.msg}"


class ProtocolError(DiscoError):
    """A message of the Disco Worker Protocol that breaks the rules, or a peer that went away."""


class JobPackError(DiscoError):
    """A job pack whose bytes are malformed; the message names the fault and its offset."""


class JobDictError(DiscoError):
    """A jobdict the master would refuse; the message is the master's reason."""


class CommError(DiscoError):
    """A master or DDFS that could not be reached, or answered with an error."""

    def __init__(self, msg: str, url: str = "", code: int | None = None) -> None:
        super().__init__(msg, url, code)
        self.msg = msg
        self.url = url
        self.code = code

    def __str__(self) -> str:
        where = f" ({self.url})" if self.url else ""
        status = f" [HTTP {self.code}]" if self.code is not None else ""
        return f"{self.msg}{where}{status}"


class JobError(DiscoError):
    """A job that died on its master; carries the job name and the master's reason.

    When a task's failure ended it, also that task (``map:0``), the input it was reading, the
    last lines it printed and its traceback (the whole of it, as in the job's events).
    """

    def __init__(
        self,
        jobname: str,
        reason: str,
        *,
        task: str = "",
        input: str = "",
        printed: tuple[str, ...] = (),
        traceback: str = "",
    ) -> None:
        super().__init__(jobname, reason)
        self.jobname = jobname
        self.reason = reason
        self.task = task
        self.input = input
        self.printed = printed
        self.traceback = traceback

    def __str__(self) -> str:
        return f"Job {self.jobname} failed: {self.reason}"


class JobArgumentError(DiscoError, TypeError):
    """A job argument the job's worker does not know, or an input it cannot read.

    Raised on the client before anything is submitted; the message names the argument and
    what would be valid.
    """


class ModUtilImportError(DiscoError, ImportError):
    """A module used by a job function that cannot be located (seed: ``modutil``)."""

    def __init__(self, error: str, function: object) -> None:
        super().__init__(error, function)
        self.error = error
        self.function = function

    def __str__(self) -> str:
        name = getattr(self.function, "__name__", repr(self.function))
        return (
            f"{self.error}: could not locate a module that {name}() uses; is its name right? "
            "List it in required_modules to send or import it explicitly."
        )
