"""I/O utilities for Disco tasks (seed: ``disco.worker.task_io``).

Stream functions take ``(stream, size, url, params)`` and return the next stream of a chain;
readers turn the last stream into records; ``disco_*`` is Disco's internal record format.
A classic map reads lines as ``str`` (:func:`text_line_reader`, UTF-8; bytes that are not
UTF-8 kept as surrogates) from every scheme; ``map_reader=bytes_line_reader`` gives bytes,
``stream_line_reader`` what Disco 0.5 gave (bytes, but str from ``raw://``).
"""

from discoworker.app.readers import (
    bytes_line_reader,
    bytes_to_str,
    gzip_line_reader,
    gzip_reader,
    re_reader,
    str_to_bytes,
    stream_line_reader,
    text_line_reader,
)
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
    "bytes_line_reader",
    "bytes_to_str",
    "chain_reader",
    "disco_input_stream",
    "disco_output_stream",
    "gzip_line_reader",
    "gzip_reader",
    "input_stream",
    "old_netstr_reader",
    "output_stream",
    "re_reader",
    "str_to_bytes",
    "stream_line_reader",
    "task_input_stream",
    "task_output_stream",
    "text_line_reader",
]
