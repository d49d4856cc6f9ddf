"""Task naming against golden section 5 and the real master's recordings."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from discoworker.domain.task import (
    Task,
    TaskSpec,
    file_safe,
    hexhash,
    index_file_name,
    index_url,
    job_home,
    local_output_url,
    make_uid,
    safe_name,
)
from tests.golden_values import untag
from tests.unit.domain._recordings import recorded_tasks

NOW = 1700000000.123456
PID = 4242


def _section5(manifest: list[dict[str, Any]]) -> list[dict[str, Any]]:
    (entry,) = [e for e in manifest if e.get("section") == 5]
    cases: list[dict[str, Any]] = entry["cases"]
    assert len(cases) == 3
    return cases


def _spec(kwargs: dict[str, Any]) -> TaskSpec:
    # The third golden case gives only some fields (the original had defaults): fill them.
    return TaskSpec(
        taskid=kwargs["taskid"],
        master=kwargs.get("master", ""),
        disco_port=kwargs.get("disco_port", 8989),
        put_port=kwargs.get("put_port", 8990),
        ddfs_data=kwargs.get("ddfs_data", ""),
        disco_data=kwargs.get("disco_data", ""),
        stage=kwargs["stage"],
        grouping=kwargs["grouping"],
        # The golden "all" group label is not an int: the real master never sends it, but the
        # naming must still follow the original's.
        group=cast(tuple[int, str], tuple(kwargs["group"])),
        jobfile=kwargs["jobfile"],
        jobname=kwargs["jobname"],
        host=kwargs["host"],
    )


def _check(case: dict[str, Any], key: str, call: Any) -> None:
    expected = case[key]
    if "raises" in expected:
        exc_type = {"builtins.ValueError": ValueError}[expected["raises"]["type"]]
        with pytest.raises(exc_type) as info:
            call()
        assert str(info.value) == expected["raises"]["str"]
    else:
        assert call() == untag(expected["value"])


@pytest.mark.parametrize("n", [0, 1, 2])
def test_golden_case(manifest: list[dict[str, Any]], n: int) -> None:
    case = _section5(manifest)[n]
    kwargs = case["constructor_kwargs (jobfile relative to GOLDEN)"]
    assert case["monkeypatched"]["time.time()"] == NOW
    assert case["monkeypatched"]["os.getpid()"] == PID
    assert str(NOW) == case["monkeypatched"]["str(time.time())"]
    task = Task.from_spec(_spec(kwargs), now=NOW, pid=PID)
    assert task.uid == case["uid"]
    assert task.group == case["group"]
    assert task.group_label == untag(case["group_label"])
    assert task.group_host == untag(case["group_host"])
    assert task.taskpath == case["taskpath"]
    assert task.path("x") == case["path('x')"]
    # The py3 original crashes here; we give what Python 2 computed.
    assert task.jobpath == case["jobpath_if_hexhash_got_bytes (what py2 computed)"]
    assert task.url("name") == case["url_if_jobpath_worked"]
    _check(case, "output_filename(2)", lambda: task.output_filename(2))
    _check(case, "output_filename(0)", lambda: task.output_filename(0))
    _check(case, "output_filename(True)", lambda: task.output_filename(True))
    _check(case, "output_filename('2')", lambda: task.output_filename("2"))  # type: ignore[arg-type]
    _check(case, "output_filename(None)", lambda: task.output_filename(None))  # type: ignore[arg-type]
    _check(case, "output_path(2)", lambda: task.output_path(2))
    _check(case, "output(label=None)", lambda: task.output(None))
    _check(case, "output(label=2)", lambda: task.output(label=2))
    _check(case, "output(label=2, typ='x')", lambda: task.output(label=2, typ="x"))


def test_golden_job_home(manifest: list[dict[str, Any]]) -> None:
    case = _section5(manifest)[0]
    task = Task.from_spec(
        _spec(case["constructor_kwargs (jobfile relative to GOLDEN)"]), now=NOW, pid=PID
    )
    assert task.jobhome == "/srv/data/localhost/cb/golden@5a1:b2c3d:e4f5"
    assert job_home("/srv/data", "localhost", "golden@5a1:b2c3d:e4f5") == task.jobhome
    assert task.output_url(2) == (
        "disco://localhost/disco/localhost/cb/golden@5a1:b2c3d:e4f5/"
        "86/map:0-localhost-3-2a-4242/map-0-localhost-2"
    )


def test_recorded_tasks_name_outputs_like_the_original(golden: Path) -> None:
    checked = 0
    for rec in recorded_tasks(golden / "real-master"):
        spec = rec.spec
        jobfile_dir = spec.jobfile.rsplit("/", 1)[0]
        assert jobfile_dir == job_home(spec.disco_data, spec.host, spec.jobname)
        for label, location, _size in rec.outputs:
            hh, uid, name = location.split("/")
            task = Task(spec, uid)
            assert hexhash(uid) == hh
            label_of_group, host_of_group = spec.group
            prefix = f"{spec.stage}:{safe_name(f'{label_of_group}-{host_of_group}')}-{spec.taskid}-"
            assert uid.startswith(prefix)
            assert uid.endswith(f"-{rec.pid}")
            unlabelled = name == uid
            path, typ, out_label = task.output(None if unlabelled else label)
            if " " in host_of_group:
                # job1b: the original wrote the raw group with its spaces; we never do.
                assert path == location.replace(" ", "_")
                assert " " not in task.output_url(label)
            else:
                assert path == location
            assert typ == ("disco" if unlabelled else "part")
            assert out_label == (0 if unlabelled else label)
            checked += 1
    assert checked >= 30


def test_index_files_of_job11_hold_the_published_urls(golden: Path) -> None:
    real = golden / "real-master"
    published: dict[str, list[str]] = {}
    for rec in recorded_tasks(real / "job11_http_api_submitted_by_curl_wordcount"):
        key = f"{rec.spec.stage}-{rec.spec.taskid}-"
        published[key] = [
            f"{label} {local_output_url(rec.spec.host, rec.spec.jobname, loc)} {size}"
            for label, loc, size in rec.outputs
        ]
    files = sorted((real / "index_files_job11").glob("*.results"))
    assert len(files) == 4
    for f in files:
        stage, taskid, micros = f.name.removesuffix(".results").rsplit("-", 2)
        assert index_file_name(stage, int(taskid), int(micros)) == f".disco/{f.name}"
        lines = f.read_text().splitlines()
        assert sorted(lines) == sorted(published[f"{stage}-{taskid}-"])


def test_index_url_is_what_the_next_stage_receives(golden: Path) -> None:
    real = golden / "real-master" / "job2_wordcount_ok"
    urls = {
        rep[1]
        for rec in recorded_tasks(real)
        for item in rec.inputs
        for rep in item[3]
        if rep[1].startswith("dir://")
    }
    jobname = "WordCount@703:64f42:64531"
    expected = {
        index_url("vm", jobname, "map", 0, 1795413509921621),
        index_url("vm", jobname, "map", 1, 1795413509976547),
        index_url("vm", jobname, "map_shuffle", 2, 1795413513293926),
    }
    assert urls == expected


def test_uid_of_a_group_with_spaces_is_safe() -> None:
    uid = make_uid("map", "0-foo bar hello hello", 0, NOW, 1)
    assert uid == "map:0-foo_bar_hello_hello-0-2a-1"


def test_output_filename_keeps_dots_but_not_spaces_or_metacharacters() -> None:
    spec = TaskSpec(
        0, "", 0, 0, "", "/d", "map", "split", (0, "a b;$(x)/..`|&.c"), "/j", "job@1:2:3", "vm"
    )
    task = Task.from_spec(spec, now=NOW, pid=PID)
    name = task.output_filename(1)
    assert name == "map-0-a_b___x__..___.c-1"
    assert "/" not in task.uid
    assert " " not in task.output_path(1)


@given(st.text())
def test_safe_names_hold_only_safe_characters(text: str) -> None:
    assert set(safe_name(text)) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-@:"
    )
    assert len(safe_name(text)) == len(text)
    assert not any(c.isspace() or c == "/" for c in file_safe(text))


def test_str_of_now_as_python3_prints_it() -> None:
    # The hash is of str(time.time()), the shortest repr, not Python 2's 12 digits.
    assert make_uid("s", "0-h", 1, 1700000000.5, 7).split("-")[-2] == hexhash("1700000000.5")
    assert make_uid("s", "0-h", 1, 1700000000, 7) == make_uid("s", "0-h", 1, 1700000000.0, 7)
