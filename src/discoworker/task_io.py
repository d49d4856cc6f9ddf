"""I/O utilities for Disco tasks (seed: ``disco.worker.task_io``).

Stream functions take ``(stream, size, url, params)`` and return the next stream of a chain;
readers turn the last stream into records; ``disco_*`` is Disco's internal record format.
"""

from discoworker.app.readers import gzip_line_reader, gzip_reader, re_reader
from discoworker.app.streams import (
    InputStream,
    OutputStream,
    disco_output_stream,
    input_stream,
    output_stream,
    task_input_stream,
    task_output_stream,
)
from discoworker.domain.records import (
    DiscoOutputStream,
    chain_reader,
    disco_input_stream,
    old_netstr_reader,
)

__all__ = [
    "DiscoOutputStream",
    "InputStream",
    "OutputStream",
    "chain_reader",
    "disco_input_stream",
    "disco_output_stream",
    "gzip_line_reader",
    "gzip_reader",
    "input_stream",
    "old_netstr_reader",
    "output_stream",
    "re_reader",
    "task_input_stream",
    "task_output_stream",
]
