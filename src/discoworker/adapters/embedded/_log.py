"""The embedded master's own log: structlog over the standard library's logging.

Silent unless the application configures ``logging`` (``discoworker`` at DEBUG shows every
protocol exchange of every task), so the master's events never mix with a job's results.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog


def get_logger(name: str) -> Any:
    """A structlog logger writing key-value lines to the stdlib logger ``name``."""
    return structlog.wrap_logger(
        logging.getLogger(name),
        processors=[structlog.processors.KeyValueRenderer(key_order=["event"])],
    )
