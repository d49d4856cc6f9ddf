"""A task's inputs as records, surviving failed replicas (seed: ``disco.worker.Input`` & co).

An :class:`Input` reads one input. When a replica fails while being opened or read, it tells
the master (``INPUT_ERR`` with every replica id failed so far), goes on with the replicas the
master names in its ``RETRY``, and resumes after the last record it already delivered. When
none is left it raises :class:`~discoworker.errors.DataError` naming the input and the last error
(the task is retried), unless no replica failed in a way a retry may cure (an unknown URL
scheme, a reader's bug): then that error itself, which ends the job.
"""

from __future__ import annotations

import heapq
import itertools
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from discoworker.app.context import TaskContext, current_context
from discoworker.app.streams import StreamChain
from discoworker.domain.index import expand_dir, read_index
from discoworker.domain.inputs import FailoverState, TaskInput
from discoworker.errors import DataError

#: Opens one data URL and gives its records.
RecordOpener = Callable[[str], Iterable[Any]]
#: Seconds between polls of an input the master calls busy; doubled up to the maximum.
BUSY_POLL, BUSY_POLL_MAX = 0.5, 10.0


class Input:
    """Records of one task input, failing over between its replicas."""

    def __init__(
        self,
        input: TaskInput,
        task: object | None = None,
        open: RecordOpener | None = None,
        context: TaskContext | None = None,
    ) -> None:
        self.input = input
        self.task = task
        self._context = context if context is not None else current_context()
        self.open: RecordOpener = open if open is not None else self._context.open_records
        self._delivered = 0

    def __iter__(self) -> Iterator[Any]:
        context = self._context
        state = FailoverState.start(self.input, context.locality)
        last_error: BaseException | None = None
        curable = False
        last_trace = "the input has no replicas"
        context.read.reading(self.input.id)
        while (replica := state.next_replica()) is not None:
            # Counted in a local (the hot loop), kept in the attribute whatever happens.
            delivered = self._delivered
            context.reading = replica.url
            chain: StreamChain | None = None
            try:
                records = self._records(replica.url)
                if type(records) is StreamChain:
                    # Its last stream iterated here, closed below: one generator less per record.
                    chain, records = records, records.last
                if delivered:
                    records = itertools.islice(records, delivered, None)
                for record in records:
                    delivered += 1
                    yield record
                if chain is not None:
                    closing = chain
                    chain = None  # closed once, even if closing fails
                    closing.close()
                context.reading = ""
                context.read.finished(self.input.id)
                return
            except Exception as exc:
                last_error = exc
                curable = curable or isinstance(exc, DataError | OSError | EOFError)
                last_trace = f"{replica.url}:\n{traceback.format_exc()}"
                state = state.failed(replica.id)
                retry = context.line.report_failed_replicas(self.input.id, state.failed_ids)
                state = state.retry(retry)
            finally:
                self._delivered = delivered
                if chain is not None:
                    chain.close()
        if last_error is not None and not curable:
            # No replica failed in a way another attempt may cure: a reader with a bug, or a
            # URL no one can read (InputURLError). Say so at once (FATAL), not after retries.
            raise last_error
        raise DataError(
            f"Exhausted all available replicas of input {self.input.id}, last error was:\n"
            f"{last_trace}",
            self.input.replicas[0].url if self.input.replicas else f"input {self.input.id}",
        )

    def _records(self, url: str) -> Iterable[Any]:
        """The records at ``url``; a ``dir://`` index expands to its files of our label."""
        if not url.startswith("dir://"):
            # The opener's iterable itself: one generator less between a record and its reader.
            return self.open(url)
        return self._dir_records(url)

    def _dir_records(self, url: str) -> Iterator[Any]:
        data = self._context.read_bytes(url)
        for entry in expand_dir(read_index(data, url), self.input.label):
            opened = self.open(entry.url)
            if type(opened) is not StreamChain:
                yield from opened
                continue
            # Its last stream iterated here: one generator less per record.
            try:
                yield from opened.last
            finally:
                opened.close()


def _poll_until_ready(task_input: TaskInput, context: TaskContext) -> TaskInput:
    """An input the master called busy, polled with ``include`` until it is ready."""
    delay = BUSY_POLL
    while task_input.status == "busy":
        time.sleep(delay)
        delay = min(delay * 2, BUSY_POLL_MAX)
        reply = context.line.ask_for_inputs(include=[task_input.id])
        task_input = next((i for i in reply.inputs if i.id == task_input.id), task_input)
    if task_input.status == "failed":
        url = task_input.replicas[0].url if task_input.replicas else f"input {task_input.id}"
        raise DataError(f"the master marked input {task_input.id} as failed", url)
    return task_input


class SerialInput:
    """Records of a list of inputs, one input after the other, in order."""

    def __init__(
        self,
        input: Iterable[TaskInput],
        task: object | None = None,
        open: RecordOpener | None = None,
        context: TaskContext | None = None,
    ) -> None:
        self.inputs = list(input)
        self.task = task
        self.open = open
        self._context = context if context is not None else current_context()

    def __iter__(self) -> Iterator[Any]:
        self._context.read.begin([i.id for i in self.inputs])
        # Chained in C: a record passes through no generator of this class.
        return itertools.chain.from_iterable(
            Input(_poll_until_ready(task_input, self._context), self.task, self.open,
                  self._context)
            for task_input in self.inputs
        )


class ParallelInput(SerialInput):
    """Records of a set of inputs, unordered: ready inputs first, busy ones as they become ready."""

    def __iter__(self) -> Iterator[Any]:
        self._context.read.begin([i.id for i in self.inputs])
        waiting = [i for i in self.inputs if i.status == "busy"]
        for task_input in self.inputs:
            if task_input.status != "busy":
                yield from Input(_poll_until_ready(task_input, self._context), self.task,
                                 self.open, self._context)
        for task_input in waiting:
            yield from Input(_poll_until_ready(task_input, self._context), self.task,
                             self.open, self._context)


class MergedInput(SerialInput):
    """A merge of sorted inputs: always the smallest head record among them."""

    def __iter__(self) -> Iterator[Any]:
        self._context.read.begin([i.id for i in self.inputs])
        streams = [
            iter(Input(_poll_until_ready(i, self._context), self.task, self.open, self._context))
            for i in self.inputs
        ]
        return heapq.merge(*streams)
