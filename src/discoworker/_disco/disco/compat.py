"""The Python 3 side of the original's 2/3 shims (``disco.compat``): the names jobs import."""

from __future__ import annotations

import http.client as httplib
import http.server as http_server
import pickle
import socketserver as socket_server
from hashlib import md5
from io import BytesIO, StringIO
from io import FileIO as file  # noqa: N813 - the original's name
from itertools import zip_longest
from typing import Any
from urllib.parse import urlencode

from discoworker.compat import bytes_to_str, str_to_bytes

__all__ = [
    "BytesIO", "StringIO", "UnpicklingError", "basestring", "bytes_of_int", "bytes_to_str",
    "file", "force_ascii", "force_utf8", "http_server", "httplib", "int_of_byte",
    "integer_types", "persistent_hash", "pickle_dump", "pickle_dumps", "pickle_load",
    "pickle_loads", "socket_server", "str_to_bytes", "urlencode", "zip_longest",
]

basestring = str
integer_types = (int,)
pickle_loads, pickle_dumps = pickle.loads, pickle.dumps
pickle_load, pickle_dump = pickle.load, pickle.dump
UnpicklingError = pickle.UnpicklingError


def bytes_of_int(i: int) -> bytes:
    """The one byte of value ``i``."""
    return bytes((i,))


def int_of_byte(b: int) -> int:
    """A byte's value (indexing bytes already gives it on Python 3)."""
    return b


def force_utf8(string: Any) -> Any:
    """``string`` itself: Python 3 text is already Unicode."""
    return string


def force_ascii(string: str) -> str:
    """``string`` with every non-ASCII character dropped."""
    return string.encode("ascii", "ignore").decode("ascii")


def persistent_hash(value: Any) -> int:
    """A hash of ``str(value)`` that is the same in every process (MD5 based)."""
    return int(md5(str_to_bytes(str(value))).hexdigest(), 16)
