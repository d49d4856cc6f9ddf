"""MD5, as Disco uses it for names (a job's directory fan-out, the default partition).

CPython's own ``_md5`` is preferred to ``hashlib``'s: for inputs of a few bytes it is about
twice as fast (OpenSSL's per-call set-up costs more than the hashing), and importing it costs
a task almost nothing where ``hashlib`` loads OpenSSL (a few milliseconds of every worker's
start). The digests are the same.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Protocol


class Digest(Protocol):
    """What an MD5 hash object gives."""

    def digest(self) -> bytes: ...
    def hexdigest(self) -> str: ...


def _fastest() -> Callable[[bytes], Digest]:
    try:
        found: Callable[[bytes], Digest] = importlib.import_module("_md5").md5
    except (ImportError, AttributeError):  # a build without it
        import hashlib

        return hashlib.md5
    return found


#: ``md5(data)``: a hash object with ``digest()`` and ``hexdigest()``.
md5: Callable[[bytes], Digest] = _fastest()
