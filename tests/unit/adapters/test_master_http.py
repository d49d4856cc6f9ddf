"""HttpMaster against a loopback server replaying a real Disco 0.5.4 master's recorded replies.

The replies (status line, headers, body) are golden/real-master/http/*.http, recorded with
``curl -i``; each request the adapter makes is answered with one of them, so the adapter
parses exactly what a real master says. Error cases: a refused connection, a 500 with a
body, and replies that are not what the API promises.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import attrs
import pytest

from discoworker.adapters.master_http import HttpMaster
from discoworker.app.ports import Event, JobResults
from discoworker.errors import CommError, JobDictError, JobPackError
from tests.conftest import GOLDEN

HTTP = GOLDEN / "real-master" / "http"
JOB = "WordCount@703:6512e:5bcc5"
DEAD = "Behave@703:65002:58ab"
# Headers the replay server sets itself (the length of what it sends, one request a connection).
_OWN_HEADERS = {"content-length", "connection"}


@attrs.frozen
class Recorded:
    """One HTTP reply: status, reason, headers, body."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """A header's value, by case-insensitive name."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def load(name: str) -> Recorded:
    """Parse a recorded ``curl -i`` reply: status line, headers, CRLF CRLF, body."""
    raw = (HTTP / name).read_bytes()
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, f"{name}: no end of headers"
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    _version, code, reason = status_line.split(" ", 2)
    headers = tuple(
        (k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in header_lines)
    )
    reply = Recorded(int(code), reason, headers, body)
    length = reply.header("Content-Length")
    assert length is None or int(length) == len(body), f"{name}: body is not Content-Length"
    return reply


def reply(status: int, body: bytes, content_type: str = "application/json") -> Recorded:
    """A reply made here (for what no recording holds), shaped like the real master's."""
    reason = {200: "OK", 201: "Created", 403: "Forbidden", 404: "Object Not Found",
              500: "Internal Server Error"}[status]
    return Recorded(status, reason, (("Content-Type", content_type),), body)


@attrs.frozen
class Seen:
    """A request the replay server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Route = Recorded | Callable[[Seen], Recorded]


@attrs.define
class Replay:
    """A loopback HTTP server answering ``(METHOD, path)`` (path with or without its query)."""

    routes: dict[tuple[str, str], Route] = attrs.field(factory=dict)
    seen: list[Seen] = attrs.field(factory=list)
    url: str = ""

    def answer(self, request: Seen) -> Recorded:
        """The route's reply; 404 ``Not found.`` like the master's for anything unknown."""
        route = self.routes.get((request.method, request.path)) or self.routes.get(
            (request.method, request.path.split("?", 1)[0])
        )
        if route is None:
            return reply(404, b"Not found.", "text/plain")
        return route(request) if callable(route) else route


def _handler(replay: Replay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            seen = Seen(self.command, self.path, dict(self.headers.items()),
                        self.rfile.read(length))
            replay.seen.append(seen)
            rec = replay.answer(seen)
            self.send_response(rec.status, rec.reason)
            for key, value in rec.headers:
                if key.lower() not in _OWN_HEADERS:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(rec.body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(rec.body)

        do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815 - http.server names them

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet tests

    return Handler


@contextlib.contextmanager
def serving() -> Iterator[Replay]:
    """A replay server on a free loopback port, in a thread, for the ``with`` block."""
    state = Replay()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    # A short poll: shutdown() waits for the serving loop to look up.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def replay() -> Iterator[Replay]:
    """A started replay server (no routes yet)."""
    with serving() as state:
        yield state


@pytest.fixture
def master(replay: Replay) -> HttpMaster:
    """An HttpMaster on the replay server."""
    return HttpMaster(replay.url, timeout=5)


def refused_url() -> str:
    """A loopback URL on which nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- submit -------------------------------------------------------------------------------


def test_submit_returns_the_name_the_master_gives(replay: Replay, master: HttpMaster) -> None:
    replay.routes["POST", "/disco/job/new"] = load("POST_disco_job_new.http")
    assert master.submit(b"\xd5\xc0pack") == JOB
    assert replay.seen[0].body == b"\xd5\xc0pack"


def test_a_pack_the_master_cannot_read_is_a_jobpack_error(
    replay: Replay, master: HttpMaster
) -> None:
    replay.routes["POST", "/disco/job/new"] = load("POST_job_new_garbage.http")
    with pytest.raises(JobPackError, match='Job failed to start: "invalid header"'):
        master.submit(b"garbage")


def test_a_jobdict_the_master_refuses_is_a_jobdict_error(
    replay: Replay, master: HttpMaster
) -> None:
    # The reply a real master gives to a prefix holding '/' (seen live).
    replay.routes["POST", "/disco/job/new"] = reply(
        200, b'["error","Job failed to start: \\"invalid prefix\\""]'
    )
    with pytest.raises(JobDictError, match="invalid prefix"):
        master.submit(b"pack")


def test_a_submit_reply_of_another_shape_names_the_endpoint(
    replay: Replay, master: HttpMaster
) -> None:
    replay.routes["POST", "/disco/job/new"] = reply(200, b'{"ok": true}')
    with pytest.raises(CommError, match=r"/disco/job/new replied '\{\"ok\": true\}'"):
        master.submit(b"pack")


def test_a_pack_too_large_is_a_jobpack_error(replay: Replay, master: HttpMaster) -> None:
    replay.routes["POST", "/disco/job/new"] = Recorded(
        413, "Request Entity Too Large", (), b"Job packet too large"
    )
    with pytest.raises(JobPackError, match="Job packet too large"):
        master.submit(b"pack")


# --- results ------------------------------------------------------------------------------


def test_results_of_a_ready_job_are_replica_lists(replay: Replay, master: HttpMaster) -> None:
    replay.routes["POST", "/disco/ctrl/get_results"] = load("POST_get_results_wait.http")
    status = master.results(JOB, 20)
    assert status.status == "ready"
    assert [len(reps) for reps in status.results] == [1, 1]
    assert status.results[0][0].startswith(f"dir://vm/disco/vm/06/{JOB}/.disco/reduce-2-")
    # Waited for in short requests: a real master does not wake a wait for every job's end.
    assert json.loads(replay.seen[0].body) == [2000, [JOB]]


def test_results_with_no_wait_ask_for_zero_ms(replay: Replay, master: HttpMaster) -> None:
    replay.routes["POST", "/disco/ctrl/get_results"] = load("POST_get_results_timeout0.http")
    assert master.results(JOB, 0).status == "ready"
    assert json.loads(replay.seen[0].body) == [0, [JOB]]


def test_results_of_a_dead_and_an_unknown_job(replay: Replay, master: HttpMaster) -> None:
    replay.routes["POST", "/disco/ctrl/get_results"] = load("POST_get_results_dead_job.http")
    assert master.results(DEAD, 0) == JobResults("dead", [])
    replay.routes["POST", "/disco/ctrl/get_results"] = load("POST_get_results_unknown_job.http")
    assert master.results("NoSuchJob@1:2:3", 0) == JobResults("unknown job", [])


def test_save_results_give_one_tag_url(replay: Replay, master: HttpMaster) -> None:
    body = json.dumps([[JOB, ["ready", [f"tag://disco:results:{JOB}"]]]]).encode()
    replay.routes["POST", "/disco/ctrl/get_results"] = reply(200, body)
    assert master.results(JOB, 0).results == [[f"tag://disco:results:{JOB}"]]


def test_results_keep_asking_while_the_job_is_active(replay: Replay, master: HttpMaster) -> None:
    answers = [
        reply(200, json.dumps([[JOB, ["active", []]]]).encode()),
        load("POST_get_results_wait.http"),
    ]
    replay.routes["POST", "/disco/ctrl/get_results"] = lambda _seen: answers.pop(0)
    assert master.results(JOB, None).status == "ready"
    assert len(replay.seen) == 2


@pytest.mark.parametrize(
    "body",
    [b"[]", b'[["Other@1:2:3",["ready",[]]]]', b'[["' + JOB.encode() + b'",["done",[]]]]',
     b'[["' + JOB.encode() + b'",["ready",[1]]]]', b'"x"'],
)
def test_results_of_another_shape_name_the_endpoint(
    replay: Replay, master: HttpMaster, body: bytes
) -> None:
    replay.routes["POST", "/disco/ctrl/get_results"] = reply(200, body)
    with pytest.raises(CommError, match="/disco/ctrl/get_results replied"):
        master.results(JOB, 0)


def test_an_error_status_shows_its_code_and_body(replay: Replay, master: HttpMaster) -> None:
    # What the real master answers to a body it cannot decode (seen live).
    replay.routes["POST", "/disco/ctrl/get_results"] = reply(
        500, b"Internal server error", "text/plain"
    )
    with pytest.raises(CommError) as info:
        master.results(JOB, 0)
    assert info.value.code == 500
    assert "HTTP 500" in str(info.value) and "Internal server error" in str(info.value)
    assert info.value.url == f"{replay.url}/disco/ctrl/get_results"


# --- job info, events, job pack -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "job", "active"),
    [("GET_jobinfo_while_active.http", JOB, "active"),
     ("GET_jobinfo_after_ready.http", JOB, "ready"),
     ("GET_jobinfo_dead_fatal_job.http", DEAD, "dead")],
)
def test_jobinfo(replay: Replay, master: HttpMaster, name: str, job: str, active: str) -> None:
    replay.routes["GET", f"/disco/ctrl/jobinfo?name={job}"] = load(name)
    info = master.jobinfo(job)
    assert info["active"] == active
    assert info["owner"] == "root@vm"
    assert all(len(row) == 6 for row in info["pipeline"])


def test_jobinfo_of_an_unknown_job_is_a_404(replay: Replay, master: HttpMaster) -> None:
    replay.routes["GET", "/disco/ctrl/jobinfo"] = load("GET_jobinfo_unknown.http")
    with pytest.raises(CommError, match="does not know job 'Nope@1:2:3'") as info:
        master.jobinfo("Nope@1:2:3")
    assert info.value.code == 404


def _events_route(body: bytes) -> Callable[[Seen], Recorded]:
    # The real master: 206 for a range inside the log; the whole log with 200 for one at or
    # past its end, or without a Range (seen live).
    recorded = load("GET_rawevents.http")

    def route(seen: Seen) -> Recorded:
        ask = seen.headers.get("Range", "")
        start = int(ask[len("bytes=") :].rstrip("-")) if ask else 0
        if 0 < start < len(body):
            return Recorded(206, "Partial Content", recorded.headers, body[start:])
        return attrs.evolve(recorded, body=body)

    return route


def test_events_parse_the_recorded_log(replay: Replay, master: HttpMaster) -> None:
    body = load("GET_rawevents.http").body
    replay.routes["GET", f"/disco/ctrl/rawevents?name={JOB}"] = _events_route(body)
    events = list(master.events(JOB))
    assert len(events) == body.count(b"\n")
    assert events[0] == Event("2026/11/23 06:06:38", "master", "New job initialized!")
    assert events[-1].message.startswith("READY: Job done")
    assert "Range" not in replay.seen[0].headers


def test_events_from_an_offset_ask_for_a_range(replay: Replay, master: HttpMaster) -> None:
    body = load("GET_rawevents.http").body
    replay.routes["GET", f"/disco/ctrl/rawevents?name={JOB}"] = _events_route(body)
    first = body.index(b"\n") + 1
    assert len(list(master.events(JOB, first))) == body.count(b"\n") - 1
    assert replay.seen[-1].headers["Range"] == f"bytes={first}-"
    # At or past the end the master sends the whole log again: nothing is new.
    assert list(master.events(JOB, len(body))) == []
    assert list(master.events(JOB, len(body) + 100)) == []


def test_a_line_still_being_written_is_left_for_later(
    replay: Replay, master: HttpMaster
) -> None:
    body = b'["t","master","one"]\n["t","vm","tw'
    replay.routes["GET", "/disco/ctrl/rawevents"] = reply(200, body, "text/plain")
    assert list(master.events(JOB)) == [Event("t", "master", "one")]


def test_a_malformed_event_line_names_the_endpoint(replay: Replay, master: HttpMaster) -> None:
    replay.routes["GET", "/disco/ctrl/rawevents"] = reply(200, b'{"not": "an event"}\n')
    with pytest.raises(CommError, match="/disco/ctrl/rawevents replied"):
        master.events(JOB)


def test_jobpack_is_the_bytes_served(replay: Replay, master: HttpMaster) -> None:
    pack = b"\xd5\xc0\x00\x02" + bytes(range(256))
    replay.routes["GET", f"/disco/ctrl/parameters?name={JOB}"] = reply(
        200, pack, "application/octet-stream"
    )
    assert master.jobpack(JOB) == pack
    with pytest.raises(CommError, match="does not know job"):
        master.jobpack("Nope@1:2:3")


def test_stage_results(replay: Replay, master: HttpMaster) -> None:
    replay.routes["GET", f"/disco/ctrl/get_stageresults?name={JOB}&stage=map"] = load(
        "GET_stageresults_map.http"
    )
    [[url]] = master.stage_results(JOB, "map")
    assert url.startswith(f"dir://vm/disco/vm/06/{JOB}/.disco/map-0-")
    with pytest.raises(CommError, match="no stage 'reduce'"):
        master.stage_results(JOB, "reduce")


# --- control, listing, the rest -----------------------------------------------------------


@pytest.mark.parametrize(("call", "op"), [("kill", "kill_job"), ("clean", "clean_job"),
                                          ("purge", "purge_job")])
def test_control_posts_the_name_as_json(
    replay: Replay, master: HttpMaster, call: str, op: str
) -> None:
    replay.routes["POST", f"/disco/ctrl/{op}"] = reply(200, b'""')
    getattr(master, call)(JOB)
    assert replay.seen[0].body == json.dumps(JOB).encode()


def test_jobs_are_the_joblist(replay: Replay, master: HttpMaster) -> None:
    replay.routes["GET", "/disco/ctrl/joblist"] = load("GET_joblist.http")
    jobs = master.jobs()
    assert jobs[0] == (1795413998.0, "ready", JOB)
    assert len(jobs) == 18 and {s for _, s, _ in jobs} == {"ready", "dead"}


def test_a_garbage_reply_names_the_endpoint_and_shows_its_start(
    replay: Replay, master: HttpMaster
) -> None:
    # The master's status page where JSON was promised.
    replay.routes["GET", "/disco/ctrl/joblist"] = load("GET_root.http")
    with pytest.raises(CommError) as info:
        master.jobs()
    text = str(info.value)
    assert "/disco/ctrl/joblist replied with something that is not JSON" in text
    assert "<!DOCTYPE HTML" in text and text.count("...") == 1 and len(text) < 400


def test_the_rest_of_the_api(replay: Replay, master: HttpMaster) -> None:
    replay.routes["GET", "/disco/version"] = load("GET_version.http")
    replay.routes["GET", "/disco/ctrl/nodeinfo"] = load("GET_nodeinfo.http")
    replay.routes["GET", "/disco/ctrl/get_settings"] = load("GET_get_settings.http")
    replay.routes["GET", "/disco/ctrl/load_config_table"] = load("GET_load_config_table.http")
    replay.routes["POST", "/disco/ctrl/save_config_table"] = load("POST_save_config_table.http")
    assert master.version() == "0.5.4"
    assert master.nodeinfo()["vm"]["max_workers"] == 2
    assert master.settings() == {"max_failure_rate": 100, "accept_new_jobs": 1}
    assert master.config() == [("vm", 2)]
    master.save_config([("vm", 2)])
    assert json.loads(replay.seen[-1].body) == [["vm", "2"]]


def test_out_of_band_results_are_a_ddfs_tag(replay: Replay, master: HttpMaster) -> None:
    port = replay.url.rsplit(":", 1)[1]
    blob = "ddfs/vol0/blob/1a/answer$703-1-2"
    tag = {"version": 1, "id": "x", "urls": [[f"disco://127.0.0.1/{blob}"]], "user-data": {}}
    replay.routes["GET", f"/ddfs/tag/disco:job:oob:{JOB}"] = reply(200, json.dumps(tag).encode())
    replay.routes["GET", f"/{blob}"] = reply(200, b"42", "application/octet-stream")
    assert master.locality.disco_port == int(port)
    assert master.oob_list(JOB) == ["answer"]
    assert master.oob_get(JOB, "answer") == b"42"
    with pytest.raises(KeyError):
        master.oob_get(JOB, "other")
    assert master.oob_list("Other@1:2:3") == []


# --- addresses and reachability -----------------------------------------------------------


def test_an_unreachable_master_is_a_comm_error_naming_the_url() -> None:
    url = refused_url()
    with pytest.raises(CommError, match="cannot reach the Disco master") as info:
        HttpMaster(url, timeout=2).jobs()
    assert info.value.url == f"{url}/disco/ctrl/joblist"
    assert info.value.code is None


def test_a_reply_that_is_not_http_is_a_comm_error() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"

        def garbage() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")

        thread = threading.Thread(target=garbage, daemon=True)
        thread.start()
        with pytest.raises(CommError, match="did not answer in HTTP") as info:
            HttpMaster(url, timeout=5).version()
        thread.join(5)
    assert info.value.url == f"{url}/disco/version"


@pytest.mark.parametrize(
    ("given", "base", "port"),
    [("http://vm:8989", "http://vm:8989", 8989), ("http://vm:8989/", "http://vm:8989", 8989),
     ("disco://vm", "http://vm:8989", 8989), ("vm", "http://vm:8989", 8989),
     ("vm:9000", "http://vm:9000", 9000), ("http://vm", "http://vm", 80)],
)
def test_master_addresses(given: str, base: str, port: int) -> None:
    master = HttpMaster(given)
    assert master.url == base
    assert master.ddfs.master_url == base
    assert master.locality.disco_port == port
    assert master.locality.host == ""


@pytest.mark.parametrize("given", ["ftp://vm", "http://vm:8989/disco/job", "http://"])
def test_not_a_master_address(given: str) -> None:
    with pytest.raises(ValueError, match="not a Disco master URL"):
        HttpMaster(given)


def test_results_are_read_over_http_on_the_masters_port() -> None:
    master = HttpMaster("http://vm:8989")
    url = f"dir://vm/disco/vm/06/{JOB}/.disco/reduce-2-1.results"
    assert not master.locality.is_local(url)
    assert master.locality.local_path(url) is None


def test_recordings_parse() -> None:
    # Every recording is a whole reply: its body is as long as its Content-Length says.
    names = sorted(p.name for p in HTTP.glob("*.http"))
    assert len(names) >= 22
    for name in names:
        assert load(name).status in (200, 404)
