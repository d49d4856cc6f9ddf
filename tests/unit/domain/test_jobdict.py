"""The jobdict: the master's validation and reasons, the classic-to-pipeline table, job names."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from discoworker.domain.jobdict import (
    GROUPINGS,
    ClassicJobDict,
    JobInput,
    PipelineJobDict,
    PipelineStage,
    erlang_reason,
    erlang_term,
    job_name,
    jobdict_from_json,
    pipeline_of_classic,
    validate_jobenvs,
)
from discoworker.domain.jobpack import JobPack
from discoworker.errors import JobDictError


def _classic(**changes: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "prefix": "WordCount",
        "save_results": False,
        "save_info": "ddfs",
        "scheduler": {},
        "owner": "root@vm",
        "input": ["raw://hello_world_foo", "raw://foo_bar_hello_hello"],
        "worker": "capture.py",
        "map?": True,
        "reduce?": True,
        "reduce_shuffle?": False,
        "nr_reduces": 2,
    }
    d.update(changes)
    return d


def _pipeline(**changes: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "prefix": "PipeWC",
        "save_results": False,
        "save_info": "ddfs",
        "scheduler": {},
        "owner": "root@vm",
        "worker": "capture.py",
        "pipeline": [["map", "split", False], ["reduce", "group_label", False]],
        "inputs": [[0, 0, ["raw://hello_world_foo"]], [0, 0, ["raw://foo_bar_hello_hello"]]],
    }
    d.update(changes)
    return d


def _reason(version: int, obj: Any) -> str:
    with pytest.raises(JobDictError) as info:
        jobdict_from_json(version, obj)
    return str(info.value)


# --- golden and recorded jobdicts -------------------------------------------------------------


def test_golden_v1_jobdict_validates_and_gives_its_wire_form_back(golden: Path) -> None:
    pack = JobPack.loads((golden / "jobpack/jobpack_v1.bin").read_bytes())
    jd = jobdict_from_json(pack.version, pack.jobdict)
    assert isinstance(jd, ClassicJobDict)
    assert jd.input == (("raw://hello", "raw://world"),)
    assert (jd.map, jd.reduce, jd.reduce_shuffle, jd.nr_reduces) == (True, False, False, 1)
    assert jd.owner == "tester@h\u00f4st"
    out = jd.to_json()
    assert out == pack.jobdict
    assert list(out) == list(pack.jobdict)  # the original client's key order
    assert (
        JobPack(1, out, pack.jobenvs, pack.jobhome, pack.jobdata).dumps()
        == (golden / "jobpack/jobpack_v1.bin").read_bytes()
    )
    assert validate_jobenvs(pack.jobenvs) == {"PYTHONPATH": "lib:", "LD_LIBRARY_PATH": "lib"}


def test_golden_v1_translates_to_a_map_only_pipeline(golden: Path) -> None:
    pack = JobPack.loads((golden / "jobpack/jobpack_v1.bin").read_bytes())
    jd = ClassicJobDict.from_json(pack.jobdict)
    stages, inputs = pipeline_of_classic(jd)
    assert stages == (
        PipelineStage("map", "split", False),
        PipelineStage("map_shuffle", "group_node", False),
    )
    assert inputs == (JobInput(0, 0, ("raw://hello", "raw://world")),)


def test_golden_v2_layout_vector_is_refused_like_the_master(golden: Path) -> None:
    pack = JobPack.loads((golden / "jobpack/jobpack_v2.bin").read_bytes())
    assert _reason(pack.version, pack.jobdict) == "jobpack missing key 'pipeline'"


def _recorded_stages(job_dir: Path) -> list[tuple[str, str]]:
    """(stage, grouping) of each TASK reply the real master sent in a recorded job."""
    seen = set()
    for task in job_dir.glob("*/master_to_worker.bin"):
        m = re.search(rb"^TASK \d+ (.*)$", task.read_bytes(), re.MULTILINE)
        assert m is not None
        body = json.loads(m.group(1))
        seen.add((body["taskid"], body["stage"], body["grouping"]))
    ordered: list[tuple[str, str]] = []
    for _, stage, grouping in sorted(seen):
        if (stage, grouping) not in ordered:
            ordered.append((stage, grouping))
    return ordered


def test_recorded_classic_wordcount_runs_the_translated_pipeline(golden: Path) -> None:
    # job2 (WordCount@703:64f42:64531): a classic word count with partitions=2; the packs the
    # master served are not in the vectors, so its jobdict is rebuilt from the recording
    # (jobinfo: worker capture.py, owner root@vm, two raw inputs).
    real = golden / "real-master"
    info = json.loads((real / "events/WordCount@703:64f42:64531.jobinfo.json").read_text())
    jd = ClassicJobDict.from_json(_classic(input=info["inputs"], owner=info["owner"]))
    stages, inputs = pipeline_of_classic(jd)
    recorded = _recorded_stages(real / "job2_wordcount_ok")
    assert recorded == [("map", "split"), ("map_shuffle", "group_node"), ("reduce", "group_label")]
    assert [(s.name, s.grouping) for s in stages] == recorded
    assert [s[0] for s in info["pipeline"]] == [s.name for s in stages]
    assert [i.urls for i in inputs] == [(u,) for u in info["inputs"]]
    assert all((i.label, i.size_hint, i.is_dir) == (0, 0, False) for i in inputs)


def test_recorded_pipeline_job_validates(golden: Path) -> None:
    real = golden / "real-master"
    info = json.loads((real / "events/PipeWC@703:64f80:5376e.jobinfo.json").read_text())
    jd = PipelineJobDict.from_json(_pipeline())
    recorded = _recorded_stages(real / "job4_pipeline_ok")
    assert [(s.name, s.grouping) for s in jd.pipeline] == recorded
    assert [s[0] for s in info["pipeline"]] == [s.name for s in jd.pipeline]
    assert [u for i in jd.inputs for u in i.urls] == info["inputs"]
    assert jd.to_json() == _pipeline()


# --- the classic-to-pipeline table ------------------------------------------------------------

M, MS, R, RS = "map", "map_shuffle", "reduce", "reduce_shuffle"


@pytest.mark.parametrize(
    ("map_", "reduce_", "nr", "rs", "want"),
    [
        (False, False, 1, False, []),
        (False, False, 4, True, []),
        (False, True, 1, True, [(R, "group_all")]),
        (False, True, 3, False, [(R, "group_label")]),
        (False, True, 3, True, [(R, "group_label"), (RS, "group_node")]),
        (True, False, 3, True, [(M, "split"), (MS, "group_node")]),
        (True, True, 1, True, [(M, "split"), (MS, "group_node"), (R, "group_all")]),
        (True, True, 2, False, [(M, "split"), (MS, "group_node"), (R, "group_label")]),
        (
            True,
            True,
            2,
            True,
            [(M, "split"), (MS, "group_node"), (R, "group_label"), (RS, "group_node")],
        ),
    ],
)
def test_pipeline_of_classic_table(
    map_: bool, reduce_: bool, nr: int, rs: bool, want: list[tuple[str, str]]
) -> None:
    jd = ClassicJobDict.from_json(
        _classic(**{"map?": map_, "reduce?": reduce_, "nr_reduces": nr, "reduce_shuffle?": rs})
    )
    stages, _ = pipeline_of_classic(jd)
    assert [(s.name, s.grouping, s.concurrent) for s in stages] == [(n, g, False) for n, g in want]


def test_pipeline_of_classic_inputs() -> None:
    raw = [
        "raw://a",
        ["http://h1/x", "http://h2/x"],
        "dir://vm/x.results",
        ["dir://vm/y.results", "dir://vm2/y.results"],
        [],
    ]
    jd = ClassicJobDict.from_json(_classic(input=raw, **{"map?": False}))
    assert jd.input[1] == ("http://h1/x", "http://h2/x")
    _, inputs = pipeline_of_classic(jd)
    assert inputs == (
        JobInput(0, 0, ("raw://a",)),
        JobInput(0, 0, ("http://h1/x", "http://h2/x")),
        JobInput(0, 0, ("dir://vm/x.results",), is_dir=True),
        JobInput(0, 0, ("dir://vm/y.results",), is_dir=True),  # the master keeps the first
        JobInput(0, 0, ()),
    )
    assert jd.to_json()["input"] == raw


# --- the common rules -------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["prefix", "worker", "owner", "scheduler", "input", "nr_reduces"])
def test_v1_required_keys(key: str) -> None:
    d = _classic()
    del d[key]
    assert _reason(1, d) == f"jobpack missing key '{key}'"


@pytest.mark.parametrize("key", ["prefix", "worker", "owner", "scheduler", "pipeline", "inputs"])
def test_v2_required_keys(key: str) -> None:
    d = _pipeline()
    del d[key]
    assert _reason(2, d) == f"jobpack missing key '{key}'"


def test_optional_keys_have_the_masters_defaults() -> None:
    d = _classic()
    for key in ("save_results", "save_info", "map?", "reduce?", "reduce_shuffle?"):
        del d[key]
    jd = ClassicJobDict.from_json(d)
    assert (jd.save_results, jd.save_info, jd.map, jd.reduce, jd.reduce_shuffle) == (
        False,
        "ddfs",
        False,
        False,
        False,
    )
    assert jd.max_cores == 2**31
    assert PipelineJobDict.from_json(_pipeline(scheduler={"max_cores": 4})).max_cores == 4


@pytest.mark.parametrize("prefix", ["a/b", "a.b", ".", "/"])
def test_invalid_prefix(prefix: str) -> None:
    assert _reason(1, _classic(prefix=prefix)) == "invalid prefix"
    assert _reason(2, _pipeline(prefix=prefix)) == "invalid prefix"


@pytest.mark.parametrize("prefix", ["", "Word Count", "a@b:c", "h\u00f4st-_!*"])
def test_any_other_prefix_is_valid(prefix: str) -> None:
    assert jobdict_from_json(2, _pipeline(prefix=prefix)).prefix == prefix


@pytest.mark.parametrize("value", [1, 0, None, "true", []])
def test_save_results_must_be_a_boolean(value: Any) -> None:
    assert _reason(1, _classic(save_results=value)) == "invalid_job_save_results"
    assert _reason(2, _pipeline(save_results=value)) == "invalid_job_save_results"


@pytest.mark.parametrize("value", ["", "ddf", "dd", "DDFS", "xdfs", "s3://x", 5, None])
def test_invalid_save_info(value: Any) -> None:
    assert _reason(1, _classic(save_info=value)) == "invalid_job_save_info"
    assert _reason(2, _pipeline(save_info=value)) == "invalid_job_save_info"


@pytest.mark.parametrize("value", ["ddfs", "hdfs", "hdfs,namenode:8020,user,/out", "ddfsx"])
def test_valid_save_info(value: str) -> None:
    assert jobdict_from_json(2, _pipeline(save_info=value, save_results=True)).save_info == value


def test_non_objects_and_wrong_types_are_invalid_payloads() -> None:
    assert _reason(2, [1, 2]).startswith("invalid payload: the jobdict must be a JSON object")
    assert _reason(2, _pipeline(scheduler=[])).startswith("invalid payload: 'scheduler'")
    assert _reason(1, _classic(scheduler="x")).startswith("invalid payload: 'scheduler'")
    assert _reason(2, _pipeline(prefix=5)).startswith("invalid payload: 'prefix'")
    assert _reason(2, _pipeline(worker=None)).startswith("invalid payload: 'worker'")
    assert _reason(2, _pipeline(owner=1)).startswith("invalid payload: 'owner'")
    assert _reason(1, _classic(**{"map?": 1})).startswith("invalid payload: 'map?'")
    assert _reason(1, _classic(nr_reduces="2")).startswith("invalid payload: 'nr_reduces'")
    assert _reason(1, _classic(nr_reduces=True)).startswith("invalid payload: 'nr_reduces'")
    assert _reason(1, _classic(input="raw://x")).startswith("invalid payload: 'input'")
    assert _reason(1, _classic(input=[5])).startswith("invalid payload: an input must be")
    assert _reason(1, _classic(input=[["a", 5]])).startswith("invalid payload: an input")


def test_unsupported_version() -> None:
    assert _reason(3, _pipeline()) == "unsupported version '3'"


def test_unknown_keys_are_kept_and_given_back_last() -> None:
    d = _pipeline(extra_key={"a": 1})
    jd = PipelineJobDict.from_json(d)
    assert jd.extra == {"extra_key": {"a": 1}}
    assert list(jd.to_json())[-1] == "extra_key"
    assert jd.to_json() == d


# --- version 2: pipeline and inputs -----------------------------------------------------------


@pytest.mark.parametrize(
    ("pipeline", "reason"),
    [
        ({"map": "split"}, 'Invalid job pipeline: list expected, \'{struct,[{<<"map">>,'),
        (
            [["map", "split"]],
            'Invalid job pipeline: list of length 3 expected, \'[<<"map">>,<<"split">>]\' received',
        ),
        (
            [["map", "split", False, 1]],
            "Invalid job pipeline: list of length 3 expected, "
            '\'[<<"map">>,<<"split">>,false,1]\' received',
        ),
        ([{"x": 1}], "Invalid job pipeline: list expected, '{struct,[{<<\"x\">>,1}]}' received"),
        ([[1, "split", False]], "Invalid job pipeline: string expected, '1' received"),
        ([["m", None, False]], "Invalid job pipeline: string expected, 'null' received"),
        ([["m", "split", 0]], "Invalid job pipeline: boolean expected, '0' received"),
        (
            [["map", "split", False], ["m", "split", "no"]],
            "Invalid job pipeline: boolean expected, '<<\"no\">>' received",
        ),
        # The shape of every entry is checked before names and groupings.
        (
            [["a", "x", False], ["a", "split"]],
            "Invalid job pipeline: list of length 3 expected",
        ),
        ([["a", "split", False], ["a", "group_all", True]], "repeated_pipeline_stages"),
        ([["a", "x", False], ["a", "split", False]], "repeated_pipeline_stages"),
        ([["a", "split", False], ["b", "x", False]], "invalid grouping '<<\"x\">>'"),
        ([["a", "Split", False]], "invalid grouping '<<\"Split\">>'"),
    ],
)
def test_pipeline_rules(pipeline: Any, reason: str) -> None:
    got = _reason(2, _pipeline(pipeline=pipeline))
    assert got.startswith(reason)


def test_pipeline_accepts_every_grouping_and_concurrent() -> None:
    raw = [[f"s{i}", g, i % 2 == 0] for i, g in enumerate(GROUPINGS)]
    jd = PipelineJobDict.from_json(_pipeline(pipeline=raw))
    assert [s.to_json() for s in jd.pipeline] == raw
    assert set(GROUPINGS) == {"split", "group_label", "group_node", "group_node_label", "group_all"}
    assert PipelineJobDict.from_json(_pipeline(pipeline=[])).pipeline == ()


@pytest.mark.parametrize(
    "inputs",
    [
        "raw://x",
        [[0, 0, "raw://x"]],  # a flat [label, size, url]
        [[0, "raw://x"]],
        [[0, 0, ["raw://x"], 1]],
        [[0.0, 0, ["raw://x"]]],
        [[True, 0, ["raw://x"]]],
        [[0, None, ["raw://x"]]],
        [[0, 0, ["raw://x", 5]]],
        [["raw://x"]],
        [{"label": 0}],
    ],
)
def test_invalid_job_inputs(inputs: Any) -> None:
    assert _reason(2, _pipeline(inputs=inputs)) == "invalid_job_inputs"


def test_valid_job_inputs() -> None:
    raw = [[0, 0, ["raw://a", "raw://b"]], [-3, 12345678901, []], [7, 1, ["dir://x"]]]
    jd = PipelineJobDict.from_json(_pipeline(inputs=raw))
    assert jd.inputs == (
        JobInput(0, 0, ("raw://a", "raw://b")),
        JobInput(-3, 12345678901, ()),
        JobInput(7, 1, ("dir://x",)),  # a data input in version 2
    )
    assert [i.to_json() for i in jd.inputs] == raw


def test_pipeline_is_checked_before_inputs() -> None:
    assert _reason(2, _pipeline(pipeline=[["a", "x", False]], inputs=5)).startswith(
        "invalid grouping"
    )


# --- jobenvs ----------------------------------------------------------------------------------


def test_validate_jobenvs() -> None:
    assert validate_jobenvs({}) == {}
    assert validate_jobenvs({"A": "b", "\u00e9": ""}) == {"A": "b", "\u00e9": ""}
    bads: list[Any] = [[], "x", None, {"A": 1}, {"A": None}, {"A": ["b"]}]
    for bad in bads:
        with pytest.raises(JobDictError, match="invalid payload: jobenvs"):
            validate_jobenvs(bad)


# --- the master's printing --------------------------------------------------------------------


def test_erlang_reason_quotes_strings_and_leaves_atoms_bare() -> None:
    # Recorded: Job failed to start: "invalid header"
    assert erlang_reason("invalid header") == '"invalid header"'
    assert erlang_reason("invalid_job_inputs") == "invalid_job_inputs"
    assert erlang_reason("repeated_pipeline_stages") == "repeated_pipeline_stages"
    assert erlang_reason("invalid grouping '<<\"x\">>'") == '"invalid grouping \'<<\\"x\\">>\'"'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("split", '<<"split">>'),
        ("", "<<>>"),
        ("a\nb", '<<"a\\nb">>'),
        ("\x01", "<<1>>"),
        ([], "[]"),
        ([104, 105], '"hi"'),
        ([1, 2], "[1,2]"),
        (None, "null"),
        (True, "true"),
        (1.5, "1.5"),
        (1e20, "1.0e20"),
        ({"a": [1]}, '{struct,[{<<"a">>,[1]}]}'),
    ],
)
def test_erlang_term(value: Any, text: str) -> None:
    assert erlang_term(value) == text


# --- job names --------------------------------------------------------------------------------


def test_job_name_matches_the_recorded_names(golden: Path) -> None:
    names = {p.name.split(".")[0] for p in (golden / "real-master/events").iterdir()}
    assert "WordCount@703:64f42:64531" in names
    assert "Behave@703:65002:58ab" in names
    for name in names:
        prefix, _, stamp = name.partition("@")
        mega, sec, micro = (int(x, 16) for x in stamp.split(":"))
        now = (mega * 1_000_000 + sec) + micro / 1_000_000
        assert job_name(prefix, now) == name


def test_job_name() -> None:
    assert job_name("WordCount", 1795413506.411953) == "WordCount@703:64f42:64931"
    assert job_name("x", 0.0) == "x@0:0:0"
    assert job_name("x", 1_000_000.5) == "x@1:0:7a120"
    with pytest.raises(JobDictError, match="invalid prefix"):
        job_name("a.b", 1.0)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**42))
def test_job_name_counts_whole_microseconds(micros: int) -> None:
    name = job_name("p", micros / 1_000_000)
    mega, sec, micro = (int(x, 16) for x in name.split("@")[1].split(":"))
    assert (mega * 1_000_000 + sec) * 1_000_000 + micro == micros
    assert sec < 1_000_000
    assert micro < 1_000_000


# --- round trips ------------------------------------------------------------------------------

_urls = st.lists(st.text(min_size=1, max_size=8), max_size=3)
_pipeline_dicts = st.builds(
    lambda names, groupings, flags, inputs, prefix, sr: _pipeline(
        pipeline=[[n, g, f] for n, g, f in zip(names, groupings, flags, strict=False)],
        inputs=inputs,
        prefix=prefix,
        save_results=sr,
    ),
    st.lists(st.text(max_size=6), unique=True, max_size=4),
    st.lists(st.sampled_from(GROUPINGS), min_size=4, max_size=4),
    st.lists(st.booleans(), min_size=4, max_size=4),
    st.lists(st.tuples(st.integers(), st.integers(), _urls).map(list), max_size=4),
    st.text(max_size=6).filter(lambda p: "/" not in p and "." not in p),
    st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(_pipeline_dicts)
def test_pipeline_jobdict_round_trip(d: dict[str, Any]) -> None:
    jd = PipelineJobDict.from_json(d)
    assert jd.to_json() == d
    assert PipelineJobDict.from_json(jd.to_json()) == jd
