"""The worker interface (``disco.worker``): discoworker's ``Worker``, inputs and outputs."""

from discoworker import (
    Input,
    MergedInput,
    Output,
    ParallelInput,
    Params,
    SerialInput,
    Worker,
)

__all__ = ["Input", "MergedInput", "Output", "ParallelInput", "Params", "SerialInput", "Worker"]
