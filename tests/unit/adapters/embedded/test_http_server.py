"""The embedded master over HTTP: replies shaped as the real master's recordings, its DDFS and
data files on the same port, refused paths, and a job run with nothing but urllib."""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from discoworker.adapters.ddfs_http import HttpDdfs
from discoworker.adapters.embedded.http_server import MasterServer, safe_file, serve
from discoworker.adapters.master_http import HttpMaster
from discoworker.errors import CommError, JobPackError
from tests.unit.adapters.embedded.test_master import EXPECTED, WORKER, pack
from tests.unit.adapters.test_master_http import Recorded, load

pytestmark = pytest.mark.slow


@attrs.frozen
class Got:
    """A reply as it came over the wire."""

    status: int
    reason: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MasterServer]:
    with serve(tmp_path_factory.mktemp("served"), port=0, workers=2).start() as running:
        yield running


def call(
    server: MasterServer, method: str, path: str, body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Got:
    """One request with the path sent as written (no client-side normalising)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, path, body, headers or {})
        resp = conn.getresponse()
        return Got(resp.status, resp.reason, {k.lower(): v for k, v in resp.getheaders()},
                   resp.read())
    finally:
        conn.close()


def same_shape(got: Got, recorded: Recorded) -> None:
    """Status line and content type as recorded."""
    assert (got.status, got.reason) == (recorded.status, recorded.reason)
    assert got.headers.get("content-type") == recorded.header("Content-Type")
    assert got.headers["connection"] == "close"


def run_job(server: MasterServer, jobpack: bytes) -> str:
    """Submit with plain urllib, as any Disco client does; the job name."""
    req = urllib.request.Request(f"{server.url}/disco/job/new", data=jobpack, method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        status, name = json.loads(resp.read())
    assert status == "ok", name
    return str(name)


@pytest.fixture(scope="module")
def done_job(server: MasterServer) -> str:
    """A two-stage job, submitted over HTTP and waited for with the get_results long poll."""
    name = run_job(server, pack())
    got = call(server, "POST", "/disco/ctrl/get_results", json.dumps([20000, [name]]).encode())
    assert got.json()[0][1][0] == "ready", got.body
    return name


# --- the job API, against the recordings ---------------------------------------------------


def test_version_is_the_recorded_reply(server: MasterServer) -> None:
    got = call(server, "GET", "/disco/version")
    same_shape(got, load("GET_version.http"))
    assert got.body == load("GET_version.http").body


def test_a_job_submitted_with_urllib_gives_results_read_back_over_http(
    server: MasterServer, done_job: str
) -> None:
    got = call(server, "POST", "/disco/ctrl/get_results",
               json.dumps([0, [done_job]]).encode())
    same_shape(got, load("POST_get_results_timeout0.http"))
    [[name, [status, results]]] = got.json()
    assert (name, status) == (done_job, "ready")
    assert all(isinstance(r, list) and len(r) == 1 for r in results)
    counts: dict[str, int] = {}
    for [url] in results:
        assert url.startswith("dir://localhost/disco/localhost/") and f"/{done_job}/.disco/" in url
        index = urllib.request.urlopen(url.replace("dir://localhost/", f"{server.url}/"))
        for line in index.read().decode().splitlines():
            _label, data_url, size = line.split()
            assert data_url.startswith("disco://localhost/disco/")
            data = urllib.request.urlopen(data_url.replace("disco://localhost/", f"{server.url}/"))
            body = data.read()
            assert len(body) == int(size)
            for item in body.decode().split():
                word, _, c = item.partition("=")
                counts[word] = counts.get(word, 0) + int(c or 1)
    assert counts == EXPECTED


def test_jobinfo_joblist_stageresults_and_parameters_are_shaped_as_recorded(
    server: MasterServer, done_job: str
) -> None:
    got = call(server, "GET", f"/disco/ctrl/jobinfo?name={done_job}")
    recorded = load("GET_jobinfo_after_ready.http")
    same_shape(got, recorded)
    info = got.json()
    assert list(info) == list(json.loads(recorded.body))
    assert info["active"] == "ready"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d", info["timestamp"])
    assert [row[0] for row in info["pipeline"]] == ["map", "reduce"]
    assert all(isinstance(u, str) and u.startswith("dir://") for u in info["results"])

    got = call(server, "GET", "/disco/ctrl/joblist")
    same_shape(got, load("GET_joblist.http"))
    [start, status, name] = got.json()[0]
    assert (type(start), status, name) == (int, "ready", done_job)

    got = call(server, "GET", f"/disco/ctrl/get_stageresults?name={done_job}&stage=map")
    same_shape(got, load("GET_stageresults_map.http"))
    assert len(got.json()) == 3 and all(len(reps) == 1 for reps in got.json())
    assert call(server, "GET", f"/disco/ctrl/get_stageresults?name={done_job}&stage=no"
                ).status == 404

    got = call(server, "GET", f"/disco/ctrl/parameters?name={done_job}")
    assert got.status == 200 and got.body[:2] == b"\xd5\xc0"


def test_raw_events_are_the_log_and_a_range_gives_its_tail(
    server: MasterServer, done_job: str
) -> None:
    path = f"/disco/ctrl/rawevents?name={done_job}"
    whole = call(server, "GET", path)
    same_shape(whole, load("GET_rawevents.http"))
    assert "last-modified" in whole.headers
    lines = [json.loads(line) for line in whole.body.decode().splitlines()]
    assert lines[0][1:] == ["master", "New job initialized!"]
    assert lines[-1][2].startswith("READY: Job done in ")

    tail = call(server, "GET", path, headers={"Range": "bytes=10-"})
    assert (tail.status, tail.reason, tail.body) == (206, "Partial Content", whole.body[10:])
    assert tail.headers["content-range"] == f"bytes 10-{len(whole.body) - 1}/{len(whole.body)}"
    # Past the end: the range is ignored, as mochiweb does, and HttpMaster copes.
    past = call(server, "GET", path, headers={"Range": f"bytes={len(whole.body)}-"})
    assert (past.status, past.body) == (200, whole.body)
    master = HttpMaster(server.url)
    assert [e.message for e in master.events(done_job, len(whole.body))] == []
    assert [e.message for e in master.events(done_job)][-1] == lines[-1][2]


def test_unknown_jobs_are_404_not_found_or_an_unknown_status(server: MasterServer) -> None:
    recorded = load("GET_jobinfo_unknown.http")
    for path in ("jobinfo", "rawevents", "parameters", "get_stageresults"):
        got = call(server, "GET", f"/disco/ctrl/{path}?name=NoSuchJob@1:2:3&stage=map")
        same_shape(got, recorded)
        assert got.body == recorded.body
    got = call(server, "POST", "/disco/ctrl/get_results", b'[1000, ["NoSuchJob@1:2:3"]]')
    same_shape(got, load("POST_get_results_unknown_job.http"))
    assert got.body == load("POST_get_results_unknown_job.http").body
    assert call(server, "GET", "/disco/ctrl/no_such_op").status == 404
    assert call(server, "GET", "/elsewhere").status == 404


def test_garbage_is_refused_as_the_master_refuses_it(server: MasterServer) -> None:
    got = call(server, "POST", "/disco/job/new", b"garbage")
    same_shape(got, load("POST_job_new_garbage.http"))
    assert got.body.startswith(b'["error","Job failed to start: \\"invalid header')
    with pytest.raises(JobPackError, match="invalid header"):
        HttpMaster(server.url).submit(b"x" * 200)


def test_an_active_job_waits_out_the_timeout_then_a_kill_makes_it_dead(
    server: MasterServer,
) -> None:
    name = run_job(server, pack(jobenvs={"FAKE_BEHAVIOUR": "hang"}))
    began = time.monotonic()
    got = call(server, "POST", "/disco/ctrl/get_results", json.dumps([300, [name]]).encode())
    assert got.json() == [[name, ["active", []]]]
    assert time.monotonic() - began >= 0.25
    info = call(server, "GET", f"/disco/ctrl/jobinfo?name={name}")
    assert info.json()["active"] == "active"

    got = call(server, "POST", "/disco/ctrl/kill_job", json.dumps(name).encode())
    assert (got.status, got.body) == (200, b'""')
    got = call(server, "POST", "/disco/ctrl/get_results", json.dumps([5000, [name]]).encode())
    same_shape(got, load("POST_get_results_dead_job.http"))
    assert got.json() == [[name, ["dead", []]]]
    assert call(server, "GET", f"/disco/ctrl/jobinfo?name={name}").json()["active"] == "dead"

    assert call(server, "POST", "/disco/ctrl/purge_job", json.dumps(name).encode()).body == b'""'
    assert call(server, "GET", f"/disco/ctrl/jobinfo?name={name}").status == 404


@pytest.mark.parametrize(
    ("op", "body"),
    [("kill_job", b"42"), ("clean_job", b"not json"), ("get_results", b'["1", []]'),
     ("get_results", b"[true, []]"), ("save_config_table", b'[["h", 2]]')],
)
def test_a_bad_control_body_is_400_with_a_json_message(
    server: MasterServer, op: str, body: bytes
) -> None:
    got = call(server, "POST", f"/disco/ctrl/{op}", body)
    assert got.status == 400
    assert isinstance(got.json(), str) and op in got.json()


def test_control_of_a_name_no_job_can_have_is_a_harmless_empty_reply(
    server: MasterServer,
) -> None:
    for op in ("kill_job", "clean_job", "purge_job"):
        got = call(server, "POST", f"/disco/ctrl/{op}", b'"../../etc"')
        assert (got.status, got.body) == (200, b'""')


def test_the_config_table_is_shaped_as_recorded_and_saved(server: MasterServer) -> None:
    got = call(server, "GET", "/disco/ctrl/load_config_table")
    same_shape(got, load("GET_load_config_table.http"))
    assert got.json() == [["localhost", "2"]]
    master = HttpMaster(server.url)
    master.save_config([("localhost", 3)])
    assert master.config() == [("localhost", 3)]
    master.save_config([("localhost", 2)])


def test_workers_are_told_this_masters_port_as_a_nodes_settings_tell_them(
    server: MasterServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The original worker resolves dir:// inputs with DISCO_PORT (default 8989), read from its
    # node's settings; the master's own shell settings must not leak through instead.
    monkeypatch.setenv("DISCO_PORT", "8989")
    monkeypatch.delenv("PYTHONWARNINGS", raising=False)
    dump = "import json, os\njson.dump(dict(os.environ), open('env.json', 'w'))\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("w.py", f"#!{sys.executable}\n{dump}{WORKER}")
    name = run_job(server, pack(home=buf.getvalue(), jobenvs={"DISCO_DATA": "/mine"}))
    got = call(server, "POST", "/disco/ctrl/get_results", json.dumps([20000, [name]]).encode())
    assert got.json()[0][1][0] == "ready", got.body
    env = json.loads((server.master.store.job_home(name) / "env.json").read_text())
    store = server.master.store
    assert env["DISCO_MASTER"] == server.url
    assert env["DISCO_PORT"] == str(server.port) != "8989"
    assert env["DDFS_DATA"] == str(store.ddfs_data)
    assert env["DISCO_DATA"] == "/mine"  # the job's own jobenvs still win
    # The original library's SyntaxWarnings on stderr would break the protocol, as on a node.
    assert env["PYTHONWARNINGS"] == "ignore"


# --- DDFS on the same port -----------------------------------------------------------------


def test_ddfs_tags_and_blobs_through_the_http_adapter(server: MasterServer) -> None:
    ddfs = HttpDdfs(server.url)
    [blob] = ddfs.push("data:served", "some words.txt", io.BytesIO(b"one two"))
    assert blob.startswith("disco://localhost/ddfs/vol0/blob/")
    assert ddfs.read(blob) == b"one two"
    ddfs.tag("data:linked", [["tag://data:served"]])
    assert ddfs.blobs("data:linked") == [[blob]]
    assert {"data:served", "data:linked"} <= set(ddfs.tags())
    assert ddfs.tags("data:l") == ["data:linked"]

    got = call(server, "GET", "/ddfs/tag/data:served")
    recorded = load("GET_ddfs_tag_data_wc.http")
    same_shape(got, recorded)
    assert list(got.json()) == list(json.loads(recorded.body))
    same_shape(call(server, "GET", "/ddfs/tags"), load("GET_ddfs_tags.http"))
    assert call(server, "GET", "/ddfs/tag/data:served/ddfs:urls").json() == [[blob]]

    ddfs.delete("data:linked")
    got = call(server, "GET", "/ddfs/tag/data:linked")
    assert (got.status, got.body) == (404, b"Tag not found.")
    with pytest.raises(CommError, match="unknown tag"):
        ddfs.get("data:linked")


def test_new_blob_hands_out_put_urls_on_this_port(server: MasterServer) -> None:
    got = call(server, "GET", "/ddfs/new_blob/probe_blob")
    same_shape(got, load("GET_ddfs_new_blob.http"))
    [target] = got.json()
    assert re.fullmatch(rf"{server.url}/ddfs/probe_blob\$[0-9a-f]+-[0-9a-f]+-[0-9a-f]+", target)
    put = call(server, "PUT", target[len(server.url):], b"payload")
    assert put.status == 201
    stored = put.json()
    assert stored.startswith("disco://localhost/ddfs/vol0/blob/")
    again = call(server, "PUT", target[len(server.url):], b"other")
    assert again.status == 500  # a blob is written once
    assert call(server, "GET", stored[len("disco://localhost"):]).body == b"payload"

    assert call(server, "GET", "/ddfs/new_blob/probe?replicas=2").status == 403
    assert call(server, "GET", "/ddfs/new_blob/probe?exclude=localhost").status == 403
    assert call(server, "GET", "/ddfs/new_blob/bad%20name").status == 403
    assert call(server, "PUT", "/ddfs/not-a-blob-name", b"x").status == 403
    assert call(server, "PUT", "/ddfs/vol0/blob/00/x$1-2-3", b"x").status == 403
    assert call(server, "POST", "/ddfs/tag/t1", b"not json").status == 403
    assert call(server, "POST", "/ddfs/tag/t1", b"[[]]").status == 403
    assert call(server, "GET", "/ddfs/tag/bad%20tag").status == 403


# --- data files: served, and nothing outside them ------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/disco/../../../etc/passwd",
        "/disco/%2e%2e/%2e%2e/etc/passwd",
        "/disco/localhost/..%2f..%2f..%2fetc/passwd",
        "/disco//etc/passwd",
        "/disco/.master/jobs",
        "/ddfs/../.master/jobs",
        "/ddfs/%2e%2e/%2e%2e/etc/passwd",
        "/disco/localhost/link-out/passwd",
    ],
)
def test_paths_out_of_the_data_dir_are_refused(server: MasterServer, path: str) -> None:
    link = server.master.store.disco_data / "localhost" / "link-out"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.symlink_to("/etc")
    got = call(server, "GET", path)
    assert (got.status, got.body) == (404, b"Not found.")


def test_data_files_are_get_or_head_only_and_directories_are_forbidden(
    server: MasterServer, done_job: str
) -> None:
    home = server.master.store.job_home(done_job)
    rel = home.relative_to(server.master.store.disco_data).as_posix()
    got = call(server, "GET", f"/disco/{rel}/jobfile")
    assert (got.status, got.headers["content-type"]) == (200, "application/octet-stream")
    assert got.body == home.joinpath("jobfile").read_bytes()
    head = call(server, "HEAD", f"/disco/{rel}/jobfile")
    assert head.body == b"" and head.headers["content-length"] == str(len(got.body))
    assert call(server, "GET", f"/disco/{rel}").status == 403
    assert call(server, "DELETE", f"/disco/{rel}/jobfile").status == 501
    assert home.joinpath("jobfile").exists()


def test_safe_file_keeps_to_the_root(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_text("x")
    os.symlink(tmp_path / "a" / "f", tmp_path / "a" / "inside")
    os.symlink("/etc/passwd", tmp_path / "a" / "outside")
    assert safe_file(tmp_path, "a/f") == tmp_path / "a" / "f"
    assert safe_file(tmp_path, "a/inside") == tmp_path / "a" / "inside"
    for bad in ("a/outside", "../x", "a/../a/f", "/etc/passwd", "", "a//f", ".hidden/x", "a\0"):
        assert safe_file(tmp_path, bad) is None, bad


# --- the command ------------------------------------------------------------------------


def test_the_master_command_serves_until_terminated(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "discoworker.adapters.cli", "master", "--port", "0",
         "--data-dir", str(tmp_path), "--workers", "1"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://localhost:(\d+)", line)
        assert match, line
        assert HttpMaster(match.group(0)).version() == "0.5.4"
        assert HttpMaster(match.group(0)).config() == [("localhost", 1)]
        assert f"its pages at {match.group(0)}/ " in line
        with urllib.request.urlopen(match.group(0) + "/") as page:
            assert page.headers["Content-Type"] == "text/html; charset=utf-8"
            assert b"<h1>Jobs</h1>" in page.read()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
