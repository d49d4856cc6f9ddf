"""Record output files (``disco.fileutils``): Disco's internal format, discoworker's codec."""

from discoworker.domain.records import DiscoOutputStream

__all__ = ["DiscoOutputStream"]
