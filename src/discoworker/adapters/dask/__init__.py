"""The Dask master: jobs run on a ``dask.distributed`` cluster (the ``dask`` extra).

Imported only when a job names a ``dask://`` master or passes a ``distributed.Client``.
"""

from discoworker.adapters.dask.master import DaskMaster, scheduler_address

__all__ = ["DaskMaster", "scheduler_address"]
