"""Disco's record formats: the internal hunked format and the old netstring (v0) format.

Pure codecs: they never open files, they call ``read`` / ``write`` on a stream they are given.

*Internal format* (``DiscoOutputStream`` writes it, ``disco_input_stream`` reads it): a stream
of hunks, each a 14-byte ``<BBIQ`` header (version ``0x81``, compressed flag, CRC32 of the
uncompressed data, payload length) and a payload (zlib level 2 by default, raw at level 0).
A hunk's data is ``pickle.dumps(record, 1)`` of each record, concatenated; a hunk is flushed
after the record that takes its data past ``min_hunk_size``; ``close()`` appends an empty hunk
that ends the stream. The bytes written equal the original library's for the same records.

*v0 / old netstring format*: ``"<klen> <key> <vlen> <value>\\n"`` per record, ``str()`` of
both, lengths in characters (so non-ASCII text does not round-trip, as in the original).

Where the original crashes or hangs on bad input, these raise :class:`DataError` instead:

- a record the unpickler rejects raises DataError (the original let all but
  ``UnpicklingError`` escape), and with ``ignore_corrupt`` such a record is skipped;
  damaged hunks are unpickled by pickle's pure-Python unpickler, whose memo is a dict (the
  C one zero-fills a memo as large as any index it reads: gigabytes, from one bad byte);
- Python 2 ``str`` records are decoded as UTF-8 (ASCII ones give the original's results;
  the original crashed on the others); ones that are not UTF-8 raise DataError;
- a payload cut short raises DataError naming the URL and the hunk's byte range;
- a negative length in the netstring format raises DataError (the original could loop
  forever), and so does text that is not UTF-8 (the original raised UnicodeDecodeError).

Nothing is allocated beyond what the data holds, even when a damaged hunk's checksum matches:

- a hunk's data is at most :data:`MAX_HUNK_SIZE` (64 MiB) bytes, and the writer never writes a
  larger one (ValueError: a record that big is a job's bug). A reader inflates at most that
  much (a zlib bomb stops there: DataError), and refuses a payload length past it unread;
- before the fast C unpickler sees a hunk, :func:`_plain_pickles` walks its opcodes: every
  string's length must fit in the hunk, every memo index (``PUT``/``LONG_BINPUT``) must be
  below the hunk's size, and the hunk must end with a whole record. CPython's C unpickler
  (before 3.15) zero-fills a memo as large as any index it reads and reserves whatever a
  string length claims: 1 GiB from a 43-byte hunk. A hunk that fails the walk is read by
  pickle's pure-Python unpickler instead (its memo is a dict, its reads are what is there);
- a record cut short, at the end of a hunk, is a DataError, never dropped in silence.
"""

from __future__ import annotations

import codecs
import io
import pickle
import re
import struct
import zlib
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from itertools import accumulate, islice, repeat
from pickle import dumps
from typing import Any, ClassVar, Final, Protocol, cast

import attrs

from discoworker.errors import DataError

__all__ = [
    "DEFAULT_COMPRESSION_LEVEL",
    "HEADER_SIZE",
    "HUNK_VERSION",
    "MAX_HUNK_SIZE",
    "MIN_HUNK_SIZE",
    "PICKLE_PROTOCOL",
    "PY2_STR_ENCODING",
    "BinaryReader",
    "BinaryWriter",
    "DiscoOutputStream",
    "HunkHeader",
    "PlainOutputStream",
    "chain_reader",
    "disco_input_stream",
    "disco_output_stream",
    "encode_hunk",
    "old_netstr_reader",
]

MiB: Final = 1024 * 1024
#: The first byte of every hunk written (``128 + 1``); never checked when reading.
HUNK_VERSION: Final = 0x81
#: A hunk header: version byte, compressed flag, CRC32 of the data, payload length.
HEADER_SIZE: Final = 14
MIN_HUNK_SIZE: Final = MiB
#: The most data a hunk may hold, inflated: the writer refuses to write more, readers to read.
MAX_HUNK_SIZE: Final = 64 * MiB
# zlib's worst expansion of incompressible data: 5 bytes per 16 KiB block, and its frame.
_MAX_PAYLOAD: Final = MAX_HUNK_SIZE + MAX_HUNK_SIZE // 16384 * 5 + 64
DEFAULT_COMPRESSION_LEVEL: Final = 2
PICKLE_PROTOCOL: Final = 1
#: How Python 2 ``str`` records are decoded (the original used ASCII and crashed otherwise).
PY2_STR_ENCODING: Final = "utf-8"

_HEADER: Final = struct.Struct("<BBIQ")
# The header after its first byte: that byte is read alone to spot the old netstring format.
_HEADER_TAIL: Final = struct.Struct("<BIQ")
# Pickles are sized (and hunks cut) in batches this large: cheaper than sizing each record.
_SETTLE_EVERY: Final = 2048
# The most read at once: a corrupt length field must not make us ask for terabytes.
_MAX_READ: Final = 16 * MiB
_NETSTR_READ: Final = 8192
# A length field is at most 10 characters and its space.
_NETSTR_LENGTH_WINDOW: Final = 11


class BinaryReader(Protocol):
    """Anything with a binary ``read(n)``: a file, a socket file, an HTTP response."""

    def read(self, size: int, /) -> bytes:
        """At most ``size`` bytes; ``b""`` at the end."""
        ...


class BinaryWriter(Protocol):
    """Anything with a binary ``write(data)``."""

    def write(self, data: bytes, /) -> object:
        """Write all of ``data``."""
        ...


@attrs.frozen
class HunkHeader:
    """The 14-byte header in front of each hunk's payload."""

    compressed: bool
    checksum: int
    length: int
    version: int = HUNK_VERSION

    def pack(self) -> bytes:
        """The header's bytes."""
        return _HEADER.pack(self.version, int(self.compressed), self.checksum, self.length)

    @classmethod
    def unpack(cls, data: bytes) -> HunkHeader:
        """Read a header from its 14 bytes (struct.error when there are fewer)."""
        version, compressed, checksum, length = _HEADER.unpack(data)
        return cls(bool(compressed), checksum, length, version)


def encode_hunk(data: bytes, compression_level: int = DEFAULT_COMPRESSION_LEVEL) -> bytes:
    """One hunk (header and payload) holding ``data``; compressed when the level is above 0."""
    checksum = zlib.crc32(data)
    compressed = compression_level > 0
    payload = zlib.compress(data, compression_level) if compressed else data
    return _HEADER.pack(HUNK_VERSION, compressed, checksum, len(payload)) + payload


# --------------------------------------------------------------------------------- writing


class DiscoOutputStream:
    """Writes records to ``stream`` in Disco's internal format, byte-identical to the original.

    ``version=0`` gives a :class:`PlainOutputStream` (the v0 format), as the original did.
    """

    def __new__(
        cls,
        stream: BinaryWriter,
        version: int = -1,
        compression_level: int = DEFAULT_COMPRESSION_LEVEL,
        min_hunk_size: int = MIN_HUNK_SIZE,
        max_record_size: int | None = None,
    ) -> DiscoOutputStream:
        """Pick the writer: v0, size-checked, or the plain fast one."""
        target: type[DiscoOutputStream] = cls
        if cls is DiscoOutputStream:
            if version == 0:
                target = PlainOutputStream
            elif max_record_size:
                # A subclass, so the common writer's append carries no size check at all.
                target = _SizeCheckedOutputStream
        return object.__new__(target)

    def __init__(
        self,
        stream: BinaryWriter,
        version: int = -1,
        compression_level: int = DEFAULT_COMPRESSION_LEVEL,
        min_hunk_size: int = MIN_HUNK_SIZE,
        max_record_size: int | None = None,
    ) -> None:
        if compression_level > 9:
            raise ValueError(f"compression_level must be at most 9, got {compression_level}")
        self.stream = stream
        # Like the original, any version but 0 writes version 1 hunks (first byte 0x81).
        self.version = 1
        self.compression_level = compression_level
        self.min_hunk_size = min_hunk_size
        self.max_record_size = max_record_size
        # Pickles not yet sized: sizing (and so cutting hunks) is done in batches, since
        # where a hunk ends depends only on the pickles' sizes, never on when we look.
        self._pending: list[bytes] = []
        # Sized pickles of the open hunk, and their total size.
        self._hunk: list[bytes] = []
        self._hunk_size = 0
        self._written = 0

    def add(self, key: Any, value: Any) -> None:
        """Append the record ``(key, value)``."""
        pending = self._pending
        pending.append(dumps((key, value), PICKLE_PROTOCOL))
        if len(pending) >= _SETTLE_EVERY:
            self._settle()

    def append(self, record: Any) -> None:
        """Append one record (normally a ``(key, value)`` tuple), pickled now."""
        pending = self._pending
        pending.append(dumps(record, PICKLE_PROTOCOL))
        if len(pending) >= _SETTLE_EVERY:
            self._settle()

    def extend(self, records: Iterable[Any]) -> None:
        """Append many records: the same bytes as ``append`` of each, faster."""
        iterator = iter(records)
        while True:
            batch = list(islice(iterator, _SETTLE_EVERY))
            if not batch:
                return
            # list.extend keeps what map gave before a failing record, as append would.
            self._pending.extend(map(dumps, batch, repeat(PICKLE_PROTOCOL)))
            self._settle()

    @property
    def size(self) -> int:
        """Bytes written to the stream so far (whole hunks only)."""
        self._settle()
        return self._written

    def close(self) -> None:
        """Write what is left and the empty end-marker hunk (again at each call, as before)."""
        self._settle()
        if self._hunk_size:
            self._write_hunk(b"".join(self._hunk))
            self._hunk = []
            self._hunk_size = 0
        self._write_hunk(b"")

    def _settle(self) -> None:
        """Size the pending pickles and write every hunk they complete."""
        pending = self._pending
        if not pending:
            return
        self._pending = []
        # totals[i]: bytes of the open hunk plus the first i pending pickles.
        totals = list(accumulate(map(len, pending), initial=self._hunk_size))
        limit = self.min_hunk_size
        count = len(pending)
        start = 0  # the first pending pickle not yet written
        base = 0  # totals[] value where the open hunk began
        while True:
            # The first record taking the hunk strictly past the limit ends it.
            end = bisect_right(totals, base + limit, start + 1)
            if end > count:
                break
            parts = pending[start:end]
            if start == 0 and self._hunk:
                parts = self._hunk + parts
            self._write_hunk(b"".join(parts))
            self._hunk = []
            start, base = end, totals[end]
        if start == 0:
            self._hunk.extend(pending)
        else:
            self._hunk = pending[start:]
        self._hunk_size = totals[count] - base

    def _write_hunk(self, data: bytes) -> None:
        if len(data) > MAX_HUNK_SIZE:
            # Readers refuse such a hunk as a zlib bomb would be refused: fail here, saying why.
            raise ValueError(
                f"a hunk of {len(data)} bytes is larger than MAX_HUNK_SIZE ({MAX_HUNK_SIZE}): "
                "a record (or min_hunk_size) that large cannot be read back"
            )
        hunk = encode_hunk(data, self.compression_level)
        self.stream.write(hunk)
        self._written += len(hunk)


class _SizeCheckedOutputStream(DiscoOutputStream):
    """The writer with a ``max_record_size``: ValueError for a larger record, as before."""

    def add(self, key: Any, value: Any) -> None:
        """Append ``(key, value)``; ValueError if its pickle exceeds ``max_record_size``."""
        self.append((key, value))

    def append(self, record: Any) -> None:
        """Append a record; ValueError if its pickle exceeds ``max_record_size``."""
        data = dumps(record, PICKLE_PROTOCOL)
        limit = self.max_record_size
        if limit and len(data) > limit:
            raise ValueError(f"Record of size {len(data)} is larger than max_record_size: {limit}")
        self._pending.append(data)
        if len(self._pending) >= _SETTLE_EVERY:
            self._settle()

    def extend(self, records: Iterable[Any]) -> None:
        """Append each record in turn, stopping at the first one too large."""
        for record in records:
            self.append(record)


class PlainOutputStream(DiscoOutputStream):
    """The v0 writer: ``"<klen> <key> <vlen> <value>\\n"`` of ``str(key)``, ``str(value)``.

    The original's v0 writer took no other options (TypeError); so does this one, when given
    values other than the defaults.
    """

    def __init__(
        self,
        stream: BinaryWriter,
        version: int = 0,
        compression_level: int = DEFAULT_COMPRESSION_LEVEL,
        min_hunk_size: int = MIN_HUNK_SIZE,
        max_record_size: int | None = None,
    ) -> None:
        if (
            compression_level != DEFAULT_COMPRESSION_LEVEL
            or min_hunk_size != MIN_HUNK_SIZE
            or max_record_size is not None
        ):
            raise TypeError(
                "the v0 output stream takes no compression_level, min_hunk_size or max_record_size"
            )
        self.stream = stream
        self.version = 0
        self.compression_level = 0
        self.min_hunk_size = min_hunk_size
        self.max_record_size = None
        self._written = 0

    def add(self, key: Any, value: Any) -> None:
        """Write one line-ish record; lengths count characters, as in the original."""
        k, v = str(key), str(value)
        data = f"{len(k)} {k} {len(v)} {v}\n".encode()
        self.stream.write(data)
        self._written += len(data)

    def append(self, record: Any) -> None:
        """Write the record ``(key, value)``."""
        key, value = record
        self.add(key, value)

    def extend(self, records: Iterable[Any]) -> None:
        """Write each record in turn."""
        for key, value in records:
            self.add(key, value)

    @property
    def size(self) -> int:
        """Bytes written to the stream so far."""
        return self._written

    def close(self) -> None:
        """Nothing to finish: the v0 format has no end marker."""


def disco_output_stream(
    stream: BinaryWriter, partition: object, url: str, params: object
) -> tuple[DiscoOutputStream, str]:
    """Output stream for Disco's internal compression format (seed: ``task_io``)."""
    return DiscoOutputStream(stream), url


# --------------------------------------------------------------------------------- reading


def _read_upto(read: Any, size: int) -> bytes:
    """``size`` bytes, or fewer only at the end of the stream; never one huge request."""
    data: bytes = read(min(size, _MAX_READ))
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        chunk: bytes = read(min(size - got, _MAX_READ))
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _skip(read: Any, size: int) -> None:
    """Read past ``size`` bytes without keeping them."""
    while size > 0:
        chunk: bytes = read(min(size, _MAX_READ))
        if not chunk:
            return
        size -= len(chunk)


def _hunk_data(payload: bytes, length: int, compressed: int, checksum: int) -> tuple[bytes, str]:
    """The hunk's data, and what is wrong with it ("" when nothing is)."""
    if compressed:
        inflater = zlib.decompressobj()
        try:
            # Never more than a writer can have written: a zlib bomb stops here.
            data = inflater.decompress(payload, MAX_HUNK_SIZE + 1)
        except zlib.error as exc:
            return b"", str(exc)
        if len(data) > MAX_HUNK_SIZE:
            return b"", f"Hunk inflates past MAX_HUNK_SIZE ({MAX_HUNK_SIZE} bytes)"
        if not inflater.eof:
            # A payload cut short, with zlib's own message (as the original).
            return b"", "Error -5 while decompressing data: incomplete or truncated stream"
    else:
        data = payload
        if len(payload) < length:
            return data, f"Truncated hunk: expected {length} bytes, got {len(payload)}"
    if zlib.crc32(data) != checksum:
        return data, "Checksum does not match"
    return data, ""


# --- the opcode walk that decides whether the C unpickler may read a hunk -------------------

# Opcodes whose argument is fixed in size and claims nothing (no length, no memo slot to
# make): a run of them is skipped by one regex match. LONG_BINPUT with an index below 2**16
# is here; strings of up to 31 bytes too (the common short key), each by its length byte.
_NOARG: Final = b"().012NQRabdelost}])u\x81\x85\x86\x87\x88\x89\x8f\x90\x91\x92\x93\x94"
_SHORT: Final = 32


def _counted(prefix_zeros: int) -> bytes:
    return b"|".join(
        re.escape(bytes([n]) + b"\0" * prefix_zeros) + (b"[\\x00-\\xff]{%d}" % n if n else b"")
        for n in range(_SHORT)
    )


# A whole flat record as ``pickle.dumps(record, 1)`` writes a tuple of short strings and
# numbers, ``(X<n><n bytes>q<i>K<b>tq<i>.``: by far the commonest hunk content, matched in one
# step of the run (three times faster than opcode by opcode). Every opcode in it is one the
# general alternatives below accept on the same terms.
_FLAT_RECORD: Final = (
    b"\\((?:X(?:"
    + _counted(3)
    + b")q[\\x00-\\xff]|K[\\x00-\\xff]|M[\\x00-\\xff]{2}|J[\\x00-\\xff]{4}|G[\\x00-\\xff]{8}|N)*"
    + b"tq[\\x00-\\xff]\\."
)
# Group 1: the last step of the run, a flat record or one opcode.
_OPCODE_RUN: Final = re.compile(
    b"(?:(" + _FLAT_RECORD + b"|["
    + re.escape(_NOARG)
    + b"]|[Kqh\\x80\\x82][\\x00-\\xff]|[M\\x83][\\x00-\\xff]{2}|[Jj\\x84][\\x00-\\xff]{4}"
    + b"|G[\\x00-\\xff]{8}|r[\\x00-\\xff]{2}\\x00\\x00|[XTB](?:"
    + _counted(3)
    + b")|[UC\\x8a\\x8c](?:"
    + _counted(0)
    + b")))*+",
    re.DOTALL,
)
_LEN4: Final = struct.Struct("<I")
_LEN8: Final = struct.Struct("<Q")
_STOP: Final = ord(".")
_MARK: Final = ord("(")
_LINE_OPS: Final = frozenset(b"IFLSVPgp")
_TWO_LINE_OPS: Final = frozenset(b"ci")


def _plain_pickles(data: bytes) -> bool:
    """True when ``data`` is whole pickles that claim no more than they hold.

    Walks the opcodes as the unpickler will: every counted string fits in ``data``, every
    memo index it stores is below ``len(data)``, no out-of-band buffer, and the last opcode
    is a STOP. Anything else (even what is merely unusual) is left to the safe unpickler.
    """
    end = len(data)
    pos = 0
    run = _OPCODE_RUN.match
    len4 = _LEN4.unpack_from
    while True:
        match = run(data, pos)
        if match is None:  # never: the run may be empty
            return False
        pos = match.end()
        if pos >= end:
            # The run ended with a STOP, or with a flat record (which ends with one): the only
            # step that starts with MARK and is longer than one byte.
            last = match.start(1)
            return last >= 0 and (data[last] == _STOP or (data[last] == _MARK and end - last > 1))
        op = data[pos]
        if op in b"XTB\x8b":
            pos += 5 + len4(data, pos + 1)[0] if pos + 5 <= end else end + 1
        elif op in b"UC\x8a\x8c":
            pos += 2 + data[pos + 1] if pos + 2 <= end else end + 1
        elif op == 0x72:  # LONG_BINPUT: the C unpickler's memo grows to twice the index
            if pos + 5 > end or len4(data, pos + 1)[0] >= end:
                return False
            pos += 5
        elif op in b"\x8d\x8e\x95":  # 8-byte lengths: BINUNICODE8, BINBYTES8, FRAME
            if pos + 9 > end:
                return False
            size = _LEN8.unpack_from(data, pos + 1)[0]
            if pos + 9 + size > end:
                return False
            pos += 9 if op == 0x95 else 9 + size  # a frame's content is opcodes: walk on
        elif op in _LINE_OPS or op in _TWO_LINE_OPS:
            line_end = data.find(b"\n", pos + 1)
            if line_end < 0:
                return False
            if op == 0x70:  # PUT: a memo index in decimal
                digits = data[pos + 1 : line_end]
                if not digits.isdigit() or len(digits) > 9 or int(digits) >= end:
                    return False
            if op in _TWO_LINE_OPS:
                line_end = data.find(b"\n", line_end + 1)
                if line_end < 0:
                    return False
            pos = line_end + 1
        else:
            return False
        if pos > end:
            return False


def _describe(exc: BaseException) -> str:
    if isinstance(exc, pickle.UnpicklingError):
        return str(exc)  # the original's message
    if isinstance(exc, UnicodeDecodeError):
        return f"a Python 2 str that is not {PY2_STR_ENCODING}: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _refuse_bytearray8(unpickler: pickle.Unpickler) -> None:
    # Protocol 5's BYTEARRAY8 zero-fills its declared length before reading: a damaged length
    # would be gigabytes of memset. Disco writes protocol 1 and never uses it.
    raise pickle.UnpicklingError("BYTEARRAY8 in a protocol 1 stream")


class _SalvageUnpickler(pickle._Unpickler):
    """pickle's pure-Python unpickler, safe on damaged bytes: its memo is a dict.

    The C unpickler sizes its memo by the largest index seen: a damaged ``LONG_BINPUT``
    makes it allocate and zero gigabytes. Damaged data only ever reaches this one.
    """

    dispatch: ClassVar[dict[int, Callable[[pickle.Unpickler], None]]] = {
        **pickle._Unpickler.dispatch,
        pickle.BYTEARRAY8[0]: _refuse_bytearray8,
    }


def _salvage(
    data: bytes, *, skip: int, start: int, end: int, url: str, ignore_corrupt: bool
) -> Iterator[Any]:
    """Read a damaged hunk the original's way, a fresh unpickler per record, after ``skip``.

    Each record starts where the last one's reading stopped, so what ``ignore_corrupt``
    skips is what the original skipped.
    """
    stream = io.BytesIO(data)
    size = len(data)
    while True:
        at = stream.tell()
        try:
            record = _SalvageUnpickler(stream, encoding=PY2_STR_ENCODING).load()
        except EOFError as exc:
            if at >= size:
                return
            # A record begun and not finished: the hunk lost its end.
            if not ignore_corrupt:
                message = (
                    f"Corrupted data between bytes {start}-{end}: a record cut short "
                    f"at byte {at} of the hunk's {size}"
                )
                raise DataError(message, url) from exc
            return
        except Exception as exc:  # any failure of the unpickler is bad data
            if not ignore_corrupt:
                message = f"Corrupted data between bytes {start}-{end}: {_describe(exc)}"
                raise DataError(message, url) from exc
            continue  # each failed load consumed at least one byte: this ends
        if skip:
            skip -= 1
            continue
        yield record


def disco_input_stream(
    stream: BinaryReader, size: int | None, url: str, ignore_corrupt: bool = False
) -> Iterator[Any]:
    """Input stream for Disco's internal compression format: yields its records.

    Reads one hunk at a time. A first byte below 128 where a hunk should start hands the rest
    to :func:`old_netstr_reader`. Bad data raises :class:`DataError`; with
    ``ignore_corrupt=True`` (a real bool: the classic worker's params object, which the
    original took as true, is ignored) a hunk failing its checksum is still read, one whose
    zlib data is bad is dropped, and a record that fails to unpickle is skipped.
    """
    skip_corrupt = ignore_corrupt is True
    read = stream.read
    unpickler = pickle.Unpickler
    # Offsets in messages count payload bytes only, headers excluded, as the original did.
    offset = 0
    while True:
        first = read(1)
        if not first:
            return
        if first[0] < 128:
            yield from old_netstr_reader(stream, size, url, first)
            return
        tail = _read_upto(read, _HEADER_TAIL.size)
        if len(tail) < _HEADER_TAIL.size:
            raise DataError(f"Truncated data at {offset} bytes", url)
        compressed, checksum, length = _HEADER_TAIL.unpack(tail)
        if not length:
            return
        start = offset
        offset += length
        if length > _MAX_PAYLOAD:
            # Not read into memory: no writer makes a hunk this large.
            fault = f"Hunk of {length} bytes is larger than MAX_HUNK_SIZE ({MAX_HUNK_SIZE})"
            if not skip_corrupt:
                raise DataError(f"Corrupted data between bytes {start}-{offset}: {fault}", url)
            _skip(read, length)
            continue
        payload = _read_upto(read, length)
        data, fault = _hunk_data(payload, length, compressed, checksum)
        if fault:
            if not skip_corrupt:
                raise DataError(f"Corrupted data between bytes {start}-{offset}: {fault}", url)
            yield from _salvage(data, skip=0, start=start, end=offset, url=url, ignore_corrupt=True)
            continue
        if not _plain_pickles(data):
            # What the C unpickler must not see (or merely cannot be vouched for): read it
            # the safe way, which also names the fault.
            yield from _salvage(
                data, skip=0, start=start, end=offset, url=url, ignore_corrupt=skip_corrupt
            )
            continue
        # One unpickler for the whole hunk, over a buffered reader (it prefetches with peek):
        # several times faster than pickle.load per record. The shared memo cannot change a
        # record, as each pickle defines every memo entry it uses.
        buffered = io.BufferedReader(cast(io.RawIOBase, io.BytesIO(data)))
        load = unpickler(buffered, encoding=PY2_STR_ENCODING).load
        count = 0
        while True:
            try:
                record = load()
            except EOFError:
                break
            except Exception:
                # Re-read the hunk the original's way (a fresh unpickler per record) for its
                # error, or what ignore_corrupt skips; records already given are skipped.
                yield from _salvage(
                    data,
                    skip=count,
                    start=start,
                    end=offset,
                    url=url,
                    ignore_corrupt=skip_corrupt,
                )
                break
            yield record
            count += 1


#: Input stream for Disco's internal compression format (the same function).
chain_reader = disco_input_stream


class _NetstrText:
    """The text of an old netstring stream, decoded as UTF-8 as it is needed."""

    def __init__(self, fd: BinaryReader, fname: str, head: bytes) -> None:
        self.read = fd.read
        self.fname = fname
        # Incremental, so a character split across two reads is no error (the original's was).
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.text = ""
        self.pos = 0
        self.eof = False
        self.bytes_seen = 0
        self._feed(head, final=False)

    def _feed(self, chunk: bytes, final: bool) -> None:
        try:
            decoded = self.decoder.decode(chunk, final)
        except UnicodeDecodeError as exc:
            where = self.bytes_seen + exc.start
            raise DataError(f"Corrupted input: not UTF-8 text at byte {where}", self.fname) from exc
        self.bytes_seen += len(chunk)
        if self.pos:
            self.text = self.text[self.pos :] + decoded
            self.pos = 0
        else:
            self.text += decoded

    def available(self, wanted: int) -> int:
        """Characters after ``pos``: ``wanted`` of them, or fewer at the end of the input."""
        while len(self.text) - self.pos < wanted and not self.eof:
            missing = wanted - (len(self.text) - self.pos)
            chunk = self.read(min(missing + _NETSTR_READ, _MAX_READ))
            self.eof = not chunk
            self._feed(chunk, final=self.eof)
        return len(self.text) - self.pos

    def field(self, tot: int) -> tuple[str, int]:
        """The next ``<len> <text><sep>`` field and the new character count ``tot``."""
        self.available(_NETSTR_LENGTH_WINDOW)
        text, pos = self.text, self.pos
        space = text.find(" ", pos, pos + _NETSTR_LENGTH_WINDOW)
        length = -1
        if space != -1:
            lenstr = text[pos : space + 1]
            try:
                length = int(lenstr)
            except ValueError:
                length = -1
        # A negative length would walk backwards (the original could loop for ever).
        if length < 0:
            raise DataError(
                f"Corrupted input: Could not parse a value length at {tot} bytes.", self.fname
            )
        tot += space + 1 - pos
        self.pos = space + 1
        if self.available(length + 1) < length + 1:
            raise DataError(
                f"Truncated input: Expected a value of {length + 1} bytes (offset {tot} bytes)",
                self.fname,
            )
        pos = self.pos
        value = self.text[pos : pos + length]
        # The separator after the value is skipped unread, as in the original.
        self.pos = pos + length + 1
        return value, tot + length + 1


def old_netstr_reader(
    fd: BinaryReader, size: int | None, fname: str, head: bytes = b""
) -> Iterator[tuple[str, str]]:
    """Reader for Disco's old netstring format: ``(key, value)`` str pairs.

    ``size`` is required (ValueError "Content-length must be defined" otherwise); like the
    original it counts characters against it, and ``head`` is input already read from ``fd``.
    """
    if size is None:
        raise ValueError("Content-length must be defined")
    text = _NetstrText(fd, fname, head)
    tot = 0
    while tot < size:
        key, tot = text.field(tot)
        value, tot = text.field(tot)
        yield key, value
