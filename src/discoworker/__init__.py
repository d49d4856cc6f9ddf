"""discoworker: Disco's Python worker interface (``disco.worker``), compatible with Disco 0.5.4."""

from discoworker.errors import (
    CommError,
    DataError,
    DiscoError,
    FatalError,
    JobDictError,
    JobError,
    JobPackError,
    ModUtilImportError,
    ProtocolError,
)

__all__ = [
    "CommError",
    "DataError",
    "DiscoError",
    "FatalError",
    "JobDictError",
    "JobError",
    "JobPackError",
    "ModUtilImportError",
    "ProtocolError",
]
