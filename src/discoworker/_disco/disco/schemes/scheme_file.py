"""The ``file://`` scheme's input stream (``disco.schemes.scheme_file``)."""

from disco.schemes import input_stream, open

__all__ = ["input_stream", "open"]
