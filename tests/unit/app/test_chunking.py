"""Chunking records into DDFS blobs (``ddfs chunk``, ``disco.ddfs.DDFS.chunk``)."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from discoworker.adapters.embedded.ddfs_local import LocalDdfs
from discoworker.app.chunking import chunk, record_chunks
from discoworker.domain.records import disco_input_stream


def read_back(chunk_data: bytes) -> list[object]:
    return list(disco_input_stream(io.BytesIO(chunk_data), len(chunk_data), "chunk://"))


records_strategy = st.lists(st.one_of(st.binary(max_size=300), st.text(max_size=50),
                                      st.tuples(st.integers(), st.binary(max_size=40))))


@given(records_strategy, st.integers(min_value=1, max_value=5000))
@settings(max_examples=60, deadline=None)
def test_chunks_hold_every_record_once_in_order(records: list[object], size: int) -> None:
    chunks = list(record_chunks(records, chunk_size=size))
    assert [r for c in chunks for r in read_back(c)] == records
    assert (chunks == []) == (records == [])


def test_a_chunk_is_cut_once_its_hunks_pass_the_size() -> None:
    rng = random.Random(7)
    # Records that compress badly, so that hunks (1 MB of pickles each) stay large.
    records = [rng.randbytes(1000) for _ in range(3000)]
    chunks = list(record_chunks(records, chunk_size=1_000_000))
    assert len(chunks) == 3
    assert all(len(c) > 1_000_000 for c in chunks[:-1])
    assert [r for c in chunks for r in read_back(c)] == records


def test_a_record_over_the_limit_is_refused_naming_its_size() -> None:
    with pytest.raises(ValueError, match="Record of size 20"):
        list(record_chunks([b"x" * 2000], max_record_size=1000))


def test_chunk_tags_the_blobs_of_every_input_once_in_order(tmp_path: Path) -> None:
    ddfs = LocalDdfs(tmp_path / "ddfs", host="localhost")
    ddfs.push("data:chunks", "older", io.BytesIO(b"kept"))
    lines = {"a.txt": [b"%d\n" % i for i in range(40_000)], "b.txt": [b"b\n"]}

    blobs = chunk(ddfs, "data:chunks", [["file:///in/a.txt"], ["file:///in/b.txt"]],
                  lambda replicas: lines[replicas[0].rsplit("/", 1)[1]], chunk_size=100)
    names = [b[0].rsplit("/", 1)[1].split("$")[0] for b in blobs]
    assert names == ["a_txt-0", "a_txt-1", "b_txt-0"]  # a.txt: cut after its first hunk
    tagged = ddfs.blobs("data:chunks")
    assert tagged[: len(blobs)] == blobs and len(tagged) == len(blobs) + 1
    files = [tmp_path / "ddfs" / b[0].split("/ddfs/", 1)[1] for b in blobs]
    assert [r for f in files for r in read_back(f.read_bytes())] == lines["a.txt"] + lines["b.txt"]
