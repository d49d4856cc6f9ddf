"""The classic map/reduce worker (seed: ``disco.worker.classic.worker``).

On the client it makes a version-1 jobdict, which the master turns into the pipeline
``map/split -> map_shuffle/group_node -> reduce/group_label`` (``group_all`` for one reduce).
On the node :meth:`Worker.run` does the task's stage: a map writes each record to the label of
its partition (through the combiner, if any); a shuffle concatenates a node's map outputs per
label into one file; a reduce reads every input of its label, in random order unless sorted,
and writes the unlabelled output.
"""

from __future__ import annotations

import heapq
import itertools
import os
import pickle
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from discoworker.app import worker as base
from discoworker.app.classic_func import sum_combiner
from discoworker.app.context import TaskContext, current_context
from discoworker.app.params import Params, task_copy
from discoworker.app.readers import text_line_reader
from discoworker.app.reading import SerialInput
from discoworker.app.streams import (
    as_chain,
    chain_reader,
    disco_output_stream,
    input_chain,
    output_chain,
    task_input_stream,
    task_output_stream,
)
from discoworker.domain.index import read_index
from discoworker.domain.inputs import SCHEMES, TaskInput, url_scheme
from discoworker.domain.partition import default_labels, default_partition, key_digest
from discoworker.domain.records import DiscoOutputStream
from discoworker.errors import DiscoError, FatalError, JobArgumentError

#: Runs merged at once by the external sort; more are merged in passes.
SORT_FAN_IN = 64
#: What one buffered record costs beyond its pickle (the tuple, the list slot, the key).
_RECORD_OVERHEAD = 120


def init(input_iter: Any, params: Any) -> None:
    """The default ``map_init`` / ``reduce_init``: nothing to prepare."""


class Worker(base.Worker):
    """The classic Disco worker: ``map``, ``reduce`` and their parameters (seed page).

    Every parameter is resolved with :meth:`getitem` (jobargs, then the job's attributes, then
    the worker's items); see :meth:`defaults` for the full list. ``map`` is given each line of
    its inputs as ``str`` (:func:`~discoworker.task_io.text_line_reader`) unless ``map_reader``
    names another reader, e.g. :func:`~discoworker.task_io.bytes_line_reader` for bytes.
    """

    def defaults(self) -> dict[str, Any]:
        """The classic parameters with the original's defaults."""
        defaults = super().defaults()
        defaults.update(
            {
                "map": None,
                "map_init": init,
                "map_reader": None,
                "map_input_stream": (task_input_stream,),
                "map_output_stream": (task_output_stream, disco_output_stream),
                "map_shuffle": None,
                "combiner": None,
                "merge_partitions": False,
                "partition": default_partition,
                "partitions": 1,
                "reduce": None,
                "reduce_init": init,
                "reduce_reader": chain_reader,
                "reduce_input_stream": (task_input_stream,),
                "reduce_output_stream": (task_output_stream, disco_output_stream),
                "reduce_shuffle": None,
                "ext_params": {},
                "params": Params(),
                "sort": False,
                "sort_buffer_size": "10%",
                "status_interval": 100000,
            }
        )
        return defaults

    def jobarg_names(self) -> frozenset[str]:
        """The classic arguments, plus ``save`` (the original's name for ``save_results``)."""
        return super().jobarg_names() | {"save"}

    # -- client side --------------------------------------------------------------------

    def jobdict(self, job: Any, **jobargs: Any) -> dict[str, Any]:
        """The version-1 jobdict: ``input``, ``map?``, ``reduce?``, ``reduce_shuffle?``,
        ``nr_reduces`` on top of the common keys."""

        def get(key: str, default: Any = None) -> Any:
            return self.getitem(key, job, jobargs, default)

        has_map = bool(get("map"))
        has_reduce = bool(get("reduce"))
        inputs = job_inputs(job, get("input", []))
        if has_map:
            # A partitioned map feeds one reduce per partition; an unpartitioned one, one.
            nr_reduces = get("partitions") or 1
        elif any(_is_dir_input(i) for i in inputs):
            # The labels of a dir:// input are the reduces; without reading the index on the
            # client, ``partitions`` says how many there are.
            nr_reduces = get("partitions") or 1
        else:
            nr_reduces = 1
        if get("merge_partitions"):
            nr_reduces = 1
        if isinstance(nr_reduces, bool) or not isinstance(nr_reduces, int) or nr_reduces < 1:
            raise DiscoError(f"'partitions' must be a positive integer or None, got {nr_reduces!r}")
        jobdict = super().jobdict(job, **jobargs)
        jobdict.update(
            {
                "input": inputs,
                "worker": self.bin,
                "map?": has_map,
                "reduce?": has_reduce,
                "reduce_shuffle?": bool(get("reduce_shuffle")),
                "nr_reduces": nr_reduces,
                "save_results": bool(get("save", False) or get("save_results", False)),
            }
        )
        return jobdict

    # -- node side ----------------------------------------------------------------------

    def run(self, task: Any, job: Any, **jobargs: Any) -> None:
        """Resolve every parameter, then run the task's stage (map, shuffle or reduce)."""
        for key in list(self):
            self[key] = self.getitem(key, job, jobargs)
        from discoworker.app.job_globals import give_globals, job_globals

        give_globals(self.job_functions(job, {}), job_globals(task), self["required_modules"],
                     getattr(task, "host", "?"))
        params = task_copy(self["params"])
        stage = task.stage
        if stage == "map":
            self.run_map(task, params)
        elif stage in ("map_shuffle", "reduce_shuffle"):
            self.run_shuffle(task, params)
        elif stage == "reduce":
            self.run_reduce(task, params)
        else:
            raise FatalError(f"the classic worker has no stage {stage!r}")

    def run_map(self, task: Any, params: Any) -> None:
        """Map every input record; each output record goes to its partition's label."""
        fun_map = self["map"]
        if not callable(fun_map):
            raise FatalError(f"a map task, and 'map' is not a function: {fun_map!r}")
        # No reader (the default) means text lines, whatever the scheme: keys of one type.
        reader = self["map_reader"] if self["map_reader"] is not None else text_line_reader
        opener = input_chain(as_chain(self["map_input_stream"]), reader, params)
        entries = self.status_iter(self.input(task, open=opener), "entries mapped")
        partitions = self["partitions"]
        partition = self["partition"]
        combiner = self["combiner"]
        streams = as_chain(self["map_output_stream"])
        outputs: dict[int | None, _MapOutput] = {}

        def output(label: int | None) -> _MapOutput:
            out = outputs.get(label)
            if out is None:
                opened = self.output(task, label, open=output_chain(streams, params, label))
                out = outputs[label] = _MapOutput(_front(opened.file))
            return out

        labels = _Labels(partition, partitions, params)
        self["map_init"](entries, params)
        if combiner is sum_combiner and labels.pure:
            _map_summed(fun_map, entries, params, labels, output)
        elif combiner is None:
            _map_plain(fun_map, entries, params, labels, output)
        else:
            buffers: dict[int | None, dict[Any, Any]] = {}
            label_of = labels.label
            for entry in entries:
                for key, value in fun_map(entry, params):
                    label = label_of(key)
                    buffer = buffers.get(label)
                    if buffer is None:
                        buffer = buffers[label] = {}
                    for record in combiner(key, value, buffer, False, params) or ():
                        output(label).add(*record)
            for label, buffer in buffers.items():
                for record in combiner(None, None, buffer, True, params) or ():
                    output(label).add(*record)
        for out in outputs.values():
            out.flush()

    def run_shuffle(self, task: Any, params: Any) -> None:
        """Concatenate the node's files per label into one output per label.

        The index of a ``dir://`` input gives its files (lines of the input's label, every
        line for ``"all"``); other inputs are files of their own label.
        """
        context = current_context()
        inputs = context.line.all_inputs()
        files: dict[int, list[str]] = {}
        for task_input in inputs:
            if not task_input.replicas:
                continue
            url = task_input.replicas[0].url
            if url_scheme(url) == "dir":
                for entry in _read_index(context, url):
                    if task_input.label in ("all", entry.label):
                        files.setdefault(entry.label, []).append(entry.url)
            else:
                label = task_input.label if isinstance(task_input.label, int) else 0
                files.setdefault(label, []).append(url)
        for label in sorted(files):
            target: Any = self.output(task, label, open=_raw_output(context)).file
            for url in files[label]:
                stream, _size = context.open(url)
                with stream:
                    while chunk := stream.read(1 << 20):
                        target.write(chunk)
        context.line.write_text(f"Shuffled {len(inputs)} inputs into {len(files)} label(s)")
        context.line.flush_text()

    def run_reduce(self, task: Any, params: Any) -> None:
        """Reduce every input of the task's label into its unlabelled output."""
        fun_reduce = self["reduce"]
        if not callable(fun_reduce):
            raise FatalError(f"a reduce task, and 'reduce' is not a function: {fun_reduce!r}")
        context = current_context()
        inputs = context.line.all_inputs()
        # As the original: reduces of a job start on different nodes' data.
        random.shuffle(inputs)
        opener = input_chain(as_chain(self["reduce_input_stream"]), self["reduce_reader"], params)
        records: Iterable[Any] = SerialInput(inputs, task, open=opener, context=context)
        if self["sort"]:
            records = external_sort(
                records,
                buffer_size=parse_buffer_size(self["sort_buffer_size"]),
                directory=context.output_file(task.taskpath),
            )
        entries = self.status_iter(records, "entries reduced")
        streams = as_chain(self["reduce_output_stream"])
        out = _front(self.output(task, None, open=output_chain(streams, params, None)).file)
        self["reduce_init"](entries, params)
        if positional_count(fun_reduce) < 3:
            if type(out) is DiscoOutputStream:
                # The same bytes as ``add`` per record, in batches.
                out.extend((key, value) for key, value in fun_reduce(entries, params))
            else:
                for key, value in fun_reduce(entries, params):
                    out.add(key, value)
        else:
            fun_reduce(entries, out, params)

    def status_iter(self, records: Iterable[Any], what: str) -> Iterator[Any]:
        """``records``, with a status line every ``status_interval`` records, and at most every
        STATUS_SECONDS between them, and ``Done: N <what>``; each carries the share of the
        task's input read (``100000 entries mapped [input read: 25.0%, ...]``)."""
        interval = self.get("status_interval") or 0
        context = current_context()
        line, reading = context.line, context.read
        # The hot loop compares the count with one number, as the original's modulo did; the
        # clock is read only every ``step`` records.
        due = interval
        check = min(interval, STATUS_STEP) if interval else -1
        said = time.monotonic()
        count = 0
        for count, record in enumerate(records, start=1):
            if count == check:
                now = time.monotonic()
                if count == due or now - said >= STATUS_SECONDS:
                    said = now
                    # Batched by the line into few MSGs: a fast task must not flood the master.
                    line.write_text(f"{count} {what} {reading.figure()}".rstrip() + "\n")
                if count == due:
                    due += interval
                check = min(count + STATUS_STEP, due)
            yield record
        line.write_text(f"Done: {count} {what} {reading.figure()}".rstrip())
        line.flush_text()


# -- helpers shared with the pipeline worker ----------------------------------------------


def job_inputs(job: Any, inputs: Any) -> list[Any]:
    """A job's ``input`` as the jobdict holds it: URLs, or lists of one input's replica URLs.

    ``tag://`` inputs become their blobs' replica lists through the job's master's DDFS,
    since the master never sees ``tag://``.
    """
    if isinstance(inputs, str | bytes) or not isinstance(inputs, Iterable):
        raise DiscoError(
            f"Job 'input' is not a list of input locations, or a list of such lists: {inputs!r}"
        )
    out: list[Any] = []
    for item in inputs:
        if isinstance(item, str):
            item = input_url(item)
            if url_scheme(item) == "tag":
                out.extend(_tag_blobs(job, item))
            else:
                out.append(item)
        elif isinstance(item, Iterable) and all(isinstance(u, str) for u in item):
            urls = [input_url(u) for u in item]
            if not urls:
                raise DiscoError("an input with no replica URLs")
            out.append(urls[0] if len(urls) == 1 else urls)
        else:
            raise DiscoError(f"an input must be a URL or a list of replica URLs: {item!r}")
    return out


#: The URL schemes a job's inputs may have: what the worker's openers read.
INPUT_SCHEMES = SCHEMES


def input_url(text: str) -> str:
    """A job input as the jobdict holds it; a misspelled scheme is refused here, on the client.

    A path of a file that exists here becomes an absolute ``file://`` URL, so a relative path
    names the same file on this machine's workers; other paths are left for the nodes.
    """
    scheme = url_scheme(text)
    if scheme in INPUT_SCHEMES:
        return text
    if scheme:
        import difflib

        close = difflib.get_close_matches(scheme, INPUT_SCHEMES, n=1)
        hint = f" (did you mean {close[0]}://?)" if close else ""
        raise JobArgumentError(
            f"input {text!r}: unknown URL scheme {scheme!r}{hint}; "
            f"inputs are {', '.join(s + '://' for s in INPUT_SCHEMES)} URLs or paths of files"
        )
    if not os.path.isabs(text) and os.path.exists(text):
        return f"file://{os.path.abspath(text)}"
    return text


def _tag_blobs(job: Any, url: str) -> list[Any]:
    master = getattr(job, "master", None)
    ddfs = getattr(master, "ddfs", None)
    if ddfs is None:
        raise DiscoError(f"{url}: no DDFS to resolve the tag with")
    tag = url[len("tag://") :]
    return [list(replicas) for replicas in ddfs.blobs(tag)]


def _is_dir_input(item: Any) -> bool:
    first = item if isinstance(item, str) else item[0]
    return url_scheme(first) == "dir"


def _read_index(context: TaskContext, url: str) -> list[Any]:
    return read_index(context.read_bytes(url), url)


def _raw_output(context: TaskContext) -> Callable[[str], Any]:
    from discoworker.app.writing import AtomicFile

    def open_path(path: str) -> Any:
        return AtomicFile(context.output_file(path))

    return open_path


def _front(file: Any) -> Any:
    """The stream records are added to: the last of a chain, or the file itself."""
    fds = getattr(file, "fds", None)
    return fds[-1] if fds else file


class _MapOutput:
    """A map output's stream, given records in batches when it is Disco's own encoder.

    ``DiscoOutputStream.extend`` writes the same bytes as one ``add`` per record, several
    times faster; any other stream gets its ``add`` calls as before.
    """

    __slots__ = ("batched", "pending", "stream")

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.pending: list[tuple[Any, Any]] = []
        self.batched = isinstance(stream, DiscoOutputStream)

    def add(self, key: Any, value: Any) -> None:
        """Add one record (at once, or with the next batch)."""
        if not self.batched:
            self.stream.add(key, value)
            return
        pending = self.pending
        pending.append((key, value))
        if len(pending) >= _BATCH:
            self.flush()

    def extend(self, records: list[tuple[Any, Any]]) -> None:
        """Add ``(key, value)`` tuples, in order."""
        if not self.batched:
            add = self.stream.add
            for key, value in records:
                add(key, value)
            return
        self.flush()
        self.stream.extend(records)

    def flush(self) -> None:
        """Hand the batched records to the stream."""
        if self.pending:
            pending, self.pending = self.pending, []
            self.stream.extend(pending)


#: Records between two looks at the clock for a status line between ``status_interval``s.
STATUS_STEP = 4096
#: Seconds a task's status (its share of input read) waits at most, while records come.
STATUS_SECONDS = 5.0
#: Records a map output batches before handing them to its encoder.
_BATCH = 4096
#: Distinct keys whose label a map task remembers (the default partition is a pure function).
_LABEL_CACHE = 1 << 20


class _Labels:
    """The label of each map output key: the partition function, remembered when it is ours.

    The default partition depends on the key alone (an MD5 per key is the costliest step of
    a word count's map), so the labels of repeated keys are kept; any other partition
    function is called for every record, as in the original.
    """

    def __init__(self, partition: Callable[..., Any], partitions: int, params: Any) -> None:
        self.partition = partition
        self.partitions = partitions
        self.params = params
        self.pure = not partitions or partition is default_partition
        self.cache: dict[Any, int] = {}
        self.digest_ok = (
            partition is default_partition and type(partitions) is int and partitions >= 1
        )
        if not partitions:
            self.label = self._none
        elif self.pure:
            self.label = self._cached
        else:
            self.label = self._called

    def many(self, keys: Iterable[Any]) -> Sequence[int | None]:
        """The label of each of ``keys``, in order: the default partition in one call, each
        key labelled once and none remembered (the keys are distinct already)."""
        if self.digest_ok:
            return default_labels(keys, self.partitions)
        label_of = self.label
        return [label_of(key) for key in keys]

    def _none(self, key: Any) -> int | None:
        return None

    def _called(self, key: Any) -> int | None:
        return _label(self.partition, key, self.partitions, self.params)

    def _cached(self, key: Any) -> int | None:
        cache = self.cache
        kind = type(key)
        if kind is str or kind is bytes:
            label = cache.get(key)
            if label is None:
                if self.digest_ok:
                    # default_partition's own arithmetic, without its per-call checks.
                    label = key_digest(key) % self.partitions
                else:
                    label = _label(self.partition, key, self.partitions, self.params)
                if len(cache) >= _LABEL_CACHE:
                    cache.clear()
                cache[key] = label
            return label
        return _label(self.partition, key, self.partitions, self.params)


def _map_plain(
    fun_map: Callable[..., Any],
    entries: Iterable[Any],
    params: Any,
    labels: _Labels,
    output: Callable[[int | None], _MapOutput],
) -> None:
    """Map without a combiner: every record to its label's output, in batches."""
    label_of = labels.label
    if not labels.partitions:
        out = None
        for entry in entries:
            for key, value in fun_map(entry, params):
                if out is None:
                    out = output(None)
                out.add(key, value)
        return
    outs: dict[int | None, _MapOutput] = {}
    for entry in entries:
        for key, value in fun_map(entry, params):
            label = label_of(key)
            out = outs.get(label)
            if out is None:
                out = outs[label] = output(label)
            out.add(key, value)


def _map_summed(
    fun_map: Callable[..., Any],
    entries: Iterable[Any],
    params: Any,
    labels: _Labels,
    output: Callable[[int | None], _MapOutput],
) -> None:
    """Map through ``sum_combiner`` with a partition that depends on the key alone.

    The same records as one ``sum_combiner`` buffer per label: keys are summed in one dict
    (in the order of their first record) and labelled once each at the end, so each label
    gets its keys in the order its own buffer would have held them. Per record this is the
    combiner's own ``buf[key] = buf.get(key, 0) + value``, inlined.
    """
    sums: dict[Any, Any] = {}
    get = sums.get
    for entry in entries:
        for key, value in fun_map(entry, params):
            try:
                sums[key] = get(key, 0) + value
            except TypeError:
                # Unhashable, or not summable: fail as the per-label way would have.
                labels.label(key)
                raise
    if not sums:
        return
    groups: dict[int | None, list[tuple[Any, Any]]] = {}
    for label, item in zip(labels.many(sums), sums.items(), strict=True):
        group = groups.get(label)
        if group is None:
            group = groups[label] = []
        group.append(item)
    for label, records in groups.items():
        output(label).extend(records)


def _label(partition: Callable[..., Any], key: Any, partitions: int, params: Any) -> int:
    label = partition(key, partitions, params)
    if isinstance(label, bool) or not isinstance(label, int):
        try:
            label = int(label)
        except (TypeError, ValueError):
            raise FatalError(f"partition({key!r:.80}) gave {label!r}, not an integer") from None
    if not 0 <= label < partitions:
        raise FatalError(
            f"partition({key!r:.80}) gave label {label}, outside 0..{partitions - 1}"
        )
    return label


def positional_count(function: Callable[..., Any]) -> int:
    """How many positional parameters ``function`` has (the original's ``argcount``)."""
    import inspect

    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return 3
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in parameters if p.kind in kinds)


# -- the external sort --------------------------------------------------------------------

_NUMBER, _STR, _BYTES, _SEQUENCE, _OTHER = 1, 2, 3, 4, 5


def sort_key(key: Any) -> tuple[Any, ...]:
    """An ordering over keys of mixed types: numbers, then str, bytes, tuples, the rest.

    Keys of one type compare as Python compares them; tuples and lists element by element.
    """
    if key is None:
        return (0,)
    if isinstance(key, int | float):
        return (_NUMBER, key)
    if isinstance(key, str):
        return (_STR, key)
    if isinstance(key, bytes | bytearray):
        return (_BYTES, bytes(key))
    if isinstance(key, tuple | list):
        return (_SEQUENCE, tuple(sort_key(k) for k in key))
    return (_OTHER, type(key).__module__, type(key).__qualname__, key)


def _record_key(record: Any) -> tuple[Any, ...]:
    if isinstance(record, tuple | list) and len(record) == 2:
        return sort_key(record[0])
    return sort_key(record)


_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([%bkmgtKMGT]?)\s*\Z")
_UNITS = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_buffer_size(value: int | str) -> int:
    """``sort_buffer_size`` in bytes: an int is bytes; a string is Unix sort's ``-S``
    (``"10%"`` of memory, ``"64M"``; a bare number is KiB)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"sort_buffer_size must be positive, got {value}")
        return value
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError(f"sort_buffer_size: cannot read {value!r} (e.g. '10%', '64M', 1000000)")
    number, unit = float(match.group(1)), match.group(2).lower()
    if unit == "%":
        return max(1, int(_total_memory() * number / 100))
    return max(1, int(number * _UNITS[unit or "k"]))


def _total_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 30


def external_sort(
    records: Iterable[Any], *, buffer_size: int, directory: str
) -> Iterator[Any]:
    """``records`` sorted by key (stable), holding about ``buffer_size`` bytes in memory.

    Full buffers are sorted and spilled to run files in ``directory``, then merged (in passes
    of :data:`SORT_FAN_IN`); the files are removed when the iteration ends.
    """
    runs: list[str] = []
    counter = itertools.count()
    try:
        buffer: list[Any] = []
        used = 0
        for record in records:
            buffer.append(record)
            used += len(pickle.dumps(record, pickle.HIGHEST_PROTOCOL)) + _RECORD_OVERHEAD
            if used >= buffer_size:
                buffer.sort(key=_record_key)
                runs.append(_spill(buffer, directory, next(counter)))
                buffer, used = [], 0
        buffer.sort(key=_record_key)
        if not runs:
            yield from buffer
            return
        if buffer:
            runs.append(_spill(buffer, directory, next(counter)))
            buffer = []
        while len(runs) > SORT_FAN_IN:
            batch, runs = runs[:SORT_FAN_IN], runs[SORT_FAN_IN:]
            merged = heapq.merge(*(_read_run(r) for r in batch), key=_record_key)
            # The merged run goes first: it holds the earliest records, which keeps ties stable.
            runs.insert(0, _spill(merged, directory, next(counter)))
            for run in batch:
                os.unlink(run)
        yield from heapq.merge(*(_read_run(r) for r in runs), key=_record_key)
    finally:
        for run in runs:
            try:
                os.unlink(run)
            except FileNotFoundError:
                pass


def _spill(records: Iterable[Any], directory: str, number: int) -> str:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"sort-{os.getpid()}-{number}.run")
    with open(path, "wb") as f:
        pickler = pickle.Pickler(f, _RUN_PROTOCOL)
        for record in records:
            pickler.dump(record)
            # Without this the pickler's memo would hold every record of the run.
            pickler.clear_memo()
    return path


#: The run files' pickle protocol. Protocol 3 names every memo slot (BINPUT), so each record,
#: its memo cleared, reuses slots from 0 and the one unpickler of a run overwrites them. From
#: protocol 4 on, MEMOIZE appends to the unpickler's memo, which no clear resets: it would
#: hold every record of the run, and a record's references would name an earlier record's.
_RUN_PROTOCOL = 3


def _read_run(path: str) -> Iterator[Any]:
    with open(path, "rb") as f:
        unpickler = pickle.Unpickler(f)
        while True:
            try:
                yield unpickler.load()
            except EOFError:
                return


# -- what job functions may call while a task runs ----------------------------------------


def _task() -> Any:
    return current_context().task


def this_name() -> str:
    """The name of the job the running task belongs to."""
    name: str = _task().jobname
    return name


def this_master() -> str:
    """The URL of the master that runs the task."""
    master: str = _task().spec.master
    return master


def this_host() -> str:
    """The node the task runs on."""
    host: str = _task().host
    return host


def this_partition() -> int:
    """The task's group label: a reduce's partition (the original's meaning in 0.5)."""
    label: int = _task().group_label
    return label


def this_inputs() -> list[list[str]]:
    """The task's inputs, each as its list of replica URLs."""
    inputs: list[TaskInput] = current_context().line.all_inputs()
    return [[r.url for r in i.replicas] for i in inputs]

