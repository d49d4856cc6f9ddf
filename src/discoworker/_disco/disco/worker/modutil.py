"""Module discovery for ``required_modules`` (``disco.worker.modutil``), discoworker's."""

from discoworker.modutil import (
    ModUtilImportError,
    find_modules,
    locate_modules,
    parse_function,
)

__all__ = ["ModUtilImportError", "find_modules", "locate_modules", "parse_function"]
