"""Module discovery (``disco.worker.classic.modutil``), as ``disco.worker.modutil``."""

from disco.worker.modutil import *  # noqa: F403
from disco.worker.modutil import __all__  # noqa: F401
