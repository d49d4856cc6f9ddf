"""What a user of any master relies on: the same jobs give the same results everywhere."""

from __future__ import annotations

import collections
import importlib
import itertools
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from discoworker.app.bootstrap import client_reader
from discoworker.app.ports import Master
from discoworker.app.task_logs import printed_texts
from discoworker.classic import map_line_reader, sum_combiner
from discoworker.errors import JobError
from discoworker.job import Job, result_iterator
from discoworker.pipeline import Stage
from discoworker.pipeline import Worker as PipelineWorker

LONG_WORD = "x" * 300
TEXTS = [
    "the quick brown fox jumps over the lazy dog\nthe dog sleeps\n",
    f"straße café naïve café\n{LONG_WORD} the end\n",
    "fox fox fox\n\n",
]


def words_of(texts: Iterable[str]) -> collections.Counter[str]:
    return collections.Counter(w for t in texts for w in t.split())


def write_inputs(directory: Path) -> list[str]:
    urls = []
    for i, text in enumerate(TEXTS):
        path = directory / f"words{i}.txt"
        path.write_text(text, encoding="utf-8")
        urls.append(f"file://{path}")
    return urls


def split_words(line: bytes | str, params: Any) -> Iterator[tuple[str, int]]:
    text = line.decode("utf-8") if isinstance(line, bytes) else line
    for word in text.split():
        yield word, 1


def sum_counts(records: Iterable[tuple[str, int]], params: Any) -> Iterator[tuple[str, int]]:
    for word, group in itertools.groupby(records, key=lambda r: r[0]):
        yield word, sum(c for _, c in group)


def counts_of(master: Master, results: list[list[str]]) -> collections.Counter[str]:
    total: collections.Counter[str] = collections.Counter()
    for word, count in result_iterator(results, master=master):
        total[word] += count
    return total


def test_classic_word_count_equals_counter(master: Master, words_dir: Path) -> None:
    job = Job(name="ContractWC", master=master).run(
        input=write_inputs(words_dir),
        map=split_words,
        reduce=sum_counts,
        combiner=sum_combiner,
        partitions=3,
        sort=True,
    )
    assert job.name.startswith("ContractWC@")
    assert counts_of(master, job.wait(timeout=120)) == words_of(TEXTS)


def test_pipeline_word_count_equals_counter(master: Master, words_dir: Path) -> None:
    def split(interface: Any, state: Any, label: int, inp: Iterable[Any]) -> None:
        for line in inp:
            for word, one in split_words(line, None):
                interface.output(len(word) % 2).add(word, one)

    def count(interface: Any, state: Any, label: int, inp: Iterable[Any]) -> None:
        out = interface.output(0)
        for word, group in itertools.groupby(inp, key=lambda r: r[0]):
            out.add(word, sum(c for _, c in group))

    worker = PipelineWorker(
        pipeline=[
            ("split", Stage("map", process=split)),
            ("group_label", Stage("reduce", process=count, combine=True, sort=True)),
        ]
    )
    job = Job(name="ContractPipe", master=master, worker=worker).run(input=write_inputs(words_dir))
    assert counts_of(master, job.wait(timeout=120)) == words_of(TEXTS)


def test_reduce_only_over_raw_inputs_with_spaces_and_non_ascii(master: Master) -> None:
    inputs = ["raw://one two two", "raw://dreißig drei"]

    def reduce_lines(records: Iterable[Any], out: Any, params: Any) -> None:
        for line in records:
            for word in (line.decode() if isinstance(line, bytes) else line).split():
                out.add(word, 1)

    job = Job(name="ContractRaw", master=master).run(
        input=inputs, reduce=reduce_lines, reduce_reader=map_line_reader
    )
    assert counts_of(master, job.wait(timeout=120)) == words_of(
        ["one two two", "dreißig drei"]
    )


def test_mixed_raw_and_file_inputs_give_str_keys_counted_together(
    master: Master, words_dir: Path
) -> None:
    path = words_dir / "more.txt"
    path.write_bytes(b"b c\ncaf\xe9\n")  # the last word is Latin-1, not UTF-8

    job = Job(name="ContractMixedLines", master=master).run(
        input=["raw://a_b_b", f"file://{path}"],
        map=lambda line, params: ((w, 1) for w in line.replace("_", " ").split()),
        reduce=sum_counts, partitions=2, sort=True,
    )
    counts = dict(result_iterator(job.wait(timeout=120), master=master))
    assert counts == {"a": 1, "b": 3, "c": 1, "caf\udce9": 1}
    assert all(type(key) is str for key in counts)


def test_a_map_that_prints_a_lot_finishes_and_its_text_is_in_the_events(master: Master) -> None:
    def noisy_map(line: str, params: Any) -> Iterator[tuple[str, int]]:
        for i in range(3000):
            print("noisy line", i)
        yield line, 1

    job = Job(name="ContractNoisy", master=master).run(input=["raw://hello"], map=noisy_map)
    assert counts_of(master, job.wait(timeout=120)) == {"hello": 1}
    events = list(job.events())
    text = "\n".join(e.message for e in events)
    assert "noisy line 0" in text
    assert "noisy line 2999" in text
    # What the MSGs left out is in the task's log file, which the master serves.
    (printed,) = printed_texts(events, client_reader(master), "map:0")
    assert printed.text.splitlines()[:3000] == [f"noisy line {i}" for i in range(3000)]


def test_a_map_that_raises_ends_the_job_naming_the_task_and_the_exception(
    master: Master,
) -> None:
    def failing_map(line: str, params: Any) -> Iterator[tuple[str, int]]:
        raise ValueError(f"cannot map {line!r}")
        yield line, 1

    job = Job(name="ContractFatal", master=master).run(input=["raw://boom"], map=failing_map)
    with pytest.raises(JobError) as caught:
        job.wait(timeout=120)
    assert "map:0" in str(caught.value)
    assert "ValueError: cannot map 'boom'" in str(caught.value)
    assert "Traceback" in str(caught.value)


def test_an_input_fails_over_to_its_second_replica_without_reading_twice(
    master: Master, words_dir: Path
) -> None:
    good = write_inputs(words_dir)[0]
    missing = f"file://{words_dir}/missing.txt"
    job = Job(name="ContractFailover", master=master).run(
        input=[[missing, good]], map=split_words, reduce=sum_counts, sort=True
    )
    assert counts_of(master, job.wait(timeout=120)) == words_of(TEXTS[:1])


def test_a_lambda_map_defined_in_the_test_runs(master: Master) -> None:
    job = Job(name="ContractLambda", master=master).run(
        input=["raw://a_b", "raw://c"], map=lambda line, params: [(line.upper(), len(line))]
    )
    assert counts_of(master, job.wait(timeout=120)) == {"A_B": 3, "C": 1}


def test_a_helper_module_that_is_not_installed_is_shipped_and_imported(
    master: Master, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Names no other test uses; removed from sys.modules afterwards.
    package = tmp_path / "dw_contract_helpers"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "shout.py").write_text("def shout(text):\n    return text.upper() + '!'\n")
    (tmp_path / "dw_contract_jobcode.py").write_text(
        "import dw_contract_helpers.shout\n\n"
        "def loud_map(line, params):\n"
        "    yield dw_contract_helpers.shout.shout(line), 1\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("dw_contract_helpers", "dw_contract_helpers.shout", "dw_contract_jobcode"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    try:
        jobcode = importlib.import_module("dw_contract_jobcode")
        job = Job(name="ContractShipped", master=master).run(
            input=["raw://hey"], map=jobcode.loud_map
        )
        assert counts_of(master, job.wait(timeout=120)) == {"HEY!": 1}
    finally:
        for name in ("dw_contract_helpers", "dw_contract_helpers.shout", "dw_contract_jobcode"):
            sys.modules.pop(name, None)


def test_a_profiled_job_leaves_its_stats_as_out_of_band_results(
    master: Master, tmp_path: Path
) -> None:
    import pstats

    job = Job(name="ContractProfile", master=master).run(
        input=["raw://a_b"], map=split_words, profile=True
    )
    job.wait(timeout=120)
    (key,) = [k for k in job.oob_list() if k.startswith("profile-map:")]
    stats_file = tmp_path / "stats"
    stats_file.write_bytes(job.oob_get(key))
    stats = pstats.Stats(str(stats_file))
    assert any(name == "split_words" for (_, _, name) in stats.stats)  # type: ignore[attr-defined]


def test_a_function_kept_in_params_from_a_local_module_travels(
    master: Master, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from discoworker.classic import Params

    (tmp_path / "dw_contract_params_helpers.py").write_text(
        "def double(n):\n    return 2 * n\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        helpers = importlib.import_module("dw_contract_params_helpers")

        def scaled_map(line: str, params: Any) -> Iterator[tuple[str, int]]:
            yield line, params.scale(len(line))

        job = Job(name="ContractParams", master=master).run(
            input=["raw://abc"], map=scaled_map, params=Params(scale=helpers.double)
        )
        assert counts_of(master, job.wait(timeout=120)) == {"abc": 6}
    finally:
        sys.modules.pop("dw_contract_params_helpers", None)
