"""Stream functions and readers (``disco.worker.task_io``), discoworker's."""

from discoworker.task_io import (
    DiscoOutputStream,
    InputStream,
    OutputStream,
    chain_reader,
    disco_input_stream,
    disco_output_stream,
    gzip_line_reader,
    gzip_reader,
    input_stream,
    old_netstr_reader,
    output_stream,
    re_reader,
    task_input_stream,
    task_output_stream,
)

__all__ = [
    "DiscoOutputStream", "InputStream", "OutputStream", "chain_reader", "chain_stream",
    "default_stream", "disco_input_stream", "disco_output_stream", "gzip_line_reader",
    "gzip_reader", "gzip_stream", "input_stream", "old_netstr_reader", "output_stream",
    "re_reader", "task_input_stream", "task_output_stream",
]

#: Ready-made input chains: the task's own opener, then a reader.
default_stream = (task_input_stream,)
chain_stream = (task_input_stream, chain_reader)
gzip_stream = (task_input_stream, gzip_reader)
gzip_line_stream = (task_input_stream, gzip_line_reader)
