"""Mistakes in a job's arguments are refused on the client, before anything is submitted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from discoworker.app import classic
from discoworker.app.job import Job
from discoworker.app.pipeline import Worker as PipelineWorker
from discoworker.errors import JobArgumentError


class RefusingMaster:
    """A master that fails the test if a job reaches it."""

    def submit(self, jobpack: bytes) -> str:
        raise AssertionError("a job with a mistake was submitted")


def fun_map(line: str, params: Any) -> Any:
    yield line, 1


def run(**jobargs: Any) -> None:
    Job(master=RefusingMaster()).run(**jobargs)  # type: ignore[arg-type]


def test_a_misspelled_argument_is_refused_with_the_name_it_meant() -> None:
    with pytest.raises(JobArgumentError) as caught:
        run(input=["raw://a"], map=fun_map, partitons=3)
    text = str(caught.value)
    assert "'partitons' (did you mean 'partitions'?)" in text
    assert "valid arguments:" in text and "sort_buffer_size" in text


def test_a_name_from_another_tool_gets_discoworkers_name() -> None:
    with pytest.raises(JobArgumentError, match=r"'sorted' \(did you mean 'sort'\?\)"):
        run(input=["raw://a"], map=fun_map, sorted=True)
    with pytest.raises(JobArgumentError, match=r"'nr_reduces' \(did you mean 'partitions'\?\)"):
        run(input=["raw://a"], map=fun_map, nr_reduces=2)


def test_a_custom_workers_own_defaults_are_valid_arguments() -> None:
    class Tuned(classic.Worker):
        def defaults(self) -> dict[str, Any]:
            return {**super().defaults(), "threshold": 3}

    pack = Tuned().jobpack(Job(master=RefusingMaster()),  # type: ignore[arg-type]
                           input=["raw://a"], map=fun_map, threshold=5)
    assert pack.jobdict["map?"] is True
    with pytest.raises(JobArgumentError, match=r"'threshhold'.*did you mean 'threshold'"):
        Tuned().jobpack(Job(), input=["raw://a"], map=fun_map, threshhold=5)


def test_the_pipeline_worker_takes_params_and_refuses_classic_names() -> None:
    job = Job(worker=PipelineWorker(), master=RefusingMaster())  # type: ignore[arg-type]
    with pytest.raises(JobArgumentError, match="'map'"):
        job.run(input=["raw://a"], pipeline=[], map=fun_map)


def test_a_misspelled_scheme_is_refused_naming_the_schemes_there_are() -> None:
    with pytest.raises(JobArgumentError) as caught:
        run(input=["fiel:///tmp/x"], map=fun_map)
    text = str(caught.value)
    assert "'fiel:///tmp/x'" in text and "did you mean file://?" in text
    assert "raw://" in text and "tag://" in text
    with pytest.raises(JobArgumentError, match="unknown URL scheme 'ftp'"):
        run(input=[["raw://a", "ftp://host/x"]], map=fun_map)


@pytest.mark.parametrize("inputs", [[], ()])
def test_a_job_with_no_inputs_is_refused(inputs: Any) -> None:
    with pytest.raises(JobArgumentError, match="the job has no inputs"):
        run(input=inputs, map=fun_map)
    with pytest.raises(JobArgumentError, match="the job has no inputs"):
        run(map=fun_map)


def test_a_relative_path_of_a_file_here_becomes_its_absolute_file_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "words.txt").write_text("a b\n")
    monkeypatch.chdir(tmp_path)
    assert classic.input_url("words.txt") == f"file://{tmp_path / 'words.txt'}"
    # A path that is not here may be on the nodes: it is left for them.
    assert classic.input_url("/data/on/the/nodes") == "/data/on/the/nodes"
    assert classic.input_url("raw://x y") == "raw://x y"
