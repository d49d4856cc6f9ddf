"""The ``disco`` package that is discoworker: what jobs and tests written for Disco rely on
beyond the names (shapes of values, the test kit's behaviour, the worker's stage methods)."""

from __future__ import annotations

import io
import signal
import sys
import unittest
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from discoworker import disco_compat


@pytest.fixture
def disco(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """``import disco`` gives discoworker's, its embedded master in ``tmp_path``; undone after."""
    monkeypatch.setenv("DISCOWORKER_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("DISCO_MASTER", raising=False)
    monkeypatch.syspath_prepend(disco_compat.path())
    import disco as module

    assert disco_compat.in_use()
    yield module
    for name in [n for n in sys.modules if n == "disco" or n.startswith("disco.")]:
        del sys.modules[name]


def test_a_url_read_as_a_bytes_line_splits_as_a_str_one(disco: ModuleType) -> None:
    # A pipeline's first stage reads its input's lines as bytes; Disco's test_query splits
    # them as URLs.
    from disco import util

    scheme, location, path = util.urlsplit(b"raw://cities.csv?0")
    assert (scheme, str(location), path) == ("raw", "cities.csv?0", "")
    assert util.schemesplit(b"http://host:8989/a") == ("http", "host:8989/a")


def word_map(line: Any, params: Any) -> Any:
    for word in line.split():
        yield word, 1


def word_reduce(records: Any, params: Any) -> Any:
    from disco.util import kvgroup

    for word, counts in kvgroup(sorted(records)):
        yield word, sum(counts)


@pytest.mark.slow
def test_a_profile_counts_reduce_tasks_as_the_originals_worker_py_reduce(
    disco: ModuleType,
) -> None:
    from disco.core import result_iterator
    from disco.job import Job

    job = Job().run(input=["raw://a b c a"], map=word_map, reduce=word_reduce,
                    partitions=3, partition=lambda key, n, params: "abc".index(key),
                    profile=True)
    assert sorted(result_iterator(job.wait())) == [("a", 2), ("b", 1), ("c", 1)]
    out = io.StringIO()
    job.profile_stats(stream=out).print_stats("worker", "reduce")
    lines = [line.split() for line in out.getvalue().splitlines() if "worker.py" in line]
    # One reduce task per partition with data, each one call of Worker.reduce.
    assert lines and all(line[0] == "3" for line in lines)
    assert any(line[-1].endswith("(reduce)") for line in lines)


class Interrupted(Exception):
    pass


def test_ctrl_c_during_a_suite_test_skips_it_and_restores_the_handler(
    disco: ModuleType,
) -> None:
    from disco.test import TestCase

    class Case(TestCase):
        def runTest(self) -> None:  # noqa: N802 - unittest's name
            handler = signal.getsignal(signal.SIGINT)
            assert callable(handler)
            handler(signal.SIGINT, None)

    def outside(signum: int, frame: Any) -> None:
        raise Interrupted

    before = signal.signal(signal.SIGINT, outside)
    try:
        result = unittest.TestResult()
        Case().run(result)
        assert not result.errors
        assert [reason for _, reason in result.skipped] == [
            "interrupted (SIGINT): the test is skipped"]
        assert signal.getsignal(signal.SIGINT) is outside
    finally:
        signal.signal(signal.SIGINT, before)


def key_only(line: Any, params: Any) -> Any:
    yield line.strip(), ""


@pytest.mark.slow
def test_a_job_reads_a_tag_guarded_by_a_read_token_given_in_its_url(disco: ModuleType) -> None:
    from disco.core import result_iterator
    from disco.ddfs import DDFS
    from disco.job import Job

    ddfs = DDFS()
    ddfs.push("data:guarded", [(io.BytesIO(b"blobdata"), "blob")])
    ddfs.setattr("data:guarded", "ddfs:read-token", "r")
    assert ddfs.getattr("tag://user:r@/data:guarded", "ddfs:read-token") == "r"
    job = Job().run(input=["tag://user:r@/data:guarded"], map=key_only)
    assert list(result_iterator(job.wait())) == [(b"blobdata", "")]


def test_ddfs_tokens_given_as_arguments_guard_and_open_tags(disco: ModuleType) -> None:
    from disco.ddfs import DDFS
    from disco.error import CommError

    ddfs = DDFS()
    # A tag a push creates with a token is guarded by it (DDFS's atomic token).
    ddfs.push("data:atomic", [(io.BytesIO(b"abc"), "atom")], token="secret1")
    with pytest.raises(CommError) as refused:
        ddfs.getattr("data:atomic", "foobar")
    assert refused.value.code == 401
    assert ddfs.getattr("data:atomic", "ddfs:write-token", token="secret1") == "secret1"
    assert ddfs.exists("data:atomic")  # guarded, but there
    # put replaces a tag's blobs; an empty append leaves the tag (and its id) as it is.
    ddfs.put("data:put", [["raw://a"]])
    ddfs.put("data:put", [["raw://b"]])
    before = ddfs.get("data:put")
    ddfs.tag("data:put", [])
    assert ddfs.get("data:put") == before and before["urls"] == [["raw://b"]]
    # An empty token is a token.
    ddfs.setattr("data:put", "ddfs:write-token", "")
    with pytest.raises(CommError):
        ddfs.setattr("data:put", "a", "v")
    ddfs.setattr("data:put", "a", "v", token="")
    assert ddfs.attrs("data:put") == {"a": "v"}


@pytest.mark.slow
def test_authjob_runs_against_a_served_master_over_http(
    disco: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Disco's test_authjob, with the master reached over HTTP (HttpDdfs, HttpMaster).
    from discoworker.adapters.embedded.http_server import serve

    with serve(tmp_path / "served", port=0, workers=1).start() as running:
        monkeypatch.setenv("DISCO_MASTER", running.url)
        from disco.core import result_iterator
        from disco.ddfs import DDFS
        from disco.job import Job

        ddfs = DDFS()
        assert type(ddfs.port).__name__ == "HttpDdfs"
        ddfs.push("disco:test:authjob", [(io.BytesIO(b"blobdata"), "blob")])
        ddfs.setattr("disco:test:authjob", "ddfs:read-token", "r")
        job = Job().run(input=["tag://user:r@/disco:test:authjob"], map=key_only)
        assert list(result_iterator(job.wait())) == [(b"blobdata", "")]
        ddfs.delete("disco:test:authjob")
        assert not ddfs.exists("disco:test:authjob")


def test_ddfs_walks_and_finds_tags_as_the_original_client(disco: ModuleType) -> None:
    from disco.ddfs import DDFS
    from disco.error import CommError

    ddfs = DDFS()
    _, [blob] = ddfs.push("data:leaf", [(io.BytesIO(b"x"), "blobdata")])
    assert DDFS.blob_name(blob[0]) == "blobdata"
    ddfs.tag("data:meta", [["tag://data:leaf"], ["tag://data:meta"], ["tag://data:gone"]])
    assert ddfs.get(["data:leaf"])["urls"] == [blob]  # a list means its first tag
    walked = list(ddfs.walk("data:meta"))
    assert walked == [
        (("tag://data:meta",), ["tag://data:leaf", "tag://data:meta", "tag://data:gone"], []),
        (("tag://data:meta", "tag://data:leaf"), [], [blob]),
        (("tag://data:meta", "tag://data:gone"), [], []),
    ]
    found = list(ddfs.findtags(["data:meta"]))
    assert [tag for tag, _, _ in found] == ["tag://data:meta", "tag://data:leaf"]
    assert ddfs.blobs("data:nothing") == []
    with pytest.raises(CommError) as missing:
        ddfs.blobs("data:nothing", ignore_missing=False)
    assert missing.value.code == 404
    ddfs.push("data:empty", [])
    assert ddfs.exists("data:empty") and ddfs.urls("data:empty") == []


def test_ddfs_chunk_makes_record_blobs_of_a_urls_lines(disco: ModuleType, tmp_path: Path) -> None:
    from disco.core import result_iterator
    from disco.ddfs import DDFS

    text = tmp_path / "text.txt"
    text.write_bytes(b"".join(b"line %d\n" % i for i in range(50_000)))
    ddfs = DDFS()
    tag, blobs = ddfs.chunk("data:chunk", [text.as_uri()], chunk_size=10 * 1024)
    assert 1 < len(blobs) == len(tag["urls"])
    # The chunks hold the lines as records; an explicit reader=None reads the lines themselves.
    assert list(result_iterator(["tag://data:chunk"])) == list(
        result_iterator([text.as_uri()], reader=None))
    assert list(result_iterator([text.as_uri()], reader=None))[-1] == b"line 49999\n"


def test_ddfs_pull_gives_file_objects_with_their_url(disco: ModuleType, tmp_path: Path) -> None:
    from disco.ddfs import DDFS
    from disco.error import CommError

    ddfs = DDFS()
    _, [one] = ddfs.push("data:pull", [(io.BytesIO(b"datablob"), "blobdata")])
    _, [two] = ddfs.push("data:pull", [(io.BytesIO(b"datablob2"), "blobdata2")])
    ddfs.push("data:pull", [(io.BytesIO(b""), "empty")])
    got = [(DDFS.blob_name(fd.url), len(fd), fd.read()) for fd in ddfs.pull("data:pull")]
    # A tag lists its blobs newest first, as DDFS does (Disco's test_pull expects it).
    assert got == [("empty", 0, b""), ("blobdata2", 9, b"datablob2"), ("blobdata", 8, b"datablob")]
    kept = [fd.url for fd in ddfs.pull("data:pull", blobfilter=lambda name: "2" in name)]
    assert kept == two
    # A replica that does not open gives way to the next.
    ddfs.put("data:failover", [[(tmp_path / "gone").as_uri(), one[0]]])
    assert [fd.read() for fd in ddfs.pull("data:failover")] == [b"datablob"]
    with pytest.raises(CommError) as missing:
        next(ddfs.pull("data:nothing"))
    assert missing.value.code == 404


@pytest.mark.slow
def test_event_offsets_are_the_masters_bytes_so_a_later_read_resumes_there(
    disco: ModuleType,
) -> None:
    from disco.core import Disco, Job

    job: Any = Job().run(input=["raw://naïve café"], map=word_map)
    job.wait()
    events = list(job.events())
    offset, _first = events[0]
    # From the first event's end, the rest and nothing else (non-ASCII text included).
    assert [e for _, e in job.events(offset)] == [e for _, e in events[1:]]
    assert Disco().rawevents(job.name).encode() == job.master.raw_events(job.name)


def test_disco_urls_resolve_to_the_nodes_http_port(disco: ModuleType) -> None:
    from disco import util

    assert util.urlresolve("disco://node7/disco/node7/ab/job/x") == \
        "http://node7:8989/disco/node7/ab/job/x"


def test_the_compat_text_helpers_keep_bytes_that_are_not_utf8(disco: ModuleType) -> None:
    from disco.compat import bytes_to_str, str_to_bytes

    assert str_to_bytes(bytes_to_str(b"caf\xe9")) == b"caf\xe9"
