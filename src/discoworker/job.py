"""Jobs on the client (seed: ``disco.job``): Job, JobChain, JobPack, result_iterator."""

from discoworker.app.job import Job, JobChain, result_iterator
from discoworker.domain.jobpack import JobPack

__all__ = ["Job", "JobChain", "JobPack", "result_iterator"]
