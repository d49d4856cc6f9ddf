"""Our worker against the replayed replies of a real Disco 0.5.4 master (golden/real-master).

Each test runs a whole task of ours, packed from a classic or pipeline job equivalent to the
recorded one, through :class:`ReplayMaster`: the recorded TASK (job file and data dirs
substituted), INPUT, RETRY/FAIL and OK replies, in order. The data the recorded ``dir://``
inputs point to is recreated under a temporary ``disco_data`` in the same layout, with our
record writer (or written by our own earlier tasks: :class:`JobReplay`).

Every recorded task conversation is replayed: :data:`COVERAGE` names, for each task directory,
the tests that run our worker on it, and :func:`test_every_recorded_task_conversation_is_replayed`
fails for a directory it does not list.
"""

from __future__ import annotations

import collections
import contextlib
import fnmatch
import io
import re
import sys
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, TypeVar

import pytest

from discoworker.adapters.openers import UrlOpener
from discoworker.adapters.transport_replay import Recording, ReplayMaster
from discoworker.adapters.transport_stdio import PrintedText
from discoworker.app import pipeline
from discoworker.app.classic import Worker
from discoworker.app.master_line import MasterLine
from discoworker.app.ports import Opener
from discoworker.app.readers import bytes_line_reader
from discoworker.app.streams import chain_reader
from discoworker.app.task_life import run_task
from discoworker.domain import protocol as p
from discoworker.domain.index import IndexEntry, format_index, parse_index
from discoworker.domain.inputs import Locality, Replica, TaskInput
from discoworker.domain.partition import default_partition
from discoworker.domain.records import DiscoOutputStream, disco_input_stream
from discoworker.domain.task import hexhash, job_home, local_output_url
from discoworker.errors import DataError, ProtocolError
from tests.conftest import GOLDEN

REAL = GOLDEN / "real-master"
WORDCOUNT_JOBS = (
    "job2_wordcount_ok",
    "job11_http_api_submitted_by_curl_wordcount",
    "job12_wordcount_after_restart",
)
WORDCOUNT_TASKS = sorted(d for job in WORDCOUNT_JOBS for d in (REAL / job).iterdir())
# The index files the real master wrote for job11 (the other jobs' are rebuilt from OUTPUTs).
RECORDED_INDEXES = REAL / "index_files_job11"
_INDEX_NAME = re.compile(r"/\.disco/(?P<stage>[a-z_]+)-(?P<taskid>\d+)-\d+\.results\Z")
#: Which recorded task directories (patterns relative to REAL) each test replays our worker on.
REPLAYED: dict[str, tuple[str, ...]] = {}

Test = TypeVar("Test", bound=Callable[..., Any])


def replays(*patterns: str) -> Callable[[Test], Test]:
    """Note that the decorated test runs our worker on the recorded tasks of ``patterns``."""

    def note(test: Test) -> Test:
        REPLAYED[test.__name__] = patterns
        return test

    return note


def attempts(pattern: str) -> list[Path]:
    """The recorded task directories matching ``pattern`` (relative to golden/real-master)."""
    return sorted(d for d in REAL.glob(pattern) if (d / "master_to_worker.bin").exists())


def short(task_dir: Path) -> str:
    return f"{task_dir.parent.name.split('_')[0]}/{task_dir.name}"



# -- the jobs, as equivalent classic jobs of ours ------------------------------------------


def underscored(line: str, params: Any) -> Iterator[tuple[str, int]]:
    """The recorded word count's map: its raw inputs join words with ``_``."""
    for word in line.split("_"):
        yield word, 1


def wc_map(line: str | bytes, params: Any) -> Iterator[tuple[str, int]]:
    """The recorded word count's map (``line.replace('_', ' ').split()``, its traceback shows),
    taking the ``bytes`` lines of a ``disco://`` input too (job10b's fix of job10a)."""
    text = line.decode("utf-8") if isinstance(line, bytes) else line
    for word in text.replace("_", " ").split():
        yield word, 1


def wc_map_str_only(line: str, params: Any) -> Iterator[tuple[str, int]]:
    """job10a's map as recorded: it fails on the ``bytes`` lines of a ``disco://`` input."""
    for word in line.replace("_", " ").split():
        yield word, 1


def count_words(entries: Iterable[tuple[str, int]], params: Any) -> Iterator[tuple[str, int]]:
    """The recorded word count's reduce: sums per word, in word order."""
    counts: dict[str, int] = {}
    for word, n in entries:
        counts[word] = counts.get(word, 0) + n
    yield from sorted(counts.items())


def deliberate_fatal(entry: str, params: Any) -> Iterator[tuple[str, int]]:
    """job7's map: a bug in the job."""
    raise ValueError("deliberate fatal")
    yield entry, 1  # pragma: no cover - makes this a generator, as the original's


def deliberate_data_error(entry: str, params: Any) -> Iterator[tuple[str, int]]:
    """job6's map: trouble with the data."""
    raise DataError("deliberate data error", "raw://x")
    yield entry, 1  # pragma: no cover


def ask_master_directly(entry: str, params: Any) -> Iterator[tuple[str, int]]:
    """job9's map: tells the master itself that both replicas failed, then maps its entry."""
    from discoworker.app.context import current_context

    line = current_context().line
    retry = line.report_failed_replicas(0, [0])
    line.write_text(f"reply1 {[[r.id, r.url] for r in retry]}")
    line.flush_text()
    line.write_text(f"reply2 {line.report_failed_replicas(0, [0, 1])!r}")
    line.flush_text()
    yield entry, 1


def unreadable(fd: BinaryIO, size: int | None, url: str, params: Any) -> Iterator[Any]:
    """A map_reader for which every replica is corrupt."""
    raise DataError("corrupt replica", url)
    yield  # pragma: no cover


def prints_then_maps(entry: str, params: Any) -> Iterator[tuple[str, int]]:
    """job5's map, less its PING (ours has none to send): it prints, a lot, then maps."""
    print("hello from print")
    for i in range(50):
        print(f"more {i}")
    yield entry, 1


def writes_a_short_frame(entry: str, params: Any) -> Iterator[tuple[str, int]]:
    """job13's map: writes a frame declaring 5 bytes of a 3-byte body to stderr itself."""
    sys.stderr.write('MSG 5 "x"\n')
    yield entry, 1


def writes_garbage(entry: str, params: Any) -> Iterator[tuple[str, int]]:
    """job14's map: writes a line that is no frame to stderr, then a message."""
    sys.stderr.write("this is not a protocol message\n")
    print("after garbage")
    yield entry, 1


def text_of(line: str | bytes) -> str:
    return line.decode("utf-8") if isinstance(line, bytes) else line


def pipe_map_by_length(interface: Any, state: Any, label: int, inp: Iterable[Any]) -> None:
    """job4's map stage: each word to the label ``len(word) % 3`` (its OUTPUT labels 0, 2)."""
    for line in inp:
        for word in text_of(line).split("_"):
            interface.output(len(word) % 3).add(word, 1)


def pipe_map_to_label_1(interface: Any, state: Any, label: int, inp: Iterable[Any]) -> None:
    """job3's map stage: every word to label 1 (its only OUTPUT label)."""
    for line in inp:
        for word in text_of(line).split("_"):
            interface.output(1).add(word, 1)


def pipe_count_each_input(interface: Any, state: Any, label: int, inp: Iterable[Any]) -> None:
    """job4's reduce stage (``preduce``): ``for word, one in inp``, counted per input and
    written sorted (the sizes the real worker reported, 69 and 77 bytes, say so)."""
    counts: collections.Counter[str] = collections.Counter()
    for word, one in inp:
        counts[word] += one
    out = interface.output(0)
    for word, n in sorted(counts.items()):
        out.add(word, n)


PIPE_WC = pipeline.Worker(pipeline=[
    ("split", pipeline.Stage("map", process=pipe_map_by_length)),
    ("group_label", pipeline.Stage("reduce", process=pipe_count_each_input)),
])
# job3: the reduce's input chain lacks the stream opener, so its reader gets no stream.
PIPE_BAD_CHAIN = pipeline.Worker(pipeline=[
    ("split", pipeline.Stage("map", process=pipe_map_to_label_1)),
    ("group_label", pipeline.Stage("reduce", process=pipe_count_each_input,
                                   input_chain=[chain_reader])),
])
#: job10a/b's DDFS blob (``data1.txt``, pushed to tag ``data:wc``). Not recorded: these two
#: lines give what the real workers reported (2 entries mapped; label 0 of 72 bytes and label
#: 1 of 66; reduced to 72 and 63 bytes).
DATA1_URL = "disco://vm/ddfs/vol0/blob/97/data1_txt$703-650fd-141a7"
DATA1 = b"hello world\nthree world\n"


# -- the recorded job's data, recreated --------------------------------------------------


def recorded_tasks(job: Path) -> dict[tuple[str, int], Recording]:
    """Every recorded task of a job by (stage, taskid)."""
    found = {}
    for task_dir in job.iterdir():
        recording = Recording.load(task_dir)
        found[recording.task.stage, recording.task.taskid] = recording
    return found


def map_records(recording: Recording) -> dict[int, list[tuple[str, int]]]:
    """What a recorded word count map wrote, by label (its raw input, partitioned in two)."""
    by_label: dict[int, list[tuple[str, int]]] = {}
    for task_input in recording.inputs.values():
        text = task_input.replicas[0].url[len("raw://") :]
        for record in wc_map(text, None):
            by_label.setdefault(default_partition(record[0], 2, None), []).append(record)
    return by_label


def records_bytes(records: list[tuple[str, int]]) -> bytes:
    buffer = io.BytesIO()
    stream = DiscoOutputStream(buffer)
    for record in records:
        stream.append(record)
    stream.close()
    return buffer.getvalue()


def output_bytes(tasks: dict[tuple[str, int], Recording], stage: str, taskid: int,
                 label: int) -> bytes:
    """The bytes of a recorded task's output of ``label``, as our worker writes them."""
    recording = tasks[stage, taskid]
    if stage == "map":
        return records_bytes(map_records(recording)[label])
    # A shuffle concatenates the files of its label, input after input.
    parts = []
    for task_input in sorted(recording.inputs.values(), key=lambda i: i.id):
        producer = index_producer(task_input.replicas[0].url)
        for entry in index_entries(tasks, *producer):
            if entry.label == label:
                parts.append(output_bytes(tasks, *producer, label))
    return b"".join(parts)


def index_producer(url: str) -> tuple[str, int]:
    match = _INDEX_NAME.search(url)
    assert match, url
    return match["stage"], int(match["taskid"])


def index_entries(tasks: dict[tuple[str, int], Recording], stage: str,
                  taskid: int) -> list[IndexEntry]:
    """The master's index of a recorded task: a line per recorded OUTPUT (protocol.md)."""
    recording = tasks[stage, taskid]
    spec = recording.task
    return [
        IndexEntry(o.label, local_output_url(spec.host, spec.jobname, o.location), o.size)
        for o in recording.outputs
    ]


def recreate_inputs(job: Path, recording: Recording, data: Path) -> set[str]:
    """Write the index files and data files the task's dir:// inputs point to.

    The URLs the task must read: the index files and their lines of the input's label.
    """
    tasks = recorded_tasks(job)
    locality = locality_of(recording, data)
    urls: set[str] = set()
    for task_input in recording.inputs.values():
        url = task_input.replicas[0].url
        if not url.startswith("dir://"):
            continue
        entries = index_entries(tasks, *index_producer(url))
        index = format_index(entries)
        recorded = RECORDED_INDEXES / url.rsplit("/", 1)[1]
        if recorded.exists():
            # The real master's own index file: our rebuilt one must be the same bytes.
            assert recorded.read_bytes() == index
        write(locality, url, index)
        urls.add(url)
        for entry in parse_index(index, url):
            if task_input.label in ("all", entry.label):
                urls.add(entry.url)
            data_bytes = output_bytes(tasks, *index_producer(url), entry.label)
            assert len(data_bytes) == entry.size, "our writer differs from the original's"
            write(locality, entry.url, data_bytes)
    return urls


def locality_of(recording: Recording, data: Path) -> Locality:
    return Locality(recording.task.host, str(data / "disco"), str(data / "ddfs"), 8989)


def write(locality: Locality, url: str, content: bytes) -> None:
    path = locality.local_path(url)
    assert path is not None, url
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(content)


# -- running a task against a replay -------------------------------------------------------


class Reads:
    """An opener factory that notes every URL the task opens."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def __call__(self, locality: Locality) -> Opener:
        real = UrlOpener(locality)

        def open_url(url: str) -> tuple[BinaryIO, int | None]:
            self.urls.append(url)
            return real(url)

        return open_url


def replay_task(
    task_dir: Path,
    tmp_path: Path,
    worker: Any,
    extra: Iterable[str] = (),
    *,
    known_inputs: Mapping[int, TaskInput] | None = None,
    upto_fault: bool = False,
) -> tuple[bool, ReplayMaster, Reads, Path]:
    """Run our worker on a recorded task: (DONE?, the replay, what it opened, job home).

    What the job prints or writes to ``sys.stderr`` becomes MSG text, as in a real worker.
    """
    recording = Recording.load(task_dir, upto_fault=upto_fault)
    data = tmp_path / "data"
    spec = recording.task
    home = Path(job_home(str(data / "disco"), spec.host, spec.jobname))
    home.mkdir(parents=True, exist_ok=True)
    job = types.SimpleNamespace(name=spec.jobname.split("@")[0], worker=worker)
    pack = worker.jobpack(job, input=["raw://placeholder"])
    jobfile = home / "jobfile"
    jobfile.write_bytes(pack.dumps())
    replay = ReplayMaster(
        recording,
        task_overrides={
            "jobfile": str(jobfile),
            "disco_data": str(data / "disco"),
            "ddfs_data": str(data / "ddfs"),
        },
        extra_names=frozenset(extra),
        known_inputs=known_inputs or {},
    )
    reads = Reads()
    pid = recording.said[0]
    assert isinstance(pid, p.WorkerHello)
    line = MasterLine(replay)
    printed = PrintedText()
    line.collect(printed)
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        ok = run_task(replay, reads, home=home, pid=pid.pid, line=line)
    return ok, replay, reads, home


def frames_of(data: bytes) -> list[bytes]:
    return [p.encode_frame(f) for f in p.FrameDecoder().feed(data)]


def same_location(ours: str, theirs: str) -> bool:
    """Equal but for the time stamp in the task uid (and the uid's hash directory)."""
    _, their_uid, their_file = theirs.split("/")
    our_hash, our_uid, our_file = ours.split("/")
    stamp = re.compile(r"-[0-9a-f]{2}-(\d+)\Z")
    same_uid = stamp.sub(r"-\1", our_uid) == stamp.sub(r"-\1", their_uid)
    same_file = our_file == (our_uid if their_file == their_uid else their_file)
    return same_uid and same_file and our_hash == hexhash(our_uid)


def visible_files(home: Path) -> list[Path]:
    return [f for f in home.rglob("*") if f.is_file() and f.name != "jobfile"]


class Replayed(NamedTuple):
    """One task of ours replayed: DONE?, the replay, what it opened, the job home."""

    ok: bool
    replay: ReplayMaster
    reads: Reads
    home: Path


class JobReplay:
    """A recorded job replayed task by task, in the order of its task ids, with our worker.

    A ``dir://`` input is the index file the real master writes from the OUTPUTs of our own
    earlier tasks (protocol.md: one ``<label> <url> <size>`` line per OUTPUT, in order), at the
    recorded URL; every task's data lives under the same temporary data dir.
    """

    def __init__(self, job: str, tmp_path: Path, worker: Any) -> None:
        self.job = REAL / job
        self.tmp_path = tmp_path
        self.worker = worker
        self.data = tmp_path / "data"
        self.outputs: dict[tuple[str, int], list[p.OutputReport]] = {}

    def task_dirs(self) -> list[Path]:
        """The recorded tasks, by task id."""
        dirs = [d for d in self.job.iterdir() if (d / "master_to_worker.bin").exists()]
        return sorted(dirs, key=lambda d: Recording.load(d).task.taskid)

    def run(self, task_dir: Path, extra: Iterable[str] = ()) -> Replayed:
        """Replay one task, after writing the index files its ``dir://`` inputs name."""
        recording = Recording.load(task_dir)
        for task_input in recording.inputs.values():
            url = task_input.replicas[0].url
            if url.startswith("dir://"):
                self.write_index(recording, url)
            elif url.startswith("disco://vm/ddfs/"):
                write(locality_of(recording, self.data), url, DATA1)
        result = Replayed(*replay_task(task_dir, self.tmp_path, self.worker, extra))
        spec = recording.task
        self.outputs[spec.stage, spec.taskid] = list(result.replay.outputs)
        return result

    def run_all(self) -> list[Replayed]:
        return [self.run(d) for d in self.task_dirs()]

    def write_index(self, recording: Recording, url: str) -> None:
        spec = recording.task
        entries = [
            IndexEntry(o.label, local_output_url(spec.host, spec.jobname, o.location), o.size)
            for o in self.outputs[index_producer(url)]
        ]
        write(locality_of(recording, self.data), url, format_index(entries))

    @staticmethod
    def records(result: Replayed) -> list[Any]:
        """What one of our tasks wrote, output after output."""
        found: list[Any] = []
        for report in result.replay.outputs:
            with (result.home / report.location).open("rb") as f:
                found += disco_input_stream(f, report.size, report.location)
        return found


def by_label(reports: Iterable[p.OutputReport]) -> dict[int, p.OutputReport]:
    return {o.label: o for o in reports}


def assert_same_outputs(result: Replayed, spaces: bool = False) -> None:
    """Our OUTPUTs are the recorded ones: labels, sizes, names (spaces in theirs as ``_``)."""
    ours, theirs = by_label(result.replay.outputs), by_label(result.replay.recording.outputs)
    assert ours.keys() == theirs.keys()
    for label, report in ours.items():
        assert report.size == theirs[label].size == (result.home / report.location).stat().st_size
        location = theirs[label].location.replace(" ", "_") if spaces else theirs[label].location
        assert same_location(report.location, location), (report.location, location)


WORDCOUNT = Worker(map=wc_map, reduce=count_words, partitions=2)
JOB2_MAP = "job2_wordcount_ok/map_task0_17253"
JOB9_MAP = "job9_inputerr_RETRY_FAIL_direct/map_task0_19152"


@replays(*(f"{job}/*" for job in WORDCOUNT_JOBS))
@pytest.mark.parametrize("task_dir", WORDCOUNT_TASKS, ids=lambda d: f"{d.parent.name[:5]}/{d.name}")
def test_a_recorded_word_count_task_ends_the_same_with_our_worker(
    task_dir: Path, tmp_path: Path
) -> None:
    recording = Recording.load(task_dir)
    expected_reads = recreate_inputs(task_dir.parent, recording, tmp_path / "data")

    ok, replay, reads, home = replay_task(task_dir, tmp_path, WORDCOUNT)

    assert ok, replay.ended_with
    assert recording.ended_with == "DONE" and isinstance(replay.ended_with, p.Done)
    # Every reply came from the recording: the same conversation, not one the replay made up.
    assert replay.derived == []
    # The same outputs by label, of the very sizes the original wrote, named alike.
    ours = {o.label: o for o in replay.outputs}
    theirs = {o.label: o for o in recording.outputs}
    assert ours.keys() == theirs.keys()
    for label, report in ours.items():
        assert report.size == theirs[label].size == (home / report.location).stat().st_size
        assert same_location(report.location, theirs[label].location), report.location
    assert not [f for f in visible_files(home) if f.name.endswith(".partial")]
    # Our status lines are the original's (it also says "Results sent to master"), with the
    # share of input read added.
    recorded_texts = [m.text for m in recording.said if isinstance(m, p.Message)]
    said = [re.sub(r" \[input read: 100\.0%, [^\]]*\]$", "", t) for t in replay.messages]
    assert replay.messages and all(text in recorded_texts for text in said)
    # WORKER, TASK and DONE are byte for byte the recorded frames (we ran with its pid).
    sent = frames_of(bytes(replay.worker_bytes))
    recorded = [e.sent for e in recording.exchanges]
    assert sent[:2] == recorded[:2] and sent[-1] == recorded[-1] == b'DONE 2 ""\n'
    # The recorded index files, and every file they list, are what the task read.
    assert expected_reads <= set(reads.urls)
    if recording.task.stage == "map":
        assert reads.urls == [r.url for i in recording.inputs.values() for r in i.replicas]


@replays("job11_http_api_submitted_by_curl_wordcount/reduce_task3_19958")
def test_a_reduce_reads_the_real_masters_index_file_verbatim(tmp_path: Path) -> None:
    task_dir = REAL / "job11_http_api_submitted_by_curl_wordcount/reduce_task3_19958"
    recording = Recording.load(task_dir)
    recreate_inputs(task_dir.parent, recording, tmp_path / "data")

    ok, replay, reads, home = replay_task(task_dir, tmp_path, WORDCOUNT)

    assert ok
    index = "map_shuffle-1-1795414005110087.results"
    (read_index,) = [u for u in reads.urls if u.startswith("dir://")]
    assert read_index.endswith(index)
    local = locality_of(recording, tmp_path / "data").local_path(read_index)
    assert local is not None
    assert Path(local).read_bytes() == (RECORDED_INDEXES / index).read_bytes()
    (report,) = replay.outputs
    with (home / report.location).open("rb") as f:
        assert list(disco_input_stream(f, report.size, report.location)) == [("two", 2)]


@replays(JOB9_MAP)
def test_input_err_gets_the_recorded_retry_then_fail_and_the_task_ends_as_recorded(
    tmp_path: Path,
) -> None:
    # job9: the map function itself reported both replicas failed, then mapped its entry.
    task_dir = REAL / "job9_inputerr_RETRY_FAIL_direct/map_task0_19152"

    ok, replay, _, _ = replay_task(task_dir, tmp_path, Worker(map=ask_master_directly))

    assert ok and isinstance(replay.ended_with, p.Done)
    assert [m for m in replay.said if isinstance(m, p.InputError)] == [
        p.InputError(0, (0,)), p.InputError(0, (0, 1)),
    ]
    assert b'RETRY 17 [[1,"raw://abd"]]\n' in replay.master_bytes
    assert b'FAIL 2 ""\n' in replay.master_bytes
    assert replay.messages[:2] == ["reply1 [[1, 'raw://abd']]", "reply2 ()"]
    assert replay.derived == []
    (report,) = replay.outputs
    (theirs,) = replay.recording.outputs
    assert (report.label, report.size) == (theirs.label, theirs.size) == (0, 61)


@replays(JOB9_MAP)
def test_our_failover_takes_the_recorded_retry_and_fail_and_ends_with_error(
    tmp_path: Path,
) -> None:
    # The same replies, but our own failover asking: every replica is corrupt, so after FAIL
    # the task ends with ERROR (the original's failover does the same; job9 had no such input).
    task_dir = REAL / "job9_inputerr_RETRY_FAIL_direct/map_task0_19152"
    worker = Worker(map=underscored, map_reader=unreadable)

    ok, replay, reads, home = replay_task(task_dir, tmp_path, worker, extra=["ERROR"])

    assert not ok and isinstance(replay.ended_with, p.TaskError)
    assert [m for m in replay.said if isinstance(m, p.InputError)] == [
        p.InputError(0, (0,)), p.InputError(0, (0, 1)),
    ]
    assert replay.derived == []
    assert reads.urls == ["raw://abc", "raw://abd"]
    assert "Exhausted all available replicas of input 0" in replay.ended_with.text
    assert replay.outputs == [] and visible_files(home) == []


JOB6_ATTEMPTS = "job6_error_classic_retries/map_task0_*"
JOB7_TASK = "job7_fatal_classic/map_task0_*"
JOB8B_ATTEMPTS = "job8b_inputerr_attempt_missing_local_replicas_gives_ERROR/map_task0_*"


@replays(JOB7_TASK, JOB6_ATTEMPTS)
@pytest.mark.parametrize(
    ("task_dir", "function", "ending"),
    [
        *((d, deliberate_fatal, p.TaskFatal) for d in attempts(JOB7_TASK)),
        *((d, deliberate_data_error, p.TaskError) for d in attempts(JOB6_ATTEMPTS)),
    ],
    ids=lambda v: short(v) if isinstance(v, Path) else "",
)
def test_a_failing_map_ends_with_the_recorded_last_word(
    tmp_path: Path, task_dir: Path, function: Any, ending: type[p.WorkerMessage]
) -> None:
    # job7: FATAL; job6: ERROR, every one of the 10 attempts the master made.
    ok, replay, _, home = replay_task(task_dir, tmp_path, Worker(map=function))

    assert not ok and isinstance(replay.ended_with, ending)
    recorded = replay.recording.said[-1]
    assert recorded.NAME == replay.ended_with.NAME
    # The same exception on the last line (only the module of DataError is ours).
    their_last = getattr(recorded, "text", "").rstrip("\n").rsplit("\n", 1)[-1]
    our_last = getattr(replay.ended_with, "text", "").rstrip("\n").rsplit("\n", 1)[-1]
    assert our_last.rsplit(".", 1)[-1] == their_last.rsplit(".", 1)[-1]
    assert replay.derived == []
    assert visible_files(home) == []


@replays(JOB8B_ATTEMPTS)
@pytest.mark.parametrize("task_dir", attempts(JOB8B_ATTEMPTS), ids=short)
def test_missing_local_replicas_fail_over_where_the_original_sent_error(
    tmp_path: Path, task_dir: Path
) -> None:
    # job8b: the original raised FileNotFoundError on the first missing replica (ERROR at
    # once). Ours fails over: INPUT_ERR twice, answered by the master's rules (no recorded
    # reply exists), then ERROR: the same outcome, by a path a real master accepts.
    ok, replay, reads, _ = replay_task(
        task_dir, tmp_path, Worker(map=underscored), extra=["INPUT_ERR"]
    )

    assert not ok and isinstance(replay.ended_with, p.TaskError)
    assert replay.derived == ["4:INPUT_ERR", "5:INPUT_ERR"]
    assert b'RETRY 38 [[1,"disco://vm/disco/vm/nonexist/b"]]\n' in replay.master_bytes
    assert reads.urls == ["disco://vm/disco/vm/nonexist/a", "disco://vm/disco/vm/nonexist/b"]


# -- the other recorded jobs, with our worker ----------------------------------------------


JOB1 = "job1_wordcount_ERROR_sysutil_before_patch_map0"
JOB1B = "job1b_wordcount_spaces_in_raw_input"
JOB1B_MAPS = f"{JOB1B}/job1_map_task*"
JOB1B_SHUFFLE = f"{JOB1B}/job1_map_shuffle_FATAL_space_in_url"
JOB3 = "job3_pipeline_reduce_FATAL_bad_input_chain"
JOB4 = "job4_pipeline_ok"
JOB5 = "job5_ping_msg_classic/map_task0_*"
JOB8A = "job8a_inputerr_attempt_http_hang/map_task0_*"
JOB9 = "job9_inputerr_RETRY_FAIL_direct"
JOB10A = "job10a_ddfs_tag_FATAL_bytes_line/map_task0_*"
JOB10B = "job10b_ddfs_tag_input_wordcount_ok"
JOB13 = "job13_malformed_MSG_wrong_length/map_task0_*"
JOB14 = "job14_garbage_line_on_stderr/map_task0_*"


@replays(JOB1)
def test_the_map_the_original_ended_with_error_completes_with_ours(tmp_path: Path) -> None:
    # job1: the original's sysutil crashed before the task asked for its input (ERROR). No
    # INPUT was recorded: the replay derives its reply from the job's input for map:0 (the
    # jobinfo's input whose text the TASK's group carries), as the master would give it.
    task_dir = REAL / JOB1
    recording = Recording.load(task_dir)
    assert recording.said[-1].NAME == "ERROR" and recording.inputs == {}
    raw = TaskInput(0, "ok", 0, (Replica(0, f"raw://{recording.task.group[1]}"),))

    ok, replay, reads, _ = replay_task(
        task_dir, tmp_path, WORDCOUNT, extra=["INPUT", "OUTPUT", "DONE"],
        known_inputs={0: raw},
    )

    assert ok and isinstance(replay.ended_with, p.Done)
    assert "ERROR" not in {m.NAME for m in replay.said}
    assert reads.urls == ["raw://foo bar hello hello"]
    assert replay.derived and all(
        step.split(":")[1] in ("INPUT", "MSG", "OUTPUT") for step in replay.derived
    )
    # What the original wrote for the same input once its sysutil was patched (job1b map:0).
    (report,) = replay.outputs
    (theirs,) = Recording.load(REAL / JOB1B / "job1_map_task0").outputs
    assert (report.label, report.size) == (theirs.label, theirs.size) == (0, 79)


@replays(JOB1B_MAPS)
@pytest.mark.parametrize("task_dir", attempts(JOB1B_MAPS), ids=short)
def test_raw_inputs_with_spaces_give_outputs_named_without_whitespace(
    tmp_path: Path, task_dir: Path
) -> None:
    # job1b: the original named its outputs after the raw input, spaces and all; a real master
    # took them into its index line, which then had more than 3 fields. Ours: "_".
    result = Replayed(*replay_task(task_dir, tmp_path, WORDCOUNT))

    assert result.ok and result.replay.derived == []
    assert_same_outputs(result, spaces=True)
    assert all(" " in o.location for o in result.replay.recording.outputs)
    assert not any(c.isspace() for o in result.replay.outputs for c in o.location)


@replays(JOB1B_MAPS, JOB1B_SHUFFLE)
def test_the_shuffle_the_original_ended_with_fatal_completes_on_our_outputs(
    tmp_path: Path,
) -> None:
    job = JobReplay(JOB1B, tmp_path, WORDCOUNT)
    *maps, shuffle_dir = job.task_dirs()
    for task_dir in maps:
        assert job.run(task_dir).ok

    # The recorded shuffle ended with FATAL after its INPUTs: OK, OUTPUT and DONE are derived.
    shuffle = job.run(shuffle_dir, extra=["OUTPUT", "DONE"])

    assert shuffle.ok and isinstance(shuffle.replay.ended_with, p.Done)
    assert {s.split(":")[1] for s in shuffle.replay.derived} == {"MSG", "OUTPUT"}
    # Label by label, the two maps' outputs concatenated: 79 + 71 bytes, and 63.
    assert {o.label: o.size for o in shuffle.replay.outputs} == {0: 79 + 71, 1: 63}
    words = collections.Counter(w for w, _ in job.records(shuffle))
    assert words == collections.Counter({"hello": 3, "foo": 2, "bar": 1, "world": 1})


@replays(JOB1B_SHUFFLE)
def test_the_real_masters_index_with_spaces_ends_our_shuffle_with_fatal(tmp_path: Path) -> None:
    # The index files the real master wrote from the original's outputs, verbatim: 6 fields
    # on a line. The original raised ValueError: FATAL, the job dead at once, as ours (an
    # IndexFileError): a retry would read the same index.
    task_dir = REAL / JOB1B_SHUFFLE
    recording = Recording.load(task_dir)
    locality = locality_of(recording, tmp_path / "data")
    for task_input in recording.inputs.values():
        url = task_input.replicas[0].url
        write(locality, url, (REAL / JOB1B / "index_files" / url.rsplit("/", 1)[1]).read_bytes())

    ok, replay, reads, _ = replay_task(task_dir, tmp_path, WORDCOUNT)

    assert not ok and isinstance(replay.ended_with, p.TaskFatal)
    assert recording.ended_with == "FATAL"
    assert "has 6 fields, expected '<label> <url> <size>'" in replay.ended_with.text
    assert replay.outputs == [] and replay.derived == []
    assert all(url.startswith("dir://") for url in reads.urls)


@replays(f"{JOB3}/*")
def test_the_pipeline_with_a_bad_input_chain_ends_its_reduce_with_fatal(tmp_path: Path) -> None:
    job = JobReplay(JOB3, tmp_path, PIPE_BAD_CHAIN)
    *maps, reduce = job.run_all()

    for result in maps:
        assert result.ok and result.replay.derived == []
        assert_same_outputs(result)
    assert not reduce.ok and isinstance(reduce.replay.ended_with, p.TaskFatal)
    assert reduce.replay.derived == [] and reduce.replay.outputs == []
    # The same fault: the reader of the chain gets no stream (``None``) to read.
    assert "AttributeError" in reduce.replay.ended_with.text
    assert "NoneType" in reduce.replay.ended_with.text


@replays(f"{JOB4}/*")
def test_the_pipeline_word_count_replays_task_by_task(tmp_path: Path) -> None:
    job = JobReplay(JOB4, tmp_path, PIPE_WC)
    results = job.run_all()

    assert [r.replay.recording.task.stage for r in results] == ["map"] * 2 + ["reduce"] * 2
    for result in results:
        assert result.ok and isinstance(result.replay.ended_with, p.Done)
        assert result.replay.derived == []
        assert_same_outputs(result)
    reduced = [job.records(r) for r in results[2:]]
    assert reduced == [
        [("bar", 1), ("foo", 1), ("foo", 1)],
        [("hello", 2), ("hello", 1), ("world", 1)],
    ]


@replays(JOB5)
@pytest.mark.parametrize("task_dir", attempts(JOB5), ids=short)
def test_a_printing_map_sends_few_msgs_and_no_ping(tmp_path: Path, task_dir: Path) -> None:
    # job5: the original sent PING after a MSG; the real master refused it and the job died.
    ok, replay, _, _ = replay_task(
        task_dir, tmp_path, Worker(map=prints_then_maps), extra=["OUTPUT", "DONE"]
    )

    assert ok and isinstance(replay.ended_with, p.Done)
    assert b"PING" not in replay.worker_bytes
    names = [m.NAME for m in replay.said]
    assert "PING" not in names and names.count("MSG") <= 2
    printed = "\n".join(replay.messages).splitlines()
    assert printed[:2] == ["hello from print", "more 0"] and "more 49" in printed


@replays(JOB8A)
@pytest.mark.parametrize("task_dir", attempts(JOB8A), ids=short)
def test_unreachable_http_replicas_fail_over_where_the_original_hung(
    tmp_path: Path, task_dir: Path
) -> None:
    # job8a: the original kept retrying HTTP for 100 s, sending nothing. Ours reports each
    # replica failed (INPUT_ERR, replies by the master's rules) and ends with ERROR.
    ok, replay, reads, _ = replay_task(
        task_dir, tmp_path, Worker(map=wc_map), extra=["INPUT_ERR", "ERROR"]
    )

    assert not ok and isinstance(replay.ended_with, p.TaskError)
    assert [m for m in replay.said if isinstance(m, p.InputError)] == [
        p.InputError(0, (0,)), p.InputError(0, (0, 1)),
    ]
    assert replay.derived == ["4:INPUT_ERR", "5:INPUT_ERR"]
    assert reads.urls == [
        "http://127.0.0.1:1/nonexistent", "http://localhost:8989/no/such/file",
    ]


@replays(f"{JOB9}/*")
def test_the_shuffle_after_input_err_replays_on_our_map_output(tmp_path: Path) -> None:
    job = JobReplay(JOB9, tmp_path, Worker(map=ask_master_directly))
    mapped, shuffled = job.run_all()

    assert mapped.ok and shuffled.ok
    assert mapped.replay.derived == [] and shuffled.replay.derived == []
    assert_same_outputs(mapped)
    assert_same_outputs(shuffled)
    assert shuffled.replay.messages[0] == "Shuffled 1 inputs into 1 label(s)"
    assert job.records(shuffled) == [("abc", 1)]


@replays(JOB10A)
@pytest.mark.parametrize(
    ("function", "reader", "ending"),
    [
        (wc_map_str_only, bytes_line_reader, "FATAL"),
        (wc_map_str_only, None, "DONE"),
        (wc_map, None, "DONE"),
    ],
    ids=["as-recorded-bytes", "as-recorded-str", "fixed"],
)
def test_a_ddfs_blob_gives_str_lines_or_bytes_when_asked(
    tmp_path: Path, function: Any, reader: Any, ending: str
) -> None:
    # job10a: the map took str lines and got bytes: FATAL. Ours gives str lines from every
    # scheme, so the recorded map completes, as job10b's fixed one does; asked for bytes
    # (bytes_line_reader) it fails as the original did.
    (task_dir,) = attempts(JOB10A)
    recording = Recording.load(task_dir)
    write(locality_of(recording, tmp_path / "data"), DATA1_URL, DATA1)
    extra = ["MSG", "OUTPUT", "DONE"] if ending == "DONE" else []

    worker = Worker(map=function, reduce=count_words, partitions=2, map_reader=reader)
    ok, replay, reads, _ = replay_task(task_dir, tmp_path, worker, extra=extra)

    assert reads.urls == [DATA1_URL]
    ended = replay.ended_with.NAME if replay.ended_with is not None else None
    assert ended == ending
    if ending == "FATAL":
        their_last = getattr(recording.said[-1], "text", "").rstrip().rsplit("\n", 1)[-1]
        assert getattr(replay.ended_with, "text", "").rstrip().endswith(their_last)
        assert replay.derived == [] and not ok
    else:
        # As job10b's map:0 of the same blob wrote: label 0 of 72 bytes, label 1 of 66.
        assert ok and {o.label: o.size for o in replay.outputs} == {0: 72, 1: 66}


@replays(f"{JOB10B}/*")
def test_a_ddfs_tag_word_count_replays_task_by_task(tmp_path: Path) -> None:
    # job10b: the map's input is the tag's blob, a disco:// URL under ddfs_data.
    job = JobReplay(JOB10B, tmp_path, WORDCOUNT)
    results = job.run_all()

    for result in results:
        assert result.ok and result.replay.derived == []
        assert_same_outputs(result)
    assert results[0].reads.urls == [DATA1_URL]
    assert results[0].replay.messages[0] == (
        "Done: 2 entries mapped [input read: 100.0%, 24 of 24 bytes]"
    )
    assert sorted(r for result in results[2:] for r in job.records(result)) == [
        ("hello", 1), ("three", 1), ("world", 2),
    ]


@replays(JOB13, JOB14)
@pytest.mark.parametrize(
    ("task_dir", "function", "written"),
    [
        *((d, writes_a_short_frame, 'MSG 5 "x"') for d in attempts(JOB13)),
        *((d, writes_garbage, "this is not a protocol message\nafter garbage")
          for d in attempts(JOB14)),
    ],
    ids=lambda v: short(v) if isinstance(v, Path) else "",
)
def test_what_job_code_writes_to_stderr_reaches_the_master_as_msg_text(
    tmp_path: Path, task_dir: Path, function: Any, written: str
) -> None:
    # job13/job14: the original let job code write raw bytes to the protocol channel: the real
    # master could not parse them and killed the task. Ours: the text travels inside a MSG.
    ok, replay, _, _ = replay_task(
        task_dir, tmp_path, Worker(map=function), extra=["OUTPUT", "DONE"], upto_fault=True
    )

    assert replay.recording.fault is not None
    assert ok and isinstance(replay.ended_with, p.Done)
    decoder = p.FrameDecoder()
    frames = decoder.feed(bytes(replay.worker_bytes))
    decoder.close()
    assert [f.name for f in frames] == [m.NAME for m in replay.said]
    assert written in "\n".join(replay.messages)


# -- what the replay refuses ---------------------------------------------------------------




def started(*more: p.WorkerMessage, task: str = JOB2_MAP) -> ReplayMaster:
    """A replay of a recorded map, past WORKER, TASK and INPUT, then ``more``."""
    replay = ReplayMaster(Recording.load(REAL / task))
    for message in (p.WorkerHello(17255), p.TaskRequest(), p.InputRequest(), *more):
        replay.send(message)
        if message.NAME not in ("DONE", "ERROR", "FATAL"):
            replay.receive()
    return replay


@pytest.mark.parametrize(
    ("message", "why"),
    [
        (p.Ping(), "refuses PING"),
        (p.OutputReport(0, "/abs/map-0", 1), "absolute path"),
        (p.OutputReport(0, "map:0-x/out", 1), "remote URL"),
        (p.OutputReport(0, "ab/map:0 x-0-11-1/map-0", 1), "whitespace"),
        (p.OutputReport(0, "out", 1), "<2 hex>/<task uid>/<file>"),
        (p.InputError(0, (3,)), "not among [0, 1]"),
        (p.InputError(5, (0,)), "never given"),
        (p.TaskFatal("x"), "never sent FATAL"),
        (p.TaskRequest(), "TASK must come once"),
    ],
)
def test_the_replay_refuses_what_a_real_master_would_not_accept(
    message: p.WorkerMessage, why: str
) -> None:
    task = JOB9_MAP if isinstance(message, p.InputError) else JOB2_MAP
    replay = started(task=task)
    with pytest.raises(ProtocolError, match=re.escape(why)) as caught:
        replay.send(message)
    assert f"{task}, step 4" in str(caught.value)


def test_the_replay_refuses_anything_after_done_and_out_of_order() -> None:
    replay = started(p.Done())
    with pytest.raises(ProtocolError, match="after DONE"):
        replay.send(p.Message("late"))
    out_of_order = started(p.OutputReport(0, "ab/map:0-x-0-11-1/map-0", 1))
    with pytest.raises(ProtocolError, match="INPUT out of order"):
        out_of_order.send(p.InputRequest())
    with pytest.raises(ProtocolError, match="first message must be WORKER"):
        ReplayMaster(Recording.load(REAL / JOB2_MAP)).send(
            p.TaskRequest()
        )


def test_the_replay_kills_a_flood_of_msgs_and_a_shrinking_input_err_list() -> None:
    now = [0.0]
    replay = ReplayMaster(Recording.load(REAL / JOB9_MAP), clock=lambda: now[0])
    for message in (p.WorkerHello(1), p.TaskRequest(), p.InputRequest(),
                    p.InputError(0, (0, 1))):
        replay.send(message)
        replay.receive()
    with pytest.raises(ProtocolError, match="every replica failed so far"):
        replay.send(p.InputError(0, (0,)))
    for i in range(10):
        now[0] += 0.05
        if i == 9:
            with pytest.raises(ProtocolError, match="Worker is behaving badly"):
                replay.send(p.Message(str(i)))
        else:
            replay.send(p.Message(str(i)))


def test_a_recording_pairs_every_message_with_its_reply() -> None:
    recording = Recording.load(REAL / JOB9_MAP)
    replies = {e.message.NAME: e.reply for e in recording.exchanges}
    assert replies["INPUT_ERR"] == b'FAIL 2 ""\n'
    assert replies["DONE"] is None
    assert recording.inputs == {
        0: TaskInput(0, "ok", 0, (Replica(0, "raw://abc"), Replica(1, "raw://abd")))
    }
    # Unchanged, the TASK reply re-encodes to the recorded bytes.
    replay = ReplayMaster(recording)
    replay.send(p.WorkerHello(19153))
    replay.receive()
    replay.send(p.TaskRequest())
    assert replay.receive() == p.TaskReply(recording.task)
    assert bytes(replay.master_bytes) == b"".join(
        e.reply or b"" for e in recording.exchanges[:2]
    )


# -- every recorded task conversation is replayed ------------------------------------------


class Covered(NamedTuple):
    """What the replays of a recorded task prove, and how the replay takes the recorded
    worker's own bytes: ``refused`` None = accepted, reply for reply; else what it says."""

    proves: str
    refused: str | None = None


#: Every recorded task directory (a pattern relative to golden/real-master), what the tests
#: that replay our worker on it (see :data:`REPLAYED`) prove, and the recorded worker's fate.
COVERAGE: dict[str, Covered] = {
    JOB1: Covered("ours completes the map the original ended with ERROR (INPUT derived)"),
    JOB1B_MAPS: Covered(
        "ours names outputs without whitespace, same sizes",
        # The real master took these OUTPUTs, then their index line broke the next stage.
        refused="whitespace breaks the line of the master's index file",
    ),
    JOB1B_SHUFFLE: Covered(
        "on our maps' outputs ours completes; on the real index ours sends ERROR, not FATAL"
    ),
    "job2_wordcount_ok/*": Covered("classic word count: same outputs, all replies recorded"),
    f"{JOB3}/*": Covered("pipeline maps the same; reduce with a bad input chain: FATAL"),
    f"{JOB4}/*": Covered("pipeline word count task by task: same outputs and sizes"),
    JOB5: Covered(
        "ours prints in few MSGs and sends no PING",
        refused="refuses PING (\"Unknown message type 'PING'\")",
    ),
    JOB6_ATTEMPTS: Covered("DataError in map: ERROR, every attempt"),
    JOB7_TASK: Covered("ValueError in map: FATAL"),
    JOB8A: Covered("unreachable HTTP replicas: INPUT_ERR, RETRY, FAIL, ERROR (no hang)"),
    JOB8B_ATTEMPTS: Covered("missing local replicas: INPUT_ERR failover, then ERROR"),
    JOB9_MAP: Covered("INPUT_ERR gets the recorded RETRY then FAIL"),
    f"{JOB9}/map_shuffle_*": Covered("shuffle of our map's output, all replies recorded"),
    JOB10A: Covered("DDFS blob lines are bytes: the recorded map FATALs alike; fixed, DONE"),
    f"{JOB10B}/*": Covered("DDFS tag word count task by task: same outputs"),
    "job11_http_api_submitted_by_curl_wordcount/*": Covered(
        "classic word count; the reduce reads the real master's index verbatim"
    ),
    "job12_wordcount_after_restart/*": Covered("classic word count after a master restart"),
    JOB13: Covered(
        "what job code writes to stderr travels in a MSG",
        refused="stuck in the middle of a message",
    ),
    JOB14: Covered(
        "a garbage line from job code travels in a MSG",
        refused="invalid_length: b'is' is not a length",
    ),
}

ALL_TASK_DIRS = sorted(m.parent for m in REAL.rglob("master_to_worker.bin"))


def relative(task_dir: Path) -> str:
    return task_dir.relative_to(REAL).as_posix()


def replay_recorded_worker(task_dir: Path) -> ReplayMaster:
    """The recorded worker's own bytes fed to the replay, as they reached the real master."""
    replay = ReplayMaster(Recording.load(task_dir, upto_fault=True))
    replay.feed((task_dir / "worker_to_master_stderr.bin").read_bytes())
    replay.close()
    return replay


@pytest.mark.parametrize("task_dir", ALL_TASK_DIRS, ids=relative)
def test_every_recorded_task_conversation_is_replayed(task_dir: Path) -> None:
    where = relative(task_dir)
    entries = [pattern for pattern in COVERAGE if fnmatch.fnmatchcase(where, pattern)]
    assert len(entries) == 1, f"{where}: add it to COVERAGE (once) and replay it in a test"
    tests = [name for name, patterns in REPLAYED.items()
             if any(fnmatch.fnmatchcase(where, pattern) for pattern in patterns)]
    assert tests, f"{where}: no test replays our worker on it (@replays)"
    assert all(globals()[name].__name__ == name for name in tests)

    refused = COVERAGE[entries[0]].refused
    if refused is None:
        replay = replay_recorded_worker(task_dir)
        # The very bytes the real master wrote back, reply for reply.
        assert bytes(replay.master_bytes) == (task_dir / "master_to_worker.bin").read_bytes()
        assert replay.derived == []
    else:
        with pytest.raises(ProtocolError, match=re.escape(refused)):
            replay_recorded_worker(task_dir)


@pytest.mark.parametrize("pattern", [JOB13, JOB14])
def test_a_recording_the_real_master_could_not_parse_is_refused_unless_cut_at_the_fault(
    pattern: str,
) -> None:
    refused = COVERAGE[pattern].refused
    assert refused is not None
    for task_dir in attempts(pattern):
        with pytest.raises(ProtocolError, match=re.escape(refused)):
            Recording.load(task_dir)
        cut = Recording.load(task_dir, upto_fault=True)
        assert cut.fault is not None and refused in cut.fault
        assert [m.NAME for m in cut.said] == ["WORKER", "TASK", "INPUT", "INPUT"]
        assert all(e.reply is not None for e in cut.exchanges)


def test_the_replay_refuses_a_frame_left_unfinished_and_a_line_that_is_no_frame() -> None:
    replay = started()
    replay.feed(b'MSG 5 "x"\n')
    with pytest.raises(ProtocolError, match="stuck in the middle of a message"):
        replay.close()
    garbage = started()
    with pytest.raises(ProtocolError, match="invalid_length"):
        garbage.feed(b'this is not a protocol message\nMSG 15 "after garbage"\n')
    # The frames before a fault are answered first, as the master did.
    late = started()
    with pytest.raises(ProtocolError, match="invalid_length"):
        late.feed(b'MSG 3 "a"\nthis is not a protocol message\n')
    assert late.messages == ["a"]
