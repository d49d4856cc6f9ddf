"""result_iterator on the client: the original's reader arities, streams and replica failover."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from discoworker.app.params import Params
from discoworker.app.results import result_iterator
from discoworker.errors import DataError

LINES = "a\nb\nc\nd\ne\n"


@pytest.fixture(autouse=True)
def _own_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCOWORKER_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("DISCO_MASTER", raising=False)


def replicas(tmp_path: Path) -> list[str]:
    bad, good = tmp_path / "torn.txt", tmp_path / "whole.txt"
    bad.write_text(LINES)
    good.write_text(LINES)
    return [f"file://{bad}", f"file://{good}"]


def line_reader(fd: Any, size: Any, url: str, params: Any) -> Iterator[str]:
    # The first replica tears after two records, as a disk going bad mid-read would.
    for n, line in enumerate(fd):
        if "torn" in url and n == 2:
            raise DataError("torn record", url)
        yield line.decode().strip() + params.suffix


def test_a_four_argument_reader_gets_params(tmp_path: Path) -> None:
    (one,) = replicas(tmp_path)[1:]
    got = list(result_iterator([one], reader=line_reader, params=Params(suffix="!")))
    assert got == ["a!", "b!", "c!", "d!", "e!"]


def test_a_replica_failing_mid_read_hands_over_without_repeating_records(
    tmp_path: Path,
) -> None:
    got = list(result_iterator([replicas(tmp_path)], reader=line_reader,
                               params=Params(suffix="")))
    assert got == ["a", "b", "c", "d", "e"]


def test_when_every_replica_fails_the_error_names_each(tmp_path: Path) -> None:
    missing = [f"file://{tmp_path}/gone1", f"file://{tmp_path}/gone2"]
    with pytest.raises(DataError) as caught:
        list(result_iterator([missing], reader=line_reader, params=Params(suffix="")))
    assert "gone1" in str(caught.value) and "gone2" in str(caught.value)


def test_input_streams_run_before_the_reader_and_notifier_sees_each_result(
    tmp_path: Path,
) -> None:
    (one,) = replicas(tmp_path)[1:]
    seen: list[list[str]] = []

    def upper(fd: Any, size: Any, url: str) -> Any:
        import io

        return io.BytesIO(fd.read().upper()), size, url

    def plain(fd: Any, size: Any, url: str) -> Iterator[str]:
        return (line.decode().strip() for line in fd)

    got = list(result_iterator([one], reader=plain, input_stream=(upper,), notifier=seen.append))
    assert got == ["A", "B", "C", "D", "E"]
    assert seen == [[one]]
