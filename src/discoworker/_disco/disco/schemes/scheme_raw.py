"""The ``raw://`` scheme (``disco.schemes.scheme_raw``): the data is the rest of the URL."""

from __future__ import annotations

import io
import urllib.parse
from typing import Any

__all__ = ["input_stream"]


def input_stream(stream: Any, size: Any, url: str, params: Any) -> tuple[io.StringIO, int, str]:
    """A text stream of what follows ``raw://`` in ``url``, its length and the URL."""
    text = urllib.parse.unquote(url.partition("://")[2])
    return io.StringIO(text), len(text), url
