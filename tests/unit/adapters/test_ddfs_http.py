"""HttpDdfs against a loopback server replaying a real master's recorded DDFS replies.

Replies with no recording (a blob PUT, a tag POST, a DELETE) are shaped like those the real
master gave when tried by hand: ``201`` with the blob's ``disco://`` URL, the tag's URL list,
``"deleted"``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import attrs
import pytest

from discoworker.adapters.ddfs_http import HttpDdfs, tag_name
from discoworker.errors import CommError
from tests.unit.adapters.test_master_http import (
    Recorded,
    Replay,
    Seen,
    load,
    refused_url,
    reply,
    serving,
)

BLOB = "disco://vm/ddfs/vol0/blob/97/data1_txt$703-650fd-141a7"


@pytest.fixture
def replay() -> Iterator[Replay]:
    """A started replay server (no routes yet)."""
    with serving() as state:
        yield state


@pytest.fixture
def ddfs(replay: Replay) -> HttpDdfs:
    """An HttpDdfs on the replay server."""
    return HttpDdfs(replay.url, timeout=5)


def _tag(*urls: list[str]) -> Recorded:
    obj = {"version": 1, "id": "t$703-1-2", "last-modified": "2026/11/23 06:05:49",
           "urls": list(urls), "user-data": {}}
    return attrs.evolve(load("GET_ddfs_tag_data_wc.http"), body=json.dumps(obj).encode())


def test_get_parses_the_recorded_tag(replay: Replay, ddfs: HttpDdfs) -> None:
    replay.routes["GET", "/ddfs/tag/data:wc"] = load("GET_ddfs_tag_data_wc.http")
    tag = ddfs.get("tag://data:wc")
    assert tag["urls"] == [[BLOB]]
    assert tag["id"] == "data:wc$703-650fd-47e45" and tag["user-data"] == {}
    assert ddfs.blobs("data:wc") == [[BLOB]]


def test_an_unknown_tag_is_a_404(replay: Replay, ddfs: HttpDdfs) -> None:
    replay.routes["GET", "/ddfs/tag/nope"] = reply(404, b"Tag not found.", "text/plain")
    with pytest.raises(CommError, match="unknown tag 'nope'") as info:
        ddfs.get("nope")
    assert info.value.code == 404
    with pytest.raises(CommError, match="unknown tag"):
        ddfs.blobs("nope")


def test_tags_list(replay: Replay, ddfs: HttpDdfs) -> None:
    replay.routes["GET", "/ddfs/tags/"] = load("GET_ddfs_tags.http")
    assert ddfs.tags() == ["data:wc"]


def test_blobs_follow_links_once_and_skip_deleted_ones(replay: Replay, ddfs: HttpDdfs) -> None:
    replay.routes["GET", "/ddfs/tag/a"] = _tag(["tag://b"], ["raw://1", "raw://1b"], ["tag://gone"])
    replay.routes["GET", "/ddfs/tag/b"] = _tag(["raw://2"], ["tag://a"], ["tag://b"])
    replay.routes["GET", "/ddfs/tag/gone"] = reply(404, b"Tag not found.", "text/plain")
    assert ddfs.blobs("a") == [["raw://1", "raw://1b"], ["raw://2"]]
    fetched = [s.path for s in replay.seen]
    assert fetched == ["/ddfs/tag/a", "/ddfs/tag/b", "/ddfs/tag/gone"]


def test_a_malformed_tag_names_the_endpoint(replay: Replay, ddfs: HttpDdfs) -> None:
    replay.routes["GET", "/ddfs/tag/x"] = reply(200, b'{"urls": [[1]]}')
    with pytest.raises(CommError, match="GET /ddfs/tag replied with a malformed tag"):
        ddfs.get("x")
    replay.routes["GET", "/ddfs/tag/y"] = load("GET_root.http")
    with pytest.raises(CommError, match="GET /ddfs/tag replied with something that is not JSON"):
        ddfs.get("y")


def test_tag_appends_a_json_list_of_replica_lists(replay: Replay, ddfs: HttpDdfs) -> None:
    replay.routes["POST", "/ddfs/tag/t"] = reply(200, b'["disco://vm/ddfs/vol0/tag/25/t$1-2-3"]')
    ddfs.tag("tag://t", [["raw://a", "raw://b"], ("raw://c",)])
    assert json.loads(replay.seen[0].body) == [["raw://a", "raw://b"], ["raw://c"]]
    with pytest.raises(CommError, match="needs a replica URL"):
        ddfs.tag("t", [[]])


def test_a_refused_append_shows_the_masters_reason(replay: Replay, ddfs: HttpDdfs) -> None:
    replay.routes["POST", "/ddfs/tag/t"] = reply(403, b"Invalid request body.", "text/plain")
    with pytest.raises(CommError, match=r"HTTP 403 Forbidden: Invalid request body\.") as info:
        ddfs.tag("t", [["raw://a"]])
    assert info.value.code == 403


@pytest.mark.parametrize("bad", ["", "has space", "a/b", "tag://", "x" * 512, "d\u00e9j\u00e0"])
def test_tag_names_are_checked_as_ddfs_does(bad: str) -> None:
    with pytest.raises(CommError, match="invalid tag name"):
        tag_name(bad)


def test_tag_names_ddfs_accepts() -> None:
    assert tag_name("tag://disco:results:Job@1:2:3") == "disco:results:Job@1:2:3"
    assert tag_name("a-b_c" + "x" * 506) == "a-b_c" + "x" * 506


def _put_route(stored: str) -> Recorded:
    return reply(201, json.dumps(stored).encode())


def test_push_asks_for_targets_puts_the_bytes_and_tags(replay: Replay, ddfs: HttpDdfs) -> None:
    recorded = load("GET_ddfs_new_blob.http")
    # The recording names the node "vm" on the put port; point it at this server instead.
    body = recorded.body.replace(b"http://vm:8990", replay.url.encode())
    target = json.loads(body)[0]
    replay.routes["GET", "/ddfs/new_blob/my_file_txt"] = attrs.evolve(recorded, body=body)
    stored = "disco://vm/ddfs/vol0/blob/4e/probe_blob$703-65149-838d"
    replay.routes["PUT", target[len(replay.url) :]] = _put_route(stored)
    replay.routes["POST", "/ddfs/tag/data:new"] = reply(200, b'["disco://vm/ddfs/vol0/tag/1"]')
    assert ddfs.push("data:new", "/some/dir/my file.txt", io.BytesIO(b"hello\n")) == [stored]
    new_blob, put, post = replay.seen
    assert (new_blob.method, put.method, post.method) == ("GET", "PUT", "POST")
    assert put.body == b"hello\n"
    assert json.loads(post.body) == [[stored]]


def test_push_asks_for_replicas_and_leaves_out_a_failing_node(replay: Replay) -> None:
    ddfs = HttpDdfs(replay.url, timeout=5, replicas=2)
    bad, good = f"{refused_url()}/ddfs/b$1", f"{replay.url}/ddfs/b$1"
    answers = [json.dumps([good, bad]).encode(), json.dumps([good]).encode()]

    def new_blob(_seen: Seen) -> Recorded:
        return reply(200, answers.pop(0))

    replay.routes["GET", "/ddfs/new_blob/b"] = new_blob
    replay.routes["PUT", "/ddfs/b$1"] = _put_route("disco://127.0.0.1/ddfs/vol0/blob/00/b$1")
    replay.routes["POST", "/ddfs/tag/t"] = reply(200, b"[]")
    assert ddfs.push("t", "b", io.BytesIO(b"x")) == ["disco://127.0.0.1/ddfs/vol0/blob/00/b$1"]
    asks = [s.path for s in replay.seen if s.method == "GET"]
    assert asks == ["/ddfs/new_blob/b?replicas=2", "/ddfs/new_blob/b?replicas=2&exclude=127.0.0.1"]


def test_push_gives_up_after_its_retries(replay: Replay) -> None:
    ddfs = HttpDdfs(replay.url, timeout=5, retries=1)
    bad = f"{refused_url()}/ddfs/b$1"
    replay.routes["GET", "/ddfs/new_blob/b"] = reply(200, json.dumps([bad]).encode())
    with pytest.raises(CommError, match="cannot reach the DDFS node") as info:
        ddfs.push("t", "b", io.BytesIO(b"x"))
    assert info.value.url == bad
    assert not any(s.method == "POST" for s in replay.seen)


@pytest.mark.parametrize("body", [b"[]", b'"http://vm:8990/x"', b'["disco://vm/x"]'])
def test_new_blob_of_another_shape_names_the_endpoint(
    replay: Replay, ddfs: HttpDdfs, body: bytes
) -> None:
    replay.routes["GET", "/ddfs/new_blob/b"] = reply(200, body)
    with pytest.raises(CommError, match="GET /ddfs/new_blob replied"):
        ddfs.push("t", "b", io.BytesIO(b"x"))


def test_not_enough_nodes_for_replicas(replay: Replay, ddfs: HttpDdfs) -> None:
    replay.routes["GET", "/ddfs/new_blob/b"] = reply(
        403, b"Not enough nodes for replicas.", "text/plain"
    )
    with pytest.raises(CommError, match="Not enough nodes for replicas"):
        ddfs.push("t", "b", io.BytesIO(b"x"))


def test_delete(replay: Replay, ddfs: HttpDdfs) -> None:
    replay.routes["DELETE", "/ddfs/tag/t"] = reply(200, b'"deleted"')
    ddfs.delete("tag://t")
    assert replay.seen[0].method == "DELETE"


def test_an_unreachable_ddfs_is_a_comm_error_naming_the_url() -> None:
    url = refused_url()
    with pytest.raises(CommError, match="cannot reach the DDFS master") as info:
        HttpDdfs(url, timeout=2).get("t")
    assert info.value.url == f"{url}/ddfs/tag/t"


def test_the_token_of_a_tag_is_read_as_a_disco_client_reads_it() -> None:
    from discoworker.adapters.ddfs_http import tag_token

    assert tag_token("disco:job:oob:Word@703:64f42:64531") == "job"
    assert tag_token("tag://disco:results:Word@703:1:2") == "results"
    assert tag_token("owner@rest") == "owner"
    assert tag_token("data:words") is None
