"""HttpDdfs against a loopback server replaying a real master's recorded DDFS replies.

Replies with no recording (a blob PUT, a tag POST, a DELETE) are shaped like those the real
master gave when tried by hand: ``201`` with the blob's ``disco://`` URL, the tag's URL list,
``"deleted"``.
"""

from __future__ import annotations

import base64
import functools
import io
import json
from collections.abc import Callable, Iterator

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


# --- tag attributes and tokens, against the served master (the embedded master over HTTP) ---


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpDdfs]:
    """An HttpDdfs on a served embedded master of its own."""
    from discoworker.adapters.embedded.http_server import serve

    with serve(tmp_path_factory.mktemp("served"), port=0, workers=1).start() as running:
        yield HttpDdfs(running.url, timeout=10)


def _refused(call: Callable[[], object]) -> CommError:
    with pytest.raises(CommError) as info:
        call()
    return info.value


@pytest.mark.slow
def test_user_attributes_are_set_read_listed_and_removed(served: HttpDdfs) -> None:
    served.tag("attrs:user", [["raw://a"]])
    served.setattr("attrs:user", "a1", "v1")
    served.setattr("tag://attrs:user", "a2", "v2")
    assert served.getattr("attrs:user", "a1") == "v1"
    assert served.attrs("attrs:user") == {"a1": "v1", "a2": "v2"}
    served.setattr("attrs:user", "a1", "v1.2")
    served.delattr("attrs:user", "a2")
    served.delattr("attrs:user", "never-set")  # as DDFS: no error
    assert served.attrs("attrs:user") == {"a1": "v1.2"}
    assert served.get("attrs:user")["urls"] == [["raw://a"]]  # attributes leave blobs alone
    missing = _refused(lambda: served.getattr("attrs:user", "a2"))
    assert missing.code == 404 and "Tag attribute not found" in str(missing)
    no_tag = _refused(lambda: served.getattr("attrs:none", "a1"))
    assert no_tag.code == 404 and "Tag not found" in str(no_tag)
    assert _refused(lambda: served.delattr("attrs:none", "a1")).code == 404


@pytest.mark.slow
def test_setattr_creates_the_tag_and_ddfs_names_are_reserved(served: HttpDdfs) -> None:
    served.setattr("attrs:new", "a", "v")
    assert served.get("attrs:new")["urls"] == []
    assert _refused(lambda: served.setattr("attrs:new", "ddfs:a1", "v")).code == 404
    assert _refused(lambda: served.getattr("attrs:new", "ddfs:a1")).code == 404
    assert _refused(lambda: served.setattr("attrs:new", "a", 3)).code == 403
    assert _refused(lambda: served.setattr("attrs:new", "a", "v" * 5000)).code == 403
    assert _refused(lambda: served.setattr("attrs:new", "x" * 1025, "v")).code == 403
    # ddfs:urls is the tag's blob list, replaced by a PUT.
    served.setattr("attrs:new", "ddfs:urls", [["raw://b"]])
    assert served.getattr("attrs:new", "ddfs:urls") == [["raw://b"]]


@pytest.mark.slow
def test_a_read_token_is_sent_from_the_tag_url_as_ddfs_wants_it(served: HttpDdfs) -> None:
    [blob] = [served.push("attrs:secret", "blob", io.BytesIO(b"blobdata"))]
    served.setattr("attrs:secret", "a", "v")
    served.setattr("attrs:secret", "ddfs:read-token", "r")
    for who in ("attrs:secret", "tag://user:wrong@/attrs:secret"):
        refused = _refused(functools.partial(served.blobs, who))
        assert refused.code == 401 and "attrs:secret" in str(refused)
        assert "tag://user:TOKEN@/attrs:secret" in str(refused)
    assert served.blobs("tag://user:r@/attrs:secret") == [blob]
    assert served.getattr("user:r@/attrs:secret", "a") == "v"
    assert served.getattr("r@/attrs:secret", "ddfs:read-token") == "r"
    # A tag linking to the guarded one is read with the token given for it.
    served.tag("user:r@/attrs:outer", [["tag://attrs:secret"]])
    assert served.blobs("tag://user:r@/attrs:outer") == [blob]
    # Writing is still open (no write token), and the read token can be removed.
    served.delattr("attrs:secret", "ddfs:read-token")
    assert served.attrs("attrs:secret") == {"a": "v"}


@pytest.mark.slow
def test_a_write_token_guards_changes_and_its_own_reading(served: HttpDdfs) -> None:
    served.setattr("attrs:wr", "a", "v")
    served.setattr("attrs:wr", "ddfs:write-token", "w")
    assert served.getattr("attrs:wr", "a") == "v"  # reading stays open
    assert served.getattr("user:rand@/attrs:wr", "a") == "v"
    for change in (
        lambda: served.setattr("attrs:wr", "a2", "v2"),
        lambda: served.setattr("user:rand@/attrs:wr", "a2", "v2"),
        lambda: served.delattr("attrs:wr", "a"),
        lambda: served.tag("attrs:wr", [["raw://x"]]),
        lambda: served.delete("attrs:wr"),
        lambda: served.getattr("attrs:wr", "ddfs:write-token"),
    ):
        assert _refused(change).code == 401
    served.setattr("user:w@/attrs:wr", "a2", "v2")
    # DDFS's check_token: with no read token, any token passes as a reader only, so even
    # the write token cannot read ddfs:write-token until a read token is set.
    assert _refused(lambda: served.getattr("w@/attrs:wr", "ddfs:write-token")).code == 401
    # A read token set by the writer then guards reading too; the write token also reads.
    served.setattr("user:w@/attrs:wr", "ddfs:read-token", "r")
    assert _refused(lambda: served.getattr("attrs:wr", "a")).code == 401
    assert served.getattr("user:r@/attrs:wr", "a") == "v"
    assert served.getattr("user:w@/attrs:wr", "a2") == "v2"
    assert served.getattr("w@/attrs:wr", "ddfs:write-token") == "w"
    assert _refused(lambda: served.getattr("r@/attrs:wr", "ddfs:write-token")).code == 401
    served.delete("user:w@/attrs:wr")
    assert _refused(lambda: served.get("user:w@/attrs:wr")).code == 404


@pytest.mark.slow
def test_an_empty_token_is_a_token(served: HttpDdfs) -> None:
    served.setattr("attrs:empty", "a", "v")
    served.setattr("attrs:empty", "ddfs:read-token", "")
    served.setattr("attrs:empty", "ddfs:write-token", "")
    assert _refused(lambda: served.getattr("attrs:empty", "a")).code == 401
    served.setattr("token:@/attrs:empty", "a2", "v2")
    assert served.getattr("token:@/attrs:empty", "a2") == "v2"
    served.delattr("token:@/attrs:empty", "a2")
    assert served.attrs("@/attrs:empty") == {"a": "v"}


def test_attribute_requests_are_shaped_as_disco_sends_them(replay: Replay, ddfs: HttpDdfs) -> None:
    # The original client: PUT of the JSON value to /ddfs/tag/<tag>/<attr>, the token as
    # Basic auth of ``token:<token>``; DDFS answers a PUT with the tag's URLs, a DELETE with
    # "deleted", a GET with the JSON value.
    replay.routes["PUT", "/ddfs/tag/t/a1"] = reply(200, b'["disco://vm/ddfs/vol0/tag/t"]')
    replay.routes["GET", "/ddfs/tag/t/a1"] = reply(200, b'"v1"')
    replay.routes["DELETE", "/ddfs/tag/t/a1"] = reply(200, b'"deleted"')
    ddfs.setattr("tag://user:sesame@/t", "a1", "v1")
    assert ddfs.getattr("t", "a1") == "v1"
    ddfs.delattr("token:@/t", "a1")
    put, get, delete = replay.seen
    assert (put.method, put.path, json.loads(put.body)) == ("PUT", "/ddfs/tag/t/a1", "v1")
    assert put.headers["Authorization"] == "Basic " + base64.b64encode(b"token:sesame").decode()
    assert "Authorization" not in get.headers
    assert delete.headers["Authorization"] == "Basic " + base64.b64encode(b"token:").decode()


@pytest.mark.slow
def test_an_update_leaves_out_blobs_whose_names_the_tag_has(served: HttpDdfs) -> None:
    first = served.push("attrs:update", "dup", io.BytesIO(b"a"), update=True)
    served.push("attrs:update", "dup", io.BytesIO(b"a"), update=True)
    before = served.get("attrs:update")
    assert before["urls"] == [first]
    served.tag("attrs:update", [first], update=True)
    assert served.get("attrs:update")["id"] == before["id"]  # nothing new: no new version
    second = served.push("attrs:update", "dup2", io.BytesIO(b"b"), update=True)
    served.tag("attrs:update", [["raw://no-name"], ["raw://no-name"]], update=True)
    # A URL with no blob name in it is never a duplicate.
    no_name = ["raw://no-name"]
    # DDFS puts each unseen blob of an update in front in turn: newest first.
    assert served.get("attrs:update")["urls"] == [no_name, no_name, second, first]
    # Without update, the same blob is appended again.
    served.tag("attrs:update", [first])
    assert served.get("attrs:update")["urls"].count(first) == 2
