"""The job pack: a 128-byte header, then jobdict (JSON), jobenvs (JSON), jobhome (ZIP), jobdata.

Pure bytes in, bytes out. :meth:`JobPack.dumps` gives the original client's bytes exactly;
:meth:`JobPack.loads` applies the master's header rules and says which offset is at fault.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from typing import Any, Final, Protocol

import attrs

from discoworker.errors import JobPackError

#: The upper 16 bits of the first header word.
MAGIC: Final = 0xD5C0
#: The classic jobdict (``input``, ``map?``, ``reduce?``...).
VERSION_1: Final = 0x0001
#: The pipeline jobdict (``pipeline``, ``inputs``).
VERSION_2: Final = 0x0002
SUPPORTED_VERSIONS: Final = frozenset({VERSION_1, VERSION_2})
#: The header's size, and so the jobdict's offset, which the master requires exactly.
HEADER_SIZE: Final = 128

# Five big-endian u32: magic<<16|version, then the four field offsets.
_HEADER: Final = struct.Struct("!IIIII")
_U32_MAX: Final = 0xFFFFFFFF


class _Readable(Protocol):
    def read(self) -> bytes: ...


class _Seekable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...
    def seek(self, offset: int, whence: int = 0, /) -> int: ...


@attrs.frozen
class JobPackHeader:
    """The decoded header: version and the byte offsets of the four fields."""

    version: int
    jobdict_offset: int
    jobenvs_offset: int
    jobhome_offset: int
    jobdata_offset: int

    def dumps(self) -> bytes:
        """The 128 header bytes: five big-endian u32, then zero padding."""
        words = (
            (MAGIC << 16) | self.version,
            self.jobdict_offset,
            self.jobenvs_offset,
            self.jobhome_offset,
            self.jobdata_offset,
        )
        if not 0 <= self.version <= 0xFFFF or not all(0 <= w <= _U32_MAX for w in words):
            raise JobPackError(f"job pack header out of range for 32-bit offsets: {words}")
        return _HEADER.pack(*words).ljust(HEADER_SIZE, b"\0")


def header(data: bytes, size: int | None = None) -> JobPackHeader:
    """Decode and check the header of ``data`` by the master's rules; JobPackError if broken.

    ``size``: the whole pack's, when ``data`` is only its beginning.
    """
    size = len(data) if size is None else size
    if len(data) < _HEADER.size:
        raise JobPackError(
            f"truncated job pack: {len(data)} bytes, the header needs {_HEADER.size} "
            f"(at offset {len(data)})"
        )
    word, dict_off, envs_off, home_off, data_off = _HEADER.unpack_from(data)
    magic, version = word >> 16, word & 0xFFFF
    if magic != MAGIC:
        raise JobPackError(f"invalid header: bad magic 0x{magic:04x} at offset 0 (0xd5c0 expected)")
    if version not in SUPPORTED_VERSIONS:
        raise JobPackError(f"unsupported version '{version}' at offset 2 (1 or 2 expected)")
    if dict_off != HEADER_SIZE:
        raise JobPackError(
            f"invalid header: jobdict offset {dict_off} at offset 4 ({HEADER_SIZE} expected)"
        )
    # The jobdict may not be empty (strictly greater), the other fields may.
    if envs_off <= dict_off:
        raise JobPackError(
            f"invalid header: jobenvs offset {envs_off} at offset 8 is not after "
            f"the jobdict offset {dict_off}"
        )
    if home_off < envs_off:
        raise JobPackError(
            f"invalid header: jobhome offset {home_off} at offset 12 is before "
            f"the jobenvs offset {envs_off}"
        )
    if data_off < home_off:
        raise JobPackError(
            f"invalid header: jobdata offset {data_off} at offset 16 is before "
            f"the jobhome offset {home_off}"
        )
    if data_off > size:
        raise JobPackError(
            f"truncated job pack: jobdata offset {data_off} at offset 16 is past "
            f"the end of the {size}-byte pack"
        )
    return JobPackHeader(version, dict_off, envs_off, home_off, data_off)


def _reject_constant(name: str) -> Any:
    # Python's json would accept NaN/Infinity; the master's JSON parser does not.
    raise ValueError(f"non-standard JSON constant {name}")


def _json_object(data: bytes, start: int, end: int, field: str) -> dict[str, Any]:
    raw = data[start:end]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise JobPackError(
            f"{field} at offset {start}: invalid UTF-8 at offset {start + e.start}"
        ) from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        where = start + len(text[: e.pos].encode("utf-8"))
        raise JobPackError(
            f"{field} at offset {start}: invalid JSON at offset {where}: {e.msg}"
        ) from None
    except (ValueError, RecursionError) as e:
        # ValueError: e.g. an integer past int_max_str_digits; RecursionError: deep nesting.
        raise JobPackError(f"{field} at offset {start}: invalid JSON: {e}") from None
    if not isinstance(value, dict):
        raise JobPackError(
            f"{field} at offset {start}: a JSON object expected, {type(value).__name__} found"
        )
    return value


def _json_bytes(obj: Mapping[str, Any], field: str) -> bytes:
    # The original's json.dumps defaults: separators ", " and ": ", ensure_ascii (so the
    # bytes are ASCII), insertion key order. NaN/Infinity are refused: the master can't parse.
    try:
        return json.dumps(obj, allow_nan=False).encode("ascii")
    except (TypeError, ValueError) as e:
        raise JobPackError(f"{field} is not JSON-encodable: {e}") from None


@attrs.frozen
class JobPack:
    """A job pack's four fields and its version (1: classic jobdict, 2: pipeline jobdict)."""

    version: int
    jobdict: Mapping[str, Any]
    jobenvs: Mapping[str, str]
    jobhome: bytes
    jobdata: bytes

    def dumps(self) -> bytes:
        """Serialize byte-identically to the original ``disco.job.JobPack.dumps``."""
        if self.version not in SUPPORTED_VERSIONS:
            raise JobPackError(f"unsupported version '{self.version}' (1 or 2 expected)")
        jobdict = _json_bytes(self.jobdict, "jobdict")
        jobenvs = _json_bytes(self.jobenvs, "jobenvs")
        envs_off = HEADER_SIZE + len(jobdict)
        home_off = envs_off + len(jobenvs)
        data_off = home_off + len(self.jobhome)
        head = JobPackHeader(self.version, HEADER_SIZE, envs_off, home_off, data_off).dumps()
        return b"".join((head, jobdict, jobenvs, self.jobhome, self.jobdata))

    @classmethod
    def loads(cls, data: bytes) -> JobPack:
        """Parse a whole job pack; JobPackError names the fault and its offset."""
        h = header(data)
        jobdict = _json_object(data, h.jobdict_offset, h.jobenvs_offset, "jobdict")
        jobenvs = _json_object(data, h.jobenvs_offset, h.jobhome_offset, "jobenvs")
        return cls(
            version=h.version,
            jobdict=jobdict,
            jobenvs=jobenvs,
            jobhome=bytes(data[h.jobhome_offset : h.jobdata_offset]),
            jobdata=bytes(data[h.jobdata_offset :]),
        )

    @classmethod
    def load(cls, file: _Readable) -> JobPack:
        """Read a binary file to its end and parse it as :meth:`loads` does."""
        return cls.loads(file.read())


def read_jobdata(file: _Seekable) -> bytes:
    """The jobdata of a job pack file, its header checked: what a task needs of the pack,
    without reading the job home (most of the file) or the JSON the master has checked."""
    head = file.read(HEADER_SIZE)
    h = header(head, size=file.seek(0, 2))
    file.seek(h.jobdata_offset)
    return file.read()
