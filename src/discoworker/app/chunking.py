"""Chunking (``ddfs chunk``): records cut into DDFS blobs of about a given size.

Each chunk is a whole file of Disco's record format, so a job reads a chunked tag with the
default record reader, one map task per chunk, as on Disco.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from discoworker.app.ports import Ddfs
from discoworker.domain.records import DiscoOutputStream

#: Disco's defaults: a chunk is cut once its compressed hunks pass 64 MB; a record over 1 MB
#: (pickled) is refused, naming its size.
CHUNK_SIZE = 64 * 1024**2
MAX_RECORD_SIZE = 1024**2


def record_chunks(
    records: Iterable[Any], chunk_size: int = CHUNK_SIZE, max_record_size: int = MAX_RECORD_SIZE
) -> Iterator[bytes]:
    """``records`` as files of Disco's record format, each cut once its written hunks pass
    ``chunk_size`` bytes; nothing at all for no records."""
    records = iter(records)
    while True:
        out = io.BytesIO()
        stream = DiscoOutputStream(out, max_record_size=max_record_size)
        wrote = False
        for record in records:
            stream.append(record)
            wrote = True
            # The size counts whole hunks only (a hunk closes at 1 MB of pickles), so a chunk
            # is cut at a hunk's end, as Disco's Chunker cuts it.
            if stream.size > chunk_size:
                break
        else:
            if wrote:
                stream.close()
                yield out.getvalue()
            return
        stream.close()
        yield out.getvalue()


def chunk(
    ddfs: Ddfs,
    tag: str,
    inputs: Iterable[Sequence[str]],
    records_of: Callable[[Sequence[str]], Iterable[Any]],
    *,
    chunk_size: int = CHUNK_SIZE,
    max_record_size: int = MAX_RECORD_SIZE,
    update: bool = False,
) -> list[list[str]]:
    """Store the records of each input (its replica URLs; ``records_of`` reads them) as chunk
    blobs named ``<input's file name>-<n>``, then add them all to ``tag`` in one update (which
    makes the tag even for no chunks); their replicas, in order."""
    blobs: list[list[str]] = []
    for replicas in inputs:
        base = os.path.basename(replicas[0].rstrip("/")) or "chunk"
        chunks = record_chunks(records_of(replicas), chunk_size, max_record_size)
        for n, data in enumerate(chunks):
            blobs.append(ddfs.store(f"{base}-{n}", io.BytesIO(data)))
    ddfs.tag(tag, blobs, update=update)
    return blobs
