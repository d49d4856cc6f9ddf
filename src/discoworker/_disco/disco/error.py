"""The original's error classes (``disco.error``), which are discoworker's."""

from discoworker.errors import (
    CommError,
    DataError,
    DiscoError,
    FatalError,
    JobError,
    ModUtilImportError,
)

__all__ = ["CommError", "DataError", "DiscoError", "FatalError", "JobError", "ModUtilImportError"]
