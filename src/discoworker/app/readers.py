"""Input readers: text and bytes lines, gzip, gzipped lines, and a regular-expression reader.

A line of input is text: UTF-8 decoded with ``errors="surrogateescape"``, so that no byte is
lost. A byte that is not UTF-8 becomes a lone surrogate (``b"\xff"`` -> ``"\udcff"``), and
``line.encode("utf-8", "surrogateescape")`` gives the input's exact bytes back. A job that
wants bytes reads with :func:`bytes_line_reader`.

Where the original printed a message (and, on a node, the worker sent it to the master),
these write it to ``sys.stderr``; a worker turns its stderr into protocol ``MSG``s.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from discoworker.domain.records import BinaryReader
from discoworker.errors import DataError

if TYPE_CHECKING:
    # Imported where used: the classic map imports this module for its line reader.
    from gzip import GzipFile

__all__ = [
    "bytes_line_reader",
    "bytes_to_str",
    "gzip_line_reader",
    "gzip_reader",
    "re_reader",
    "str_to_bytes",
    "text_line_reader",
]

#: How bytes become text and back, everywhere a line is read: no byte lost, none invented.
ENCODING, ERRORS = "utf-8", "surrogateescape"


def bytes_to_str(data: bytes | bytearray | str) -> str:
    """``data`` as text (UTF-8, bytes that are not UTF-8 kept as surrogates); str passes through.

    The original's ``disco.compat.bytes_to_str``, so jobs calling it on lines keep working.
    """
    if isinstance(data, str):
        return data
    return bytes(data).decode(ENCODING, ERRORS)


def str_to_bytes(text: str | bytes | bytearray) -> bytes:
    """``text`` as UTF-8 bytes (surrogates from :func:`bytes_to_str` back to their bytes);
    bytes pass through. The original's ``disco.compat.str_to_bytes``."""
    if isinstance(text, bytes | bytearray):
        return bytes(text)
    return text.encode(ENCODING, ERRORS)


def text_line_reader(
    fd: Any, size: int | None, url: str, params: object = None
) -> Iterable[Any]:
    """The classic map's default reader: each line of the input as ``str``, its end kept.

    A binary stream is decoded as UTF-8 (see the module's rule for other bytes); lines end at
    ``"\n"`` only, as bytes lines do. A text stream (``raw://``) is read as it is. A stream
    whose iteration yields something else (records of a custom chain) has its ``bytes``
    items decoded and the rest passed through.
    """
    if isinstance(fd, io.TextIOBase):
        return fd
    if isinstance(fd, io.BufferedIOBase | io.RawIOBase):
        # TextIOWrapper decodes and splits in C: about as fast as iterating bytes lines.
        binary: Any = fd
        return io.TextIOWrapper(binary, encoding=ENCODING, errors=ERRORS, newline="\n")
    return _decoded(fd)


def _decoded(items: Iterable[Any]) -> Iterator[Any]:
    for item in items:
        if isinstance(item, bytes | bytearray):
            yield bytes(item).decode(ENCODING, ERRORS)
        else:
            yield item


def bytes_line_reader(
    fd: Any, size: int | None, url: str, params: object = None
) -> Iterable[Any]:
    """A ``map_reader`` giving each line of the input as ``bytes``, its end kept.

    ``Job.run(..., map_reader=bytes_line_reader)``: the input's exact bytes, whatever the
    scheme (``raw://`` text is encoded back to the bytes of its URL).
    """
    if isinstance(fd, io.BufferedIOBase | io.RawIOBase):
        return fd
    return _encoded(fd)


def stream_line_reader(
    fd: Any, size: int | None, url: str, params: object = None
) -> Iterable[Any]:
    """A ``map_reader`` giving lines as the input's stream gives them, as Disco 0.5 did under
    Python 3: ``bytes`` from files, HTTP and DDFS, ``str`` from ``raw://``.

    The default of jobs written with the ``disco`` names, whose tests and code expect it.
    """
    lines: Iterable[Any] = fd
    return lines


def _encoded(items: Iterable[Any]) -> Iterator[Any]:
    for item in items:
        yield item.encode(ENCODING, ERRORS) if isinstance(item, str) else item


def _seekless(fd: BinaryReader) -> Any:
    # GzipFile's stub asks for seek(), used only by GzipFile.seek(): reading needs read().
    return fd


def gzip_reader(
    fd: BinaryReader, size: int | None, url: str, params: object
) -> tuple[GzipFile, int | None, str]:
    """Wraps the input in a :class:`gzip.GzipFile` object (an input stream of the chain)."""
    from gzip import GzipFile

    return GzipFile(fileobj=_seekless(fd)), size, url


def gzip_line_reader(
    fd: BinaryReader, size: int | None, url: str, params: object
) -> Iterator[bytes]:
    """Yields the lines (ends kept) of the gzipped ``fd``; on failure, says why and stops.

    As in the original, a damaged or non-gzip input ends the lines early and is not an error:
    the exception's text goes to stderr.
    """
    from gzip import GzipFile

    try:
        yield from GzipFile(fileobj=_seekless(fd))
    except Exception as exc:  # the original's contract: report and stop
        print(exc, file=sys.stderr)


def re_reader(  # noqa: PLR0917 - the seed's signature
    item_re_str: str | bytes | re.Pattern[Any],
    fd: BinaryReader,
    size: int | None,
    fname: str,
    output_tail: bool = False,
    read_buffer_size: int = 8192,
) -> Iterator[tuple[Any, ...] | list[bytes]]:
    """Yields ``match.groups()`` of the pattern matched repeatedly at the start of the input.

    Reads ``read_buffer_size`` bytes at a time (at most ``size`` in all when ``size`` is
    truthy; DataError if the input ends before). Unmatched bytes left at the end are yielded
    as ``[tail]`` with ``output_tail``, else reported on stderr and dropped.
    """
    item_re: re.Pattern[Any] = re.compile(item_re_str)
    buf = b""
    tot = 0
    while True:
        chunk = fd.read(min(read_buffer_size, size - tot) if size else read_buffer_size)
        tot += len(chunk)
        buf += chunk
        # Slicing (not match(buf, pos)) keeps "^" and lookbehinds meaning what they did.
        match = item_re.match(buf)
        while match:
            yield match.groups()
            buf = buf[match.end() :]
            match = item_re.match(buf)
        if not chunk or (size is not None and tot >= size):
            if size is not None and tot < size:
                raise DataError(f"Truncated input: Expected {size} bytes, got {tot}", fname)
            if buf:
                if output_tail:
                    yield [buf]
                else:
                    print(
                        f"Couldn't match the last {len(buf)} bytes in {fname}. "
                        "Some bytes may be missing from input.",
                        file=sys.stderr,
                    )
            return
