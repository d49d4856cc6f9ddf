"""Our worker against the replayed replies of a real Disco 0.5.4 master (golden/real-master).

Each test runs a whole task of ours, packed from a classic job equivalent to the recorded one,
through :class:`ReplayMaster`: the recorded TASK (job file and data dirs substituted), INPUT,
RETRY/FAIL and OK replies, in order. The data the recorded ``dir://`` inputs point to is
recreated under a temporary ``disco_data`` in the same layout, with our record writer.
"""

from __future__ import annotations

import io
import re
import types
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from discoworker.adapters.openers import UrlOpener
from discoworker.adapters.transport_replay import Recording, ReplayMaster
from discoworker.app.classic import Worker
from discoworker.app.ports import Opener
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


# -- the jobs, as equivalent classic jobs of ours ------------------------------------------


def underscored(line: str, params: Any) -> Iterator[tuple[str, int]]:
    """The recorded word count's map: its raw inputs join words with ``_``."""
    for word in line.split("_"):
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
        for record in underscored(text, None):
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
    task_dir: Path, tmp_path: Path, worker: Worker, extra: Iterable[str] = ()
) -> tuple[bool, ReplayMaster, Reads, Path]:
    """Run our worker on a recorded task: (DONE?, the replay, what it opened, job home)."""
    recording = Recording.load(task_dir)
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
    )
    reads = Reads()
    pid = recording.said[0]
    assert isinstance(pid, p.WorkerHello)
    ok = run_task(replay, reads, home=home, pid=pid.pid)
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


WORDCOUNT = Worker(map=underscored, reduce=count_words, partitions=2)


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
    # Our status lines are the original's (it also says "Results sent to master").
    recorded_texts = [m.text for m in recording.said if isinstance(m, p.Message)]
    assert replay.messages and all(text in recorded_texts for text in replay.messages)
    # WORKER, TASK and DONE are byte for byte the recorded frames (we ran with its pid).
    sent = frames_of(bytes(replay.worker_bytes))
    recorded = [e.sent for e in recording.exchanges]
    assert sent[:2] == recorded[:2] and sent[-1] == recorded[-1] == b'DONE 2 ""\n'
    # The recorded index files, and every file they list, are what the task read.
    assert expected_reads <= set(reads.urls)
    if recording.task.stage == "map":
        assert reads.urls == [r.url for i in recording.inputs.values() for r in i.replicas]


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


@pytest.mark.parametrize(
    ("task_dir", "function", "ending"),
    [
        ("job7_fatal_classic/map_task0_18086", deliberate_fatal, p.TaskFatal),
        ("job6_error_classic_retries/map_task0_17970", deliberate_data_error, p.TaskError),
    ],
    ids=["FATAL", "ERROR"],
)
def test_a_failing_map_ends_with_the_recorded_last_word(
    tmp_path: Path, task_dir: str, function: Any, ending: type[p.WorkerMessage]
) -> None:
    ok, replay, _, home = replay_task(REAL / task_dir, tmp_path, Worker(map=function))

    assert not ok and isinstance(replay.ended_with, ending)
    recorded = replay.recording.said[-1]
    assert recorded.NAME == replay.ended_with.NAME
    # The same exception on the last line (only the module of DataError is ours).
    their_last = getattr(recorded, "text", "").rstrip("\n").rsplit("\n", 1)[-1]
    our_last = getattr(replay.ended_with, "text", "").rstrip("\n").rsplit("\n", 1)[-1]
    assert our_last.rsplit(".", 1)[-1] == their_last.rsplit(".", 1)[-1]
    assert replay.derived == []
    assert visible_files(home) == []


def test_missing_local_replicas_fail_over_where_the_original_sent_error(tmp_path: Path) -> None:
    # job8b: the original raised FileNotFoundError on the first missing replica (ERROR at
    # once). Ours fails over: INPUT_ERR twice, answered by the master's rules (no recorded
    # reply exists), then ERROR: the same outcome, by a path a real master accepts.
    task_dir = REAL / "job8b_inputerr_attempt_missing_local_replicas_gives_ERROR/map_task0_18795"

    ok, replay, reads, _ = replay_task(
        task_dir, tmp_path, Worker(map=underscored), extra=["INPUT_ERR"]
    )

    assert not ok and isinstance(replay.ended_with, p.TaskError)
    assert replay.derived == ["4:INPUT_ERR", "5:INPUT_ERR"]
    assert b'RETRY 38 [[1,"disco://vm/disco/vm/nonexist/b"]]\n' in replay.master_bytes
    assert reads.urls == ["disco://vm/disco/vm/nonexist/a", "disco://vm/disco/vm/nonexist/b"]


# -- what the replay refuses ---------------------------------------------------------------


JOB2_MAP = "job2_wordcount_ok/map_task0_17253"
JOB9_MAP = "job9_inputerr_RETRY_FAIL_direct/map_task0_19152"


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
