"""The classic worker, task by task through the in-memory master, as a real master runs it."""

from __future__ import annotations

import collections
import io
import pickle
import urllib.parse
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs
import cloudpickle
import pytest

from discoworker.adapters.openers import UrlOpener
from discoworker.adapters.transport_memory import MemoryTransport, ScriptedMaster
from discoworker.app.classic import (
    SORT_FAN_IN,
    Worker,
    external_sort,
    parse_buffer_size,
    sort_key,
    this_partition,
)
from discoworker.app.classic_func import nop_map, sum_combiner, sum_reduce
from discoworker.app.params import Params
from discoworker.app.ports import Opener
from discoworker.app.task_life import run_task
from discoworker.domain import protocol as p
from discoworker.domain.index import IndexEntry, format_index
from discoworker.domain.inputs import Locality, Replica, TaskInput, url_host
from discoworker.domain.jobdict import ClassicJobDict
from discoworker.domain.jobpack import JobPack
from discoworker.domain.records import disco_input_stream
from discoworker.domain.task import index_url, job_home
from tests.unit.app.workers import pack_job, records_file, task_spec

JOBNAME = "test@1:2:3"
HOST = "localhost"
TEXT = [
    "the quick brown fox jumps over the lazy dog",
    "naïve café straße 日本語 the fox",
    "",
    "x" * 3000 + " the " + "y" * 70000,
    "  spaced   out\tline with\ttabs the  ",
    "Ünïcödé ünïcödé ÜNÏCÖDÉ dog dog dog",
]


def opener(locality: Locality) -> Opener:
    return UrlOpener(locality)


@attrs.define
class Cluster:
    """One node's data dir and a job's home there: runs tasks and plays the master's index."""

    root: Path
    worker: Any
    jobargs: dict[str, Any]
    jobfile: str = ""
    micros: int = 1_700_000_000_000_000
    taskids: int = 0

    def __attrs_post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.jobfile = pack_job(self.home, self.worker, **self.jobargs)

    @property
    def home(self) -> Path:
        return Path(job_home(str(self.root / "disco"), HOST, JOBNAME))

    def run(
        self, stage: str, grouping: str, group: tuple[int, str], inputs: list[TaskInput]
    ) -> ScriptedMaster:
        """Run one task to its end; the master that saw it (asserting DONE)."""
        spec = attrs.evolve(
            task_spec(self.jobfile, self.root, stage=stage, taskid=self.taskids),
            grouping=grouping,
            group=group,
        )
        self.taskids += 1
        master = ScriptedMaster(spec, inputs)
        ok = run_task(MemoryTransport(master), opener, home=self.home, pid=4242)
        assert ok, getattr(master.ended_with, "text", master.ended_with)
        return master

    def index(self, stage: str, master: ScriptedMaster) -> str:
        """Write the master's index of a finished task's outputs; its ``dir://`` URL."""
        self.micros += 1
        taskid = master.task.taskid
        entries = [
            IndexEntry(o.label, self.url(o), o.size)
            for o in master.outputs
        ]
        path = self.home / f".disco/{stage}-{taskid}-{self.micros}.results"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(format_index(entries))
        return index_url(HOST, JOBNAME, stage, taskid, self.micros)

    def url(self, output: p.OutputReport) -> str:
        return f"disco://{HOST}/disco/{HOST}/{self.home.parent.name}/{JOBNAME}/{output.location}"

    def records(self, output: p.OutputReport) -> list[Any]:
        path = self.home / output.location
        with path.open("rb") as f:
            return list(disco_input_stream(f, output.size, str(path)))


def data_input(input_id: int, url: str, label: int | str = 0) -> TaskInput:
    return TaskInput(input_id, "ok", label, (Replica(0, url),))  # type: ignore[arg-type]


def raw(text: str) -> str:
    return "raw://" + urllib.parse.quote(text)


def words(line: Any, params: Any) -> list[tuple[str, int]]:
    text = line.decode("utf-8") if isinstance(line, bytes) else line
    return [(w, 1) for w in text.split()]


def job_inputs(tmp_path: Path) -> list[str]:
    """Half of TEXT as raw:// inputs, half as files (a raw:// URL names its map's files)."""
    urls = [raw(line) for line in TEXT[:3]]
    for i, line in enumerate(TEXT[3:]):
        path = tmp_path / f"input-{i}.txt"
        path.write_text(line + "\nthe end\n", encoding="utf-8")
        urls.append(f"file://{path}")
    return urls


def expected_counts(tmp_path: Path) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for line in TEXT:
        counts.update(line.split())
    counts.update(["the", "end"] * len(TEXT[3:]))
    return counts


def run_map_stage(cluster: Cluster, urls: list[str]) -> list[ScriptedMaster]:
    return [
        cluster.run("map", "split", (0, url_host(url)), [data_input(0, url)]) for url in urls
    ]


def run_shuffle(cluster: Cluster, maps: list[ScriptedMaster]) -> ScriptedMaster:
    dirs = [cluster.index("map", m) for m in maps]
    inputs = [data_input(i, url, "all") for i, url in enumerate(dirs)]
    return cluster.run("map_shuffle", "group_node", (0, HOST), inputs)


def test_a_classic_word_count_task_by_task_equals_counter(tmp_path: Path) -> None:
    worker = Worker(
        map=words, reduce=sum_reduce, combiner=sum_combiner, partitions=4, sort=True
    )
    cluster = Cluster(tmp_path, worker, {})
    urls = job_inputs(tmp_path)

    maps = run_map_stage(cluster, urls)
    shuffle = run_shuffle(cluster, maps)
    shuffled = cluster.index("map_shuffle", shuffle)
    labels = sorted({o.label for o in shuffle.outputs})
    reduces = [
        cluster.run("reduce", "group_label", (label, ""), [data_input(0, shuffled, label)])
        for label in labels
    ]

    counts: collections.Counter[str] = collections.Counter()
    for reduce in reduces:
        (output,) = reduce.outputs
        assert output.label == 0
        for key, value in cluster.records(output):
            assert key not in counts, "a key in two partitions"
            counts[key] = value
    assert counts == expected_counts(tmp_path)
    assert labels == [0, 1, 2, 3]
    assert shuffle.messages == [f"Shuffled {len(maps)} inputs into 4 label(s)"]
    # The original's status line, with the share of the input read and its bytes.
    assert maps[0].messages == ["Done: 1 entries mapped [input read: 100.0%, 43 of 43 bytes]"]
    for output in shuffle.outputs:
        assert output.location.endswith(f"/map_shuffle-0-{HOST}-{output.label}")
    # The combiner summed in each map: no map output repeats a key.
    for m in maps:
        for output in m.outputs:
            keys = [k for k, _v in cluster.records(output)]
            assert len(keys) == len(set(keys))


def underscored(line: str, params: Any) -> list[tuple[str, int]]:
    return [(w, 1) for w in line.split("_")]


def test_outputs_are_named_and_labelled_as_the_real_master_saw(tmp_path: Path) -> None:
    # job2_wordcount_ok: partitions=2; "world" went to label 1, the other words to label 0.
    cluster = Cluster(tmp_path, Worker(map=underscored, partitions=2), {})
    first, second = run_map_stage(cluster, ["raw://foo_bar_hello_hello", "raw://hello_world_foo"])
    assert [o.label for o in first.outputs] == [0]
    assert first.outputs[0].location.endswith("/map-0-foo_bar_hello_hello-0")
    assert first.messages == ["Done: 1 entries mapped [input read: 100.0%, 19 of 19 bytes]"]
    assert sorted(o.label for o in second.outputs) == [0, 1]
    (label_1,) = [o for o in second.outputs if o.label == 1]
    assert cluster.records(label_1) == [("world", 1)]


def test_a_map_only_job_writes_the_unlabelled_output(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, Worker(map=words, partitions=None), {})
    (m,) = run_map_stage(cluster, [raw("a b a")])
    (output,) = m.outputs
    assert output.label == 0
    assert "/map:" in output.location  # the task's uid: the unlabelled output
    assert cluster.records(output) == [("a", 1), ("b", 1), ("a", 1)]


def count_lines(lines: Iterable[Any], params: Any) -> Iterator[tuple[str, int]]:
    counts: collections.Counter[str] = collections.Counter()
    for line in lines:
        counts.update(line.split())
    yield from sorted(counts.items())


def test_a_reduce_only_job_over_raw_inputs(tmp_path: Path) -> None:
    worker = Worker(reduce=count_lines, reduce_reader=None)
    cluster = Cluster(tmp_path, worker, {})
    inputs = [data_input(i, raw(line)) for i, line in enumerate(TEXT)]
    master = cluster.run("reduce", "group_all", (0, ""), inputs)
    (output,) = master.outputs
    expected: collections.Counter[str] = collections.Counter()
    for line in TEXT:
        expected.update(line.split())
    assert dict(cluster.records(output)) == dict(expected)
    # An empty raw:// input has no line at all.
    (said,) = master.messages
    assert said.startswith(
        f"Done: {sum(1 for t in TEXT if t)} entries reduced [input read: 100.0%, input 6 of 6"
    )


MIXED_KEYS: list[Any] = [
    *range(-50, 50),
    *(i / 3 for i in range(-30, 30)),
    *(f"k{i:03}" for i in range(80)),
    *(f"é{i}".encode() for i in range(40)),
    *((i % 3, f"t{i}") for i in range(40)),
    None,
    True,
]


def write_out(entries: Iterable[Any], out: Any, params: Any) -> None:
    for key, value in entries:
        out.add(key, value)


def test_sort_orders_mixed_keys_beyond_the_buffer_and_cleans_up(tmp_path: Path) -> None:
    records = [(key, i) for i, key in enumerate(MIXED_KEYS)] * 3
    shuffled = records[::-1]
    halves = [shuffled[: len(shuffled) // 2], shuffled[len(shuffled) // 2 :]]
    urls = [records_file(tmp_path / f"part{i}", half) for i, half in enumerate(halves)]
    worker = Worker(reduce=write_out, sort=True, sort_buffer_size=2000)
    cluster = Cluster(tmp_path, worker, {})

    master = cluster.run("reduce", "group_all", (0, ""), [data_input(i, u) for i, u in
                                                           enumerate(urls)])

    (output,) = master.outputs
    got = cluster.records(output)
    keys = [sort_key(k) for k, _v in got]
    assert keys == sorted(keys)
    assert sorted(map(pickle.dumps, got)) == sorted(map(pickle.dumps, records))
    assert not list(cluster.home.rglob("*.run"))


def test_external_sort_is_stable_and_merges_many_runs_in_passes(tmp_path: Path) -> None:
    records = [(i % 7, i) for i in range(3000)]
    got = list(external_sort(records, buffer_size=500, directory=str(tmp_path)))
    assert got == sorted(records, key=lambda r: r[0])  # stable: values ascend within a key
    assert not list(tmp_path.iterdir())
    # With a buffer of one record every record is a run: more runs than one merge takes.
    assert len(records) > SORT_FAN_IN
    small = records[:200]
    assert list(external_sort(small, buffer_size=1, directory=str(tmp_path))) == sorted(
        small, key=lambda r: r[0]
    )


def test_external_sort_keeps_a_record_that_holds_one_object_twice(tmp_path: Path) -> None:
    shared = {key: f"spam of {key}" for key in "aceg"}
    records = [(key, [shared[key]] * 2 if key in shared else 1) for key in "hgfedcba"]
    # Runs of a few records each, read back by one unpickler per run.
    got = list(external_sort(records, buffer_size=600, directory=str(tmp_path)))
    assert got == sorted(records)
    assert not list(tmp_path.iterdir())


def test_external_sort_merges_in_memory_bounded_by_its_buffer(tmp_path: Path) -> None:
    import tracemalloc

    records = ((f"key{i * 7919 % 50_000:05d}", "v" * 20) for i in range(60_000))
    tracemalloc.start()
    try:
        count = sum(1 for _ in external_sort(records, buffer_size=256 << 10,
                                             directory=str(tmp_path)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 60_000
    # About 8 MB of records went through a 256 KiB buffer; the merge holds no run whole.
    assert peak < 3 << 20


def test_sort_buffer_sizes_read_like_unix_sort() -> None:
    assert parse_buffer_size(1000) == 1000
    assert parse_buffer_size("64M") == 64 << 20
    assert parse_buffer_size("2k") == 2048
    assert parse_buffer_size("10") == 10240
    assert parse_buffer_size("10%") > 0
    with pytest.raises(ValueError, match="sort_buffer_size"):
        parse_buffer_size("lots")


def counting_map(entry: Any, params: Any) -> list[tuple[str, int]]:
    params.calls += 1
    return [("calls", params.calls), ("partition", this_partition())]


def test_each_task_gets_its_own_copy_of_params(tmp_path: Path) -> None:
    params = Params(calls=0)
    cluster = Cluster(tmp_path, Worker(map=counting_map, params=params), {})
    maps = run_map_stage(cluster, [raw("one"), raw("two")])
    for m in maps:
        assert cluster.records(m.outputs[0]) == [("calls", 1), ("partition", 0)]
    assert params.calls == 0


def test_params_pickle_with_functions_and_copy_deeply() -> None:
    offset = 5
    params = Params(items=[1], shift=lambda x: x + offset)
    copy = params.for_task()
    copy.items.append(2)
    assert params.items == [1]
    again = pickle.loads(cloudpickle.dumps(params))
    assert again.shift(1) == 6
    assert again.items == [1]
    assert "items=[1]" in repr(params)


def marking_combiner(
    key: Any, value: Any, buf: dict[Any, Any], done: bool, params: Any
) -> list[tuple[Any, Any]] | None:
    if done:
        return [("done", sum(buf.values()))]
    buf[key] = buf.get(key, 0) + value
    return [(key, "seen")] if key == "a" else None


def test_the_combiner_is_called_per_record_then_once_per_partition(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, Worker(map=words, combiner=marking_combiner, partitions=2), {})
    (m,) = run_map_stage(cluster, [raw("a b c d e f a g h")])
    total = 0
    for output in m.outputs:
        recs = cluster.records(output)
        assert [k for k, _v in recs].count("done") == 1
        assert recs[-1][0] == "done"
        total += recs[-1][1]
    assert total == 9
    assert sum(1 for o in m.outputs for r in cluster.records(o) if r == ("a", "seen")) == 2


def test_a_map_with_nop_map_and_a_custom_partition(tmp_path: Path) -> None:
    worker = Worker(
        map=nop_map,
        map_reader=lambda fd, size, url: ((line.strip(), 1) for line in fd),
        map_input_stream=None,
        partition=lambda key, n, params: len(key) % n,
        partitions=4,
    )
    # map_input_stream None would leave no stream: give the default back through jobargs.
    from discoworker.app.streams import task_input_stream

    cluster = Cluster(tmp_path, worker, {"map_input_stream": [task_input_stream]})
    (m,) = run_map_stage(cluster, [raw("a\nbb\nccc\ndddd\neeeee")])
    by_label = {o.label: cluster.records(o) for o in m.outputs}
    assert by_label == {
        1: [("a", 1), ("eeeee", 1)],
        2: [("bb", 1)],
        3: [("ccc", 1)],
        0: [("dddd", 1)],
    }


def test_a_partition_outside_the_labels_is_fatal(tmp_path: Path) -> None:
    worker = Worker(map=words, partition=lambda key, n, params: n, partitions=2)
    cluster = Cluster(tmp_path, worker, {})
    spec = attrs.evolve(task_spec(cluster.jobfile, tmp_path), group=(0, "x"))
    master = ScriptedMaster(spec, [data_input(0, raw("a"))])
    assert not run_task(MemoryTransport(master), opener, home=cluster.home, pid=1)
    assert isinstance(master.ended_with, p.TaskFatal)
    assert "outside 0..1" in master.ended_with.text


def test_the_classic_jobdict_is_version_1_and_passes_the_masters_rules(tmp_path: Path) -> None:
    job = type("J", (), {"name": "WordCount"})()
    worker = Worker(map=words, reduce=sum_reduce, partitions=4)
    jobdict = worker.jobdict(job, input=["raw://a", ["http://h1/x", "http://h2/x"]])
    checked = ClassicJobDict.from_json(jobdict)
    assert checked.map and checked.reduce and not checked.reduce_shuffle
    assert checked.nr_reduces == 4
    assert jobdict["input"] == ["raw://a", ["http://h1/x", "http://h2/x"]]
    assert Worker(reduce=sum_reduce).jobdict(job, input=["raw://a"])["nr_reduces"] == 1
    assert Worker(map=words, partitions=None).jobdict(job, input=[])["nr_reduces"] == 1
    pack = JobPack.load(io.BytesIO(worker.jobpack(job, input=["raw://a"]).dumps()))
    assert pack.version == 1
    ClassicJobDict.from_json(pack.jobdict)


def half_then_fail(line: Any, params: Any) -> Iterator[tuple[str, int]]:
    yield ("written", 1)
    raise ValueError("map failed half-way")


def test_a_failing_map_leaves_no_output_visible(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, Worker(map=half_then_fail, partitions=2), {})
    spec = attrs.evolve(task_spec(cluster.jobfile, tmp_path), group=(0, "x"))
    master = ScriptedMaster(spec, [data_input(0, raw("a"))])
    assert not run_task(MemoryTransport(master), opener, home=cluster.home, pid=1)
    assert isinstance(master.ended_with, p.TaskFatal)
    assert "map failed half-way" in master.ended_with.text
    assert not [f for f in cluster.home.rglob("*") if f.is_file() and "map-" in f.name]


def line_types(line: Any, params: Any) -> list[tuple[Any, str]]:
    return [(line, type(line).__name__)]


NOT_UTF8 = b"caf\xe9 \xff\xfe ok\n"


def test_a_map_sees_str_lines_from_raw_and_file_inputs_even_when_not_utf8(
    tmp_path: Path,
) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"first line\n" + NOT_UTF8 + "straße\r\n".encode())
    cluster = Cluster(tmp_path, Worker(map=line_types, partitions=None), {})
    from_raw, from_file = run_map_stage(cluster, [raw("a b\nc"), f"file://{path}"])

    assert cluster.records(from_raw.outputs[0]) == [("a b\n", "str"), ("c", "str")]
    lines = cluster.records(from_file.outputs[0])
    assert [kind for _, kind in lines] == ["str"] * 3
    assert lines[0][0] == "first line\n"
    # Lines end at "\n" only (the "\r" stays), and no byte is lost: the bytes that are not
    # UTF-8 come back exactly.
    assert lines[2][0] == "straße\r\n"
    assert lines[1][0].encode("utf-8", "surrogateescape") == NOT_UTF8
    assert lines[1][0] == "caf\udce9 \udcff\udcfe ok\n"


def test_bytes_line_reader_gives_the_exact_bytes_of_every_scheme(tmp_path: Path) -> None:
    from discoworker.task_io import bytes_line_reader

    path = tmp_path / "latin1.txt"
    path.write_bytes(NOT_UTF8)
    worker = Worker(map=line_types, partitions=None, map_reader=bytes_line_reader)
    cluster = Cluster(tmp_path, worker, {})
    from_raw, from_file = run_map_stage(
        cluster, ["raw://" + urllib.parse.quote_from_bytes(NOT_UTF8), f"file://{path}"]
    )
    assert cluster.records(from_raw.outputs[0]) == [(NOT_UTF8, "bytes")]
    assert cluster.records(from_file.outputs[0]) == [(NOT_UTF8, "bytes")]


def test_a_map_written_for_the_original_with_bytes_to_str_keeps_working(tmp_path: Path) -> None:
    from discoworker.compat import bytes_to_str

    def old_map(line: Any, params: Any) -> Iterator[tuple[str, int]]:
        for word in bytes_to_str(line).split():
            yield word, 1

    path = tmp_path / "words.txt"
    path.write_text("b c\n", encoding="utf-8")
    cluster = Cluster(tmp_path, Worker(map=old_map, partitions=None), {})
    from_raw, from_file = run_map_stage(cluster, [raw("a b"), f"file://{path}"])
    keys = [k for m in (from_raw, from_file) for k, _ in cluster.records(m.outputs[0])]
    assert keys == ["a", "b", "b", "c"]


def test_a_custom_input_chain_yielding_records_passes_them_to_the_map(tmp_path: Path) -> None:
    from discoworker.app.streams import task_input_stream

    def pairs(stream: Any, size: Any, url: str) -> Iterator[Any]:
        for line in stream:
            yield tuple(line.split())

    worker = Worker(map=line_types, partitions=None)
    cluster = Cluster(tmp_path, worker, {"map_input_stream": [task_input_stream, pairs]})
    path = tmp_path / "pairs.txt"
    path.write_bytes(b"k1 v1\nk2 v2\n")
    (m,) = run_map_stage(cluster, [f"file://{path}"])
    assert cluster.records(m.outputs[0]) == [
        ((b"k1", b"v1"), "tuple"), ((b"k2", b"v2"), "tuple")
    ]


def status_lines(master: ScriptedMaster) -> list[str]:
    return [line for text in master.messages for line in text.splitlines()]


def test_status_lines_carry_the_share_of_the_tasks_input_read(tmp_path: Path) -> None:
    from discoworker.domain.progress import figure_share

    lines = [f"{i:09d} " + "w" * 90 for i in range(5000)]  # 101 bytes a line
    files = []
    for n in range(2):
        path = tmp_path / f"part-{n}.txt"
        path.write_text("\n".join(lines) + "\n")
        files.append(f"file://{path}")
    cluster = Cluster(tmp_path, Worker(map=words, status_interval=1000), {})
    master = cluster.run("map", "split", (0, HOST),
                         [data_input(0, files[0]), data_input(1, files[1])])
    said = status_lines(master)
    # The original's wording, then the figure: a share, and how it was reckoned.
    assert said[0].startswith("1000 entries mapped [input read: ")
    assert said[-1] == "Done: 10000 entries mapped [input read: 100.0%, input 2 of 2 at " \
        "505000 of 505000 bytes]"
    shares = [figure_share(line) for line in said]
    assert len(shares) == 11 and None not in shares
    # Each status is about where the records were: 1000 of 10000 lines is a tenth, give or
    # take what the reader has buffered ahead.
    for n, share in enumerate(shares[:-1], start=1):
        assert share is not None and n / 10 <= share <= n / 10 + 0.05, (n, said[n - 1])
    assert "input 1 of 2 at " in said[2] and "input 2 of 2 at " in said[6]


def test_a_slow_task_says_its_share_every_few_seconds_between_intervals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from discoworker.app import classic

    now = [0.0]

    def clock() -> float:
        now[0] += 1.0  # each look at the clock is a second later
        return now[0]

    monkeypatch.setattr("discoworker.app.classic.time.monotonic", clock)
    path = tmp_path / "big.txt"
    path.write_text("a b\n" * 30000)
    cluster = Cluster(tmp_path, Worker(map=words, status_interval=100000), {})
    master = cluster.run("map", "split", (0, HOST), [data_input(0, f"file://{path}")])
    said = status_lines(master)
    # No interval was reached, yet the figure came every STATUS_STEP records once 5 s passed.
    step = classic.STATUS_STEP
    assert [line.split(" [")[0] for line in said] == [
        f"{n} entries mapped" for n in range(5 * step, 30000, 5 * step)
    ] + ["Done: 30000 entries mapped"]


def test_kvgroup_gives_each_run_of_a_key_with_its_values() -> None:
    from discoworker.classic import kvgroup

    records = sorted([("b", 2), ("a", 1), ("b", 3), ("c", 0), ("a", 4)])
    assert [(k, list(vs)) for k, vs in kvgroup(records)] == [
        ("a", [1, 4]), ("b", [2, 3]), ("c", [0])]
    assert [(k, sum(vs)) for k, vs in kvgroup(iter([("x", 1), ("y", 1), ("x", 1)]))] == [
        ("x", 1), ("y", 1), ("x", 1)]  # runs, not keys: unsorted input is grouped as it comes
