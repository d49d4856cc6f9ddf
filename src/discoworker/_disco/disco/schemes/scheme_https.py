"""The ``https://`` scheme's input stream (``disco.schemes.scheme_https``)."""

from disco.schemes import input_stream, open

__all__ = ["input_stream", "open"]
