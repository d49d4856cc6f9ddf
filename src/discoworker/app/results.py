"""Reading a job's results on the client (seed: ``disco.core.result_iterator``).

Each result is a list of replicas of the same data. A replica that cannot be opened or
read (a ``DataError``, an ``OSError``) hands over to the next one, which resumes after the
last record already delivered, as the node's :class:`~discoworker.app.reading.Input` does.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from discoworker.app.ports import Master, Opener
from discoworker.errors import CommError, DataError


def result_iterator(
    urls: Iterable[str | Iterable[str]],
    reader: Callable[..., Iterable[Any]] | None = None,
    opener: Opener | None = None,
    master: Master | str | None = None,
    *,
    input_stream: Sequence[Callable[..., Any]] | Callable[..., Any] | None = None,
    params: Any = None,
    ddfs: Master | str | None = None,
    notifier: Callable[[list[str]], Any] | None = None,
) -> Iterator[Any]:
    """The records of a job's results, each read from the first of its replicas that works.

    ``dir://`` results expand through their index files and ``tag://`` ones (``save_results``)
    through the master's DDFS. Each file goes through ``input_stream`` then ``reader``
    (default: Disco's internal record format); a reader of four arguments gets ``params``.
    The results of :meth:`Job.wait` are read from the master that made them; other URLs from
    ``master`` (or ``ddfs``, the original's name; default: ``DISCO_MASTER``, else the
    embedded master). ``notifier`` is called with each result's replica URLs.
    """
    from discoworker.app.bootstrap import client_opener, master_for
    from discoworker.app.streams import StreamChain, as_chain, chain_reader, task_input_stream

    if master is None:
        master = ddfs if ddfs is not None else getattr(urls, "master", None)
    chosen = master if master is not None and not isinstance(master, str) else None

    def the_master() -> Master:
        nonlocal chosen
        if chosen is None:
            chosen = master_for(master if isinstance(master, str) else None)
        return chosen

    open_url = opener if opener is not None else client_opener(the_master())
    # The node's opener of URLs is this function's own job here.
    functions = [f for f in as_chain(input_stream) if f is not task_input_stream]
    functions.append(reader if reader is not None else chain_reader)

    def records(url: str) -> Iterator[Any]:
        stream, size = open_url(url)
        try:
            yield from StreamChain(url, functions, params, stream=stream, size=size)
        finally:
            stream.close()

    for result in urls:
        replicas = [result] if isinstance(result, str) else list(result)
        if notifier is not None:
            notifier(replicas)
        for file_replicas in _data_files(replicas, open_url, the_master):
            yield from _read_with_failover(file_replicas, records)


def _data_files(
    replicas: list[str], open_url: Opener, the_master: Callable[[], Master]
) -> Iterator[list[str]]:
    """The replica lists of the data files a result stands for."""
    first = replicas[0]
    if first.startswith("tag://"):
        for blob in the_master().ddfs.blobs(first[len("tag://") :]):
            if blob:
                yield from _data_files(list(blob), open_url, the_master)
        return
    if not first.startswith("dir://"):
        yield replicas
        return
    for url in _index_urls(replicas, open_url):
        yield [url]


def _index_urls(replicas: list[str], open_url: Opener) -> list[str]:
    from discoworker.domain.index import read_index

    last: BaseException | None = None
    for url in replicas:
        try:
            stream, _ = open_url(url)
            with stream:
                data = stream.read()
        except (DataError, CommError, OSError) as exc:
            last = exc
            continue
        return [entry.url for entry in read_index(data, url)]
    raise DataError(f"no replica of the index could be read; the last error: {last}", replicas[0])


def _read_with_failover(
    replicas: list[str], records: Callable[[str], Iterator[Any]]
) -> Iterator[Any]:
    delivered = 0
    errors: list[str] = []
    for url in replicas:
        try:
            # Resume after what an earlier replica delivered, as the node's Input does.
            for record in itertools.islice(records(url), delivered, None):
                delivered += 1
                yield record
            return
        except (DataError, CommError, OSError, EOFError) as exc:
            errors.append(f"{url}: {exc}")
    raise DataError(
        f"none of the {len(replicas)} replicas could be read:\n  " + "\n  ".join(errors),
        replicas[0],
    )
