"""The ``http://`` scheme's input stream (``disco.schemes.scheme_http``)."""

from disco.schemes import input_stream, open

__all__ = ["input_stream", "open"]
