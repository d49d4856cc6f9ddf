"""The seed's input readers: gzip, gzipped lines, and a regular-expression reader.

Where the original printed a message (and, on a node, the worker sent it to the master),
these write it to ``sys.stderr``; a worker turns its stderr into protocol ``MSG``s.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from gzip import GzipFile
from typing import Any

from discoworker.domain.records import BinaryReader
from discoworker.errors import DataError

__all__ = ["gzip_line_reader", "gzip_reader", "re_reader"]


def _seekless(fd: BinaryReader) -> Any:
    # GzipFile's stub asks for seek(), used only by GzipFile.seek(): reading needs read().
    return fd


def gzip_reader(
    fd: BinaryReader, size: int | None, url: str, params: object
) -> tuple[GzipFile, int | None, str]:
    """Wraps the input in a :class:`gzip.GzipFile` object (an input stream of the chain)."""
    return GzipFile(fileobj=_seekless(fd)), size, url


def gzip_line_reader(
    fd: BinaryReader, size: int | None, url: str, params: object
) -> Iterator[bytes]:
    """Yields the lines (ends kept) of the gzipped ``fd``; on failure, says why and stops.

    As in the original, a damaged or non-gzip input ends the lines early and is not an error:
    the exception's text goes to stderr.
    """
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
