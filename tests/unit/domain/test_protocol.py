"""The worker protocol against the original's bytes and a real master's conversations."""

from __future__ import annotations

import base64
import json
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from discoworker.domain import protocol as p
from discoworker.domain.inputs import Replica, TaskInput
from discoworker.domain.task import TaskSpec
from discoworker.errors import ProtocolError
from tests.conftest import GOLDEN
from tests.golden_values import untag

Decode = Callable[[p.Frame], p.WorkerMessage | p.MasterMessage]


def _rows(golden: Path) -> list[dict[str, Any]]:
    path = golden / "protocol" / "worker_protocol.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _bytes(row: dict[str, Any]) -> bytes:
    return base64.b64decode(row["bytes_base64"])


def _chunks(data: bytes, rng: random.Random, biggest: int = 17) -> Iterator[bytes]:
    pos = 0
    while pos < len(data):
        size = rng.randint(1, biggest)
        yield data[pos : pos + size]
        pos += size


def _frames(pieces: Sequence[bytes]) -> list[p.Frame]:
    """Every frame of the stream; ProtocolError (after the good frames) as the decoder says."""
    decoder = p.FrameDecoder()
    out: list[p.Frame] = []
    for piece in pieces:
        out.extend(decoder.feed(piece))
    decoder.close()
    return out


def _outcome(pieces: Sequence[bytes]) -> tuple[list[p.Frame], str | None]:
    """The frames a stream gives and the fault that stops it (None when it ends cleanly)."""
    decoder = p.FrameDecoder()
    out: list[p.Frame] = []
    try:
        for piece in pieces:
            out.extend(decoder.feed(piece))
        decoder.close()
    except ProtocolError as exc:
        return out, str(exc)
    return out, None


# --- golden: worker_protocol.jsonl ------------------------------------------------------------

_TRACE = "Traceback (most recent call last):\n  ...\n"
#: What the original worker sent in each case, as our typed messages.
_WORKER_SENT: dict[str, tuple[p.WorkerMessage, ...]] = {
    "worker": (p.WorkerHello(pid=4242),),
    "task_request": (p.TaskRequest(),),
    "input_exclude_empty": (p.InputRequest("exclude", ()),),
    "input_exclude": (p.InputRequest("exclude", (0, 1)),),
    "input_include": (p.InputRequest("include", (3,)),),
    "input_err": (p.InputError(3, (0, 1)),),
    "input_err_fail": (p.InputError(3, (0, 1, 2)),),
    "input_err_wait": (p.InputError(3, (0,)),),
    "msg_ascii": (p.Message("Results sent to master"),),
    "msg_nonascii": (p.Message('Grüße \u2013 世界 \U0001f600 "quoted" \\ back\nslash'),),
    "output": (p.OutputReport(2, "86/map:0-localhost-3-2a-4242/map-0-localhost-2", 1234),),
    "output_uid": (p.OutputReport(0, "86/map:0-localhost-3-2a-4242/map:0-localhost-3-2a-4242", 0),),
    "done": (p.Done(),),
    "error": (p.TaskError(_TRACE + "DataError: boom\n"),),
    "fatal": (p.TaskFatal(_TRACE + "ValueError: bäd\n"),),
    "ping": (p.Ping(),),
    "msg_empty": (p.Message(""),),
    "messagewriter_print": (p.Message("hello world"),),
    "get_inputs": (p.InputRequest("exclude", ()), p.InputRequest("exclude", (0, 1, 2))),
    "get_input_ok": (p.InputRequest("include", (7,)),),
    "get_input_busy": (p.InputRequest("include", (7,)),),
    "get_input_failed": (p.InputRequest("include", (7,)),),
    "unavailable": (p.InputError(7, (0, 1)),),
    "get_task": (p.TaskRequest(),),
}


def test_every_worker_row_encodes_byte_for_byte(golden: Path) -> None:
    rows = [r for r in _rows(golden) if r["direction"] == "worker->master"]
    # Every row but MSG 12, which is not a message we can build (see the test below).
    assert {r["case"] for r in rows} == set(_WORKER_SENT) | {"msg_int_payload"}
    for row in rows:
        if row["case"] == "msg_int_payload":
            continue
        sent = _WORKER_SENT[row["case"]]
        assert b"".join(p.encode(m) for m in sent) == _bytes(row), row["case"]
        # ... and the bytes decode to those messages.
        assert [p.decode_worker_message(f) for f in _frames([_bytes(row)])] == list(sent)


def test_worker_rows_carry_the_recorded_payloads(golden: Path) -> None:
    for row in _rows(golden):
        parsed = row.get("parsed")
        if row["direction"] != "worker->master" or not isinstance(parsed, dict):
            continue
        if "type" not in parsed or row["case"] in ("messagewriter_print", "msg_int_payload"):
            continue
        (message,) = _WORKER_SENT[row["case"]]
        assert parsed["type"] == message.NAME
        # The original's send('TASK') with no payload sends "" (recorded as null here).
        expected = "" if parsed["payload"] is None else parsed["payload"]
        assert json.loads(json.dumps(p.to_payload(message))) == expected, row["case"]


def test_msg_with_an_int_payload_is_refused_as_the_master_would(golden: Path) -> None:
    (row,) = [
        r
        for r in _rows(golden)
        if r["case"] == "msg_int_payload" and r["direction"] == "worker->master"
    ]
    (frame,) = _frames([_bytes(row)])
    with pytest.raises(ProtocolError, match=r"MSG: Invalid message body: .*string"):
        p.decode_worker_message(frame)


def _one_reply(data: bytes) -> p.MasterMessage:
    (frame,) = _frames([data])
    return p.decode_master_message(frame)


def _replies(data: bytes) -> list[p.MasterMessage]:
    return [p.decode_master_message(f) for f in _frames([data])]


def _expect_ok(row: dict[str, Any]) -> None:
    assert _one_reply(_bytes(row)) == p.Ok("ok")


def _expect_returned_payload(row: dict[str, Any]) -> None:
    reply = _one_reply(_bytes(row))
    assert json.loads(json.dumps(p.to_payload(reply))) == untag(row["parsed"]["send_returns"])


def _expect_task(row: dict[str, Any]) -> None:
    reply = _one_reply(_bytes(row))
    assert isinstance(reply, p.TaskReply)
    task = row["parsed"]["Worker.get_task() -> Task"]
    spec = reply.task
    assert (spec.taskid, spec.stage, spec.jobname, spec.host) == (
        task["taskid"],
        task["stage"],
        task["jobname"],
        task["host"],
    )
    assert spec.group == (0, "localhost")
    assert (spec.disco_port, spec.put_port, spec.grouping) == (8989, 8990, "split")


def _expect_get_inputs(row: dict[str, Any]) -> None:
    first, second = _frames([_bytes(row)])
    # The original turned the label "5" into 5; a real master sends only ints and "all", and
    # discoworker refuses anything else rather than guess.
    with pytest.raises(ProtocolError, match=r"INPUT: Invalid message body: .*label"):
        p.decode_master_message(first)
    assert p.decode_master_message(second) == p.InputReply(
        "done",
        (
            TaskInput(1, "ok", "all", ()),
            TaskInput(3, "ok", 1, (Replica(0, "raw://c"),)),
        ),
    )


def _expect_input(status: str) -> Callable[[dict[str, Any]], None]:
    def check(row: dict[str, Any]) -> None:
        reply = _one_reply(_bytes(row))
        assert isinstance(reply, p.InputReply)
        assert reply.flag == "done"
        assert [(i.id, i.status) for i in reply.inputs] == [(7, status)]

    return check


def _expect_fault(pattern: str) -> Callable[[dict[str, Any]], None]:
    def check(row: dict[str, Any]) -> None:
        with pytest.raises(ProtocolError, match=pattern):
            _replies(_bytes(row))

    return check


#: What decoding each master->worker row gives; where the original raised or hung, a fault.
_MASTER_EXPECT: dict[str, Callable[[dict[str, Any]], None]] = {
    "worker": _expect_ok,
    "task_request": _expect_ok,
    "input_exclude_empty": _expect_returned_payload,
    "input_exclude": _expect_returned_payload,
    "input_include": _expect_returned_payload,
    "input_err": _expect_returned_payload,
    "input_err_fail": _expect_returned_payload,
    # 0.5.4 has no WAIT (the original accepted any reply name and returned its payload).
    "input_err_wait": _expect_fault(r"Unknown message type 'WAIT'"),
    "msg_ascii": _expect_returned_payload,
    "msg_nonascii": _expect_returned_payload,
    "output": _expect_returned_payload,
    "output_uid": _expect_returned_payload,
    "done": _expect_returned_payload,
    # The original raised ValueError('ok') for any reply to ERROR; a real master sends none.
    "error": _expect_ok,
    "fatal": _expect_returned_payload,
    "ping": _expect_returned_payload,
    "msg_int_payload": _expect_returned_payload,
    "msg_empty": _expect_returned_payload,
    "messagewriter_print": _expect_ok,
    "get_task": _expect_task,
    "get_inputs": _expect_get_inputs,
    "get_input_ok": _expect_input("ok"),
    "get_input_busy": _expect_input("busy"),
    "get_input_failed": _expect_input("failed"),
    # The original never checked the reply's name nor the byte after the payload.
    "reply_lowercase_type": _expect_fault(r"Unknown message type 'ok'"),
    "reply_no_newline_last_char_dropped": _expect_fault(r"OK: invalid body: .*b'X'"),
    # Where the original raised or hung, we fail at once.
    "reply_len_with_spaces": _expect_fault(r"OK: invalid_length: b' 4'"),
    "reply_raw_utf8_payload": _expect_fault(r"MSG: stuck in the middle of a message"),
    "reply_truncated_eof": _expect_fault(r"OK: stuck in the middle of a message"),
}


def test_every_master_row_decodes_as_recorded(golden: Path) -> None:
    rows = [r for r in _rows(golden) if r["direction"] == "master->worker"]
    assert {r["case"] for r in rows} == set(_MASTER_EXPECT)
    for row in rows:
        _MASTER_EXPECT[row["case"]](row)


def test_the_golden_rows_are_all_there(golden: Path) -> None:
    assert len(_rows(golden)) == 54


# --- golden: a real master's conversations ----------------------------------------------------

_REAL = GOLDEN / "real-master"
_STREAMS = sorted(
    f for name in ("master_to_worker.bin", "worker_to_master_stderr.bin") for f in _REAL.rglob(name)
)
#: The streams a real master could not parse, with the fault it logged.
_MALFORMED = {
    "job13_malformed_MSG_wrong_length": r"MSG: stuck in the middle of a message",
    "job14_garbage_line_on_stderr": r"this: invalid_length: b'is'",
}


def _stream_id(path: Path) -> str:
    return str(path.relative_to(_REAL))


def _decoder_of(path: Path) -> Decode:
    if path.name == "master_to_worker.bin":
        return p.decode_master_message
    return p.decode_worker_message


def test_there_are_recorded_streams() -> None:
    assert len(_STREAMS) >= 100


@pytest.mark.parametrize("path", _STREAMS, ids=_stream_id)
def test_recorded_stream_reencodes_byte_for_byte(path: Path) -> None:
    data = path.read_bytes()
    decode = _decoder_of(path)
    fault = next(
        (f for job, f in _MALFORMED.items() if job in path.parts and "stderr" in path.name), None
    )
    for seed in range(3):
        frames, error = _outcome(list(_chunks(data, random.Random(f"{path}{seed}"))))
        again = b"".join(p.encode(decode(f)) for f in frames)
        if fault is None:
            assert error is None
            assert again == data
        else:
            assert error is not None
            assert re.search(fault, error), error
            assert data.startswith(again)
            assert [f.name for f in frames] == ["WORKER", "TASK", "INPUT", "INPUT"]


def test_master_replies_are_compact_and_worker_messages_are_not() -> None:
    data = (_REAL / "job9_inputerr_RETRY_FAIL_direct" / "map_task0_19152").glob("*.bin")
    by_name = {f.name: f.read_bytes() for f in data}
    assert b'RETRY 17 [[1,"raw://abd"]]\n' in by_name["master_to_worker.bin"]
    assert b"INPUT_ERR 11 [0, [0, 1]]\n" in by_name["worker_to_master_stderr.bin"]
    assert p.encode(p.Retry((Replica(1, "raw://abd"),))) == b'RETRY 17 [[1,"raw://abd"]]\n'
    assert p.encode(p.Fail()) == b'FAIL 2 ""\n'


def _events(job: str) -> list[str]:
    path = _REAL / "events" / f"{job}.events"
    return [json.loads(line)[2] for line in path.read_text().splitlines() if line.strip()]


def test_a_warning_before_worker_is_invalid_type_as_on_the_real_master() -> None:
    events = _events("WordCount@703:64cd2:387b1")
    assert any("Could not parse worker event: invalid_type" in e for e in events)
    last_words = next(e for e in events if "Last words:" in e)
    stream = last_words.split("Last words:\n", 1)[1].encode()
    assert stream.startswith(b"/srv/discoroot/") and b"SyntaxWarning" in stream
    frames, error = _outcome(list(_chunks(stream, random.Random(1))))
    assert frames == []
    assert error is not None and error.startswith("invalid_type")


def test_a_garbage_line_is_invalid_length_as_on_the_real_master() -> None:
    events = _events("Behave@703:65200:6ef51")
    assert any("Could not parse worker event: invalid_length" in e for e in events)
    with pytest.raises(ProtocolError, match="invalid_length"):
        _frames([b"this is not a protocol message\n"])


# --- framing limits ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fault"),
    [
        (b'ABCDEFGHIJK 2 ""\n', r"^invalid_type"),
        # A 10-byte name: the master takes it only if its 11th byte arrived with the 10th.
        (b'ABCDEFGHIJ 2 ""\n', r"^invalid_type"),
        (b"\n\n\n\n\n\n\n\n\n\n", r"^invalid_type"),
        (b"MSG 1234567890 x", r"^MSG: invalid_length"),
        (b'MSG x ""\n', r"^MSG: invalid_length: b'x'"),
        (b'MSG -1 ""\n', r"^MSG: invalid_length: b'-1'"),
        (b'MSG 1_0 ""\n', r"^MSG: invalid_length"),
        (b'MSG \xd9\xa3 ""\n', r"^MSG: invalid_length"),  # an Arabic-Indic 3 is no digit
        (b"MSG 104857601 ", r"^MSG: message too big: 104857601"),
        (b'MSG 2 ""X', r"^MSG: invalid body: .*b'X'"),
        (b'MSG 3 "\xff"\n', r"^MSG: Payload is not valid JSON \(bad UTF-8"),
        (b"MSG 3 NaN\n", r"^MSG: Payload is not valid JSON"),
        (b"MSG 1 [\n", r"^MSG: Payload is not valid JSON"),
        (b"MSG 0 \n", r"^MSG: Payload is not valid JSON"),
        (b'MSG 5 "x"\n', r"^MSG: stuck in the middle of a message: .* 10 bytes"),
        (b"MS", r"^message: stuck in the middle of a message"),
    ],
)
def test_framing_faults_use_the_masters_words(data: bytes, fault: str) -> None:
    for pieces in ([data], [bytes([b]) for b in data]):
        frames, error = _outcome(pieces)
        assert frames == []
        assert error is not None
        assert re.search(fault, error), error


def test_limits_accept_what_the_master_accepts() -> None:
    assert _frames([b"INPUT_ERR 8 [3, [0]]\n"]) == [p.Frame("INPUT_ERR", b"[3, [0]]")]
    # Erlang's list_to_integer takes a sign and leading zeros.
    assert _frames([b'OK +04 "ok"\n']) == [p.Frame("OK", b'"ok"')]
    # A space first is part of the name (the master looks for the gap from the 2nd byte on).
    assert _frames([b'  2 ""\n']) == [p.Frame(" ", b'""')]
    # The largest length allowed is only waited for.
    decoder = p.FrameDecoder()
    assert decoder.feed(b"MSG 104857600 ") == []
    assert decoder.pending == len(b"MSG 104857600 ")


def test_a_fault_after_good_frames_is_raised_by_the_next_call() -> None:
    decoder = p.FrameDecoder()
    assert decoder.feed(b'OK 4 "ok"\nthis is garbage\n') == [p.Frame("OK", b'"ok"')]
    with pytest.raises(ProtocolError, match="invalid_length"):
        decoder.feed(b"")
    with pytest.raises(ProtocolError, match="invalid_length"):
        decoder.close()


def test_a_large_payload_in_small_chunks_is_linear() -> None:
    text = "x" * (8 * 1024 * 1024)
    data = p.encode(p.Message(text)) + p.encode(p.Done())
    decoder = p.FrameDecoder()
    frames: list[p.Frame] = []
    started = time.perf_counter()
    view = memoryview(data)
    for pos in range(0, len(data), 1024):
        frames.extend(decoder.feed(view[pos : pos + 1024]))
    decoder.close()
    assert time.perf_counter() - started < 5  # quadratic would take minutes
    assert [p.decode_worker_message(f) for f in frames] == [p.Message(text), p.Done()]


# --- payload shapes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "fault"),
    [
        ('WORKER {"pid": "1", "version": "1.1"}', r"integer.*payload\.pid"),
        ('WORKER {"pid": true, "version": "1.1"}', r"integer.*payload\.pid"),
        ('WORKER {"version": "1.1"}', r"required key missing @ payload\.pid"),
        ('WORKER {"pid": 1, "version": 1.1}', r"string.*payload\.version"),
        ("WORKER [1]", r"object"),
        ("TASK 0", r"string"),
        ('INPUT "x"', r"list"),
        ('INPUT ["all", [1]]', r'"exclude"\|"include"'),
        ('INPUT ["exclude", [true]]', r"ids\[0\] must be an integer"),
        ('INPUT ["exclude", 1]', r"ids must be a list"),
        ('INPUT_ERR [1, [0, "a"]]', r"rep_ids\[1\]"),
        ("INPUT_ERR [1]", r"2 items"),
        ('OUTPUT [1, "x"]', r"3 items"),
        ('OUTPUT ["1", "x", 3]', r"label must be an integer"),
        ("OUTPUT [1, 2, 3]", r"location must be a string"),
        ('OUTPUT [1, "x", 1.5]', r"size must be an integer"),
        ("MSG null", r"string"),
        ("ERROR []", r"string"),
        ("FATAL {}", r"string"),
        ("DONE 1", r"string"),
    ],
)
def test_worker_payloads_are_checked_as_the_master_checks(frame: str, fault: str) -> None:
    name, payload = frame.split(" ", 1)
    with pytest.raises(ProtocolError, match=rf"^{name}: Invalid message body: .*{fault}"):
        p.decode_worker_message(p.Frame(name, payload.encode()))


def test_unknown_names_are_refused_in_each_direction() -> None:
    with pytest.raises(ProtocolError, match="Unknown message type 'OK'"):
        p.decode_worker_message(p.Frame("OK", b'"ok"'))
    with pytest.raises(ProtocolError, match="Unknown message type 'MSG'"):
        p.decode_master_message(p.Frame("MSG", b'"x"'))


def test_what_the_master_ignores_is_accepted() -> None:
    hello = b'{"pid": 7, "version": "1.0", "extra": [1]}'
    assert p.decode_worker_message(p.Frame("WORKER", hello)) == p.WorkerHello(7, "1.0")
    assert p.decode_worker_message(p.Frame("TASK", b'"anything"')) == p.TaskRequest()


_SPEC = {
    "taskid": 0,
    "master": "http://localhost:8989",
    "disco_port": 8989,
    "put_port": 8990,
    "ddfs_data": "/d",
    "disco_data": "/x",
    "stage": "map",
    "grouping": "split",
    "group": [0, "vm"],
    "jobfile": "/j",
    "jobname": "J@1",
    "host": "vm",
}


@pytest.mark.parametrize(
    ("name", "payload", "fault"),
    [
        ("OK", 1, r"string"),
        ("TASK", {**_SPEC, "taskid": "0"}, r"integer.*payload\.taskid"),
        ("TASK", {k: v for k, v in _SPEC.items() if k != "host"}, r"missing @ payload\.host"),
        ("TASK", {**_SPEC, "group": [0]}, r"group must have 2 items"),
        ("TASK", [], r"object"),
        ("INPUT", ["maybe", []], r"flag"),
        ("INPUT", ["done", [[0, "ok", 0]]], r"input"),
        ("INPUT", ["done", [[0, "lost", 0, []]]], r"status"),
        ("INPUT", ["done", [[0, "ok", 0, [[0]]]]], r"replica"),
        ("RETRY", [[1, 2]], r"url"),
        ("RETRY", "", r"list"),
        ("FAIL", None, r"string"),
    ],
)
def test_master_payloads_are_checked(name: str, payload: object, fault: str) -> None:
    frame = p.Frame(name, json.dumps(payload).encode())
    with pytest.raises(ProtocolError, match=rf"^{name}: Invalid message body: .*{fault}"):
        p.decode_master_message(frame)


def test_input_request_all_takes_no_ids() -> None:
    with pytest.raises(ValueError, match="no ids"):
        p.InputRequest("all", (1,))


def test_escaping_matches_both_encoders() -> None:
    text = "\x00\x1f\x7f/é\U0001f600\t"
    escaped = b'"\\u0000\\u001f\\u007f/\\u00e9\\ud83d\\ude00\\t"'
    assert p.encode(p.Ok(text)) == b"OK %d %s\n" % (len(escaped), escaped)
    assert p.encode(p.Message(text)) == b"MSG %d %s\n" % (len(escaped), escaped)


def test_frames_keep_raw_bytes_and_reencode() -> None:
    frame = p.Frame("X", b" [1,2] ")
    assert p.encode_frame(frame) == b"X 7  [1,2] \n"
    assert _frames([p.encode_frame(frame)]) == [frame]
    with pytest.raises(ProtocolError, match="invalid_type"):
        p.encode_frame(p.Frame("TOOLONGNAME", b'""'))
    with pytest.raises(ProtocolError, match="invalid_type"):
        p.encode_frame(p.Frame("A B", b'""'))


# --- properties -------------------------------------------------------------------------------

_ints = st.integers(min_value=-(2**70), max_value=2**70)
_ids = st.integers(min_value=0, max_value=2**40)
_text = st.text(max_size=40)
_url = st.text(min_size=1, max_size=30)
_replicas = st.builds(Replica, _ids, _url)
_inputs = st.builds(
    TaskInput,
    _ids,
    st.sampled_from(["ok", "busy", "failed"]),
    st.one_of(_ints, st.just("all")),
    st.lists(_replicas, max_size=3).map(tuple),
)
_specs = st.builds(
    TaskSpec,
    taskid=_ints,
    master=_text,
    disco_port=_ints,
    put_port=_ints,
    ddfs_data=_text,
    disco_data=_text,
    stage=_text,
    grouping=_text,
    group=st.tuples(_ints, _text),
    jobfile=_text,
    jobname=_text,
    host=_text,
)
_id_tuples = st.lists(_ints, max_size=5).map(tuple)
_worker_messages: st.SearchStrategy[p.WorkerMessage] = st.one_of(
    st.builds(p.WorkerHello, _ints, _text),
    st.just(p.TaskRequest()),
    st.just(p.InputRequest()),
    st.builds(p.InputRequest, st.sampled_from(["exclude", "include"]), _id_tuples),
    st.builds(p.InputError, _ints, _id_tuples),
    st.builds(p.Message, st.text(max_size=200)),
    st.builds(p.OutputReport, _ints, _text, _ints),
    st.just(p.Done()),
    st.builds(p.TaskError, _text),
    st.builds(p.TaskFatal, _text),
    st.just(p.Ping()),
)
_master_messages: st.SearchStrategy[p.MasterMessage] = st.one_of(
    st.builds(p.Ok, _text),
    st.builds(p.TaskReply, _specs),
    st.builds(
        p.InputReply, st.sampled_from(["more", "done"]), st.lists(_inputs, max_size=4).map(tuple)
    ),
    st.builds(p.Retry, st.lists(_replicas, max_size=4).map(tuple)),
    st.just(p.Fail()),
)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@given(st.lists(_worker_messages, min_size=1, max_size=6), st.lists(st.integers(0, 10**6)))
def test_worker_messages_round_trip_in_any_chunks(
    messages: list[p.WorkerMessage], cuts: list[int]
) -> None:
    data = b"".join(p.encode(m) for m in messages)
    assert data.isascii()
    frames = _frames(_split(data, cuts))
    assert [p.decode_worker_message(f) for f in frames] == messages


@given(st.lists(_master_messages, min_size=1, max_size=6), st.lists(st.integers(0, 10**6)))
def test_master_messages_round_trip_in_any_chunks(
    messages: list[p.MasterMessage], cuts: list[int]
) -> None:
    data = b"".join(p.encode(m) for m in messages)
    assert data.isascii()
    frames = _frames(_split(data, cuts))
    assert [p.decode_master_message(f) for f in frames] == messages


@given(_master_messages)
def test_master_json_is_compact(message: p.MasterMessage) -> None:
    body = p.encode(message).split(b" ", 2)[2][:-1]
    assert body == json.dumps(json.loads(body), separators=(",", ":")).encode()


_pieces = st.one_of(
    _worker_messages.map(p.encode),
    st.binary(max_size=24),
    st.sampled_from([b" ", b"\n", b"MSG ", b"OK ", b"5 ", b"12 ", b'""', b"-1 ", b"\xff"]),
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_pieces, max_size=12), st.lists(st.integers(0, 10**6), max_size=20))
def test_any_bytes_give_frames_or_a_protocol_error_whatever_the_chunks(
    pieces: list[bytes], cuts: list[int]
) -> None:
    data = b"".join(pieces)
    whole = _outcome([data])
    chunked = _outcome(_split(data, cuts))
    one_by_one = _outcome([data[i : i + 1] for i in range(len(data))])
    # The verdict does not depend on how reads split the stream.
    assert whole == chunked == one_by_one
    for frame in whole[0]:
        for decode in (p.decode_worker_message, p.decode_master_message):
            try:
                decode(frame)
            except ProtocolError:
                pass


@given(st.binary(max_size=200), st.lists(st.integers(0, 10**6), max_size=10))
def test_random_bytes_never_raise_anything_else(data: bytes, cuts: list[int]) -> None:
    frames, _error = _outcome(_split(data, cuts))
    for frame in frames:
        assert p.encode_frame(frame) in data
