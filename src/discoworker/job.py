"""Jobs on the client (seed: ``disco.job``): ``Job``, ``JobPack`` and ``result_iterator``."""

from discoworker.app.job import Job, result_iterator
from discoworker.domain.jobpack import JobPack

__all__ = ["Job", "JobPack", "result_iterator"]
