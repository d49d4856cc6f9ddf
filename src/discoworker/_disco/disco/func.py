"""The old home of the classic job functions (``disco.func``)."""

from disco.worker.classic.func import *  # noqa: F403
from disco.worker.classic.func import __all__  # noqa: F401
