"""The Disco Worker Protocol 1.1: every message, its payload, and the bytes on the wire.

A frame is ``NAME SP LEN SP PAYLOAD LF``: LEN is the byte length of PAYLOAD, one JSON value
(``""`` when a message carries nothing). The worker writes frames to its stderr and reads the
master's replies on its stdin; each message gets at most one reply, in order.

- worker -> master: :class:`WorkerHello` ``WORKER``, :class:`TaskRequest` ``TASK``,
  :class:`InputRequest` ``INPUT``, :class:`InputError` ``INPUT_ERR``, :class:`Message` ``MSG``,
  :class:`OutputReport` ``OUTPUT``, :class:`Done` ``DONE``, :class:`TaskError` ``ERROR``,
  :class:`TaskFatal` ``FATAL``, :class:`Ping` ``PING`` (a real 0.5.4 master refuses it).
- master -> worker: :class:`Ok` ``OK``, :class:`TaskReply` ``TASK``, :class:`InputReply`
  ``INPUT``, :class:`Retry` ``RETRY``, :class:`Fail` ``FAIL``. ``DONE``, ``ERROR`` and ``FATAL``
  get no reply: the master closes the worker's stdin and kills it.

:func:`encode` writes a message byte for byte as the original does (worker messages: Python's
``json.dumps`` defaults; replies: the master's compact JSON). :class:`FrameDecoder` cuts a byte
stream into :class:`Frame`\\ s under the master's parser limits, and
:func:`decode_worker_message` / :func:`decode_master_message` check a frame's payload against
the shapes the master checks. Every fault is a :class:`~discoworker.errors.ProtocolError` that
names the message and says what is wrong, in the master's words where it has them. No I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final, Literal, TypeAlias, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn

from discoworker.domain.inputs import Replica, TaskInput
from discoworker.domain.task import TaskSpec
from discoworker.errors import ProtocolError

#: The master refuses a declared payload length above this (``message_too_big``).
MAX_PAYLOAD: Final = 100 * 1024 * 1024
#: The longest NAME or LEN field we accept. The master looks for the space among the first 10
#: bytes but gives up as soon as 10 bytes are buffered, so whether it takes a 10-byte field
#: depends on how its reads split; 9 is what it always takes.
MAX_FIELD: Final = 9
#: The protocol version a worker announces in ``WORKER``.
VERSION: Final = "1.1"

_LF: Final = 0x0A
_SP: Final = b" "
# Erlang's list_to_integer/1, which the master applies to LEN: an optional sign, then digits.
_LENGTH = re.compile(rb"[+-]?[0-9]+\Z")


# --- worker -> master -------------------------------------------------------------------------


@attrs.frozen
class WorkerHello:
    """``WORKER {"pid": N, "version": "1.1"}``: the first word; the master kills by this pid."""

    NAME: ClassVar[str] = "WORKER"
    pid: int
    version: str = VERSION


@attrs.frozen
class TaskRequest:
    """``TASK ""``: ask what to do; answered by :class:`TaskReply`."""

    NAME: ClassVar[str] = "TASK"


@attrs.frozen
class InputRequest:
    """``INPUT``: all inputs (payload ``""``), or those excluding / including ``ids``."""

    NAME: ClassVar[str] = "INPUT"
    mode: Literal["all", "exclude", "include"] = "all"
    ids: tuple[int, ...] = ()

    def __attrs_post_init__(self) -> None:
        # Payload "" has no place for ids: they would be dropped silently on the wire.
        if self.mode == "all" and self.ids:
            raise ValueError("InputRequest(mode='all') takes no ids")


@attrs.frozen
class InputError:
    """``INPUT_ERR [input_id, [rep_ids]]``: every replica id failed so far (cumulative)."""

    NAME: ClassVar[str] = "INPUT_ERR"
    input_id: int
    rep_ids: tuple[int, ...]


@attrs.frozen
class Message:
    """``MSG "text"``: a status line for the job's events (rate-limited by the master)."""

    NAME: ClassVar[str] = "MSG"
    text: str


@attrs.frozen
class OutputReport:
    """``OUTPUT [label, location, size]``: one output file of the task."""

    NAME: ClassVar[str] = "OUTPUT"
    label: int
    location: str
    size: int


@attrs.frozen
class Done:
    """``DONE ""``: the task succeeded (no reply: the master kills the worker)."""

    NAME: ClassVar[str] = "DONE"


@attrs.frozen
class TaskError:
    """``ERROR "text"``: a transient failure; the master retries the task."""

    NAME: ClassVar[str] = "ERROR"
    text: str


@attrs.frozen
class TaskFatal:
    """``FATAL "text"``: a bug in the job; the whole job fails."""

    NAME: ClassVar[str] = "FATAL"
    text: str


@attrs.frozen
class Ping:
    """``PING ""``: documented, but a real 0.5.4 master kills the job for it."""

    NAME: ClassVar[str] = "PING"


# --- master -> worker -------------------------------------------------------------------------


@attrs.frozen
class Ok:
    """``OK "ok"``: the answer to ``WORKER``, ``MSG`` and ``OUTPUT``."""

    NAME: ClassVar[str] = "OK"
    value: str = "ok"


@attrs.frozen
class TaskReply:
    """``TASK {...}``: the task this worker is to run."""

    NAME: ClassVar[str] = "TASK"
    task: TaskSpec


@attrs.frozen
class InputReply:
    """``INPUT [flag, [inputs]]``: ``"done"`` when the set of inputs is final."""

    NAME: ClassVar[str] = "INPUT"
    flag: Literal["more", "done"]
    inputs: tuple[TaskInput, ...]


@attrs.frozen
class Retry:
    """``RETRY [[rep_id, url], ...]``: the replicas not in the ``INPUT_ERR`` list."""

    NAME: ClassVar[str] = "RETRY"
    replicas: tuple[Replica, ...]


@attrs.frozen
class Fail:
    """``FAIL ""``: no replica left to try; the worker decides what follows."""

    NAME: ClassVar[str] = "FAIL"


WorkerMessage: TypeAlias = (
    WorkerHello
    | TaskRequest
    | InputRequest
    | InputError
    | Message
    | OutputReport
    | Done
    | TaskError
    | TaskFatal
    | Ping
)
MasterMessage: TypeAlias = Ok | TaskReply | InputReply | Retry | Fail

#: Every worker message class by its wire NAME.
WORKER_MESSAGES: Final[Mapping[str, type[WorkerMessage]]] = {
    cls.NAME: cls
    for cls in (
        WorkerHello,
        TaskRequest,
        InputRequest,
        InputError,
        Message,
        OutputReport,
        Done,
        TaskError,
        TaskFatal,
        Ping,
    )
}
#: Every master reply class by its wire NAME (``TASK`` and ``INPUT`` exist both ways).
MASTER_MESSAGES: Final[Mapping[str, type[MasterMessage]]] = {
    cls.NAME: cls for cls in (Ok, TaskReply, InputReply, Retry, Fail)
}


# --- payloads: the converter ------------------------------------------------------------------


class _Fault(ValueError):
    """A payload of the wrong shape; the text says which part and why."""


def _show(value: object) -> str:
    text = json.dumps(value) if _is_json(value) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_json(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool | list | dict)


def _int(value: object, what: str) -> int:
    # JSON true/false decode to bool, a subclass of int; the master's validator refuses them.
    if type(value) is not int:
        raise _Fault(f"{what} must be an integer, got {_show(value)}")
    return value


def _str(value: object, what: str) -> str:
    if type(value) is not str:
        raise _Fault(f"{what} must be a string, got {_show(value)}")
    return value


def _list(value: object, what: str, length: int | None = None) -> list[Any]:
    if type(value) is not list:
        raise _Fault(f"{what} must be a list, got {_show(value)}")
    if length is not None and len(value) != length:
        raise _Fault(f"{what} must have {length} items, got {_show(value)}")
    return value


def _ints(value: object, what: str) -> tuple[int, ...]:
    return tuple(_int(v, f"{what}[{i}]") for i, v in enumerate(_list(value, what)))


def _dict(value: object, what: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise _Fault(f"{what} must be an object, got {_show(value)}")
    return value


_converter = cattrs.Converter(detailed_validation=True)
# Strict primitives: cattrs would otherwise coerce "5" or true into an int.
_converter.register_structure_hook(int, lambda v, _: _int(v, "value"))
_converter.register_structure_hook(str, lambda v, _: _str(v, "value"))


def _structure_group(value: object, _: object) -> tuple[int, str]:
    label, host = _list(value, "group", 2)
    return _int(label, "group label"), _str(host, "group host")


_GROUP: Final = tuple[int, str]
_converter.register_structure_hook_func(lambda t: t == _GROUP, _structure_group)


def _from_json(parse: Callable[[object], Any]) -> Callable[[object, object], Any]:
    # inputs.py owns the rules for an INPUT item and a replica; reuse them, faults reworded.
    def hook(value: object, _: object) -> Any:
        try:
            return parse(value)
        except ValueError as exc:
            raise _Fault(str(exc)) from None

    return hook


_converter.register_structure_hook(Replica, _from_json(Replica.from_json))
_converter.register_structure_hook(TaskInput, _from_json(TaskInput.from_json))
_converter.register_unstructure_hook(Replica, Replica.to_json)
_converter.register_unstructure_hook(TaskInput, TaskInput.to_json)
_converter.register_unstructure_hook_func(lambda t: t == _GROUP, list)

_M = TypeVar("_M")


def _payload_hooks(
    cls: type[_M], out: Callable[[_M], object], into: Callable[[object], _M]
) -> None:
    # One place per message: how its payload is written and read.
    _converter.register_unstructure_hook(cls, out)
    _converter.register_structure_hook(cls, lambda value, _: into(value))


def _empty(cls: type[_M]) -> Callable[[object], _M]:
    # The master checks only that the payload is a string; its content is ignored.
    def into(value: object) -> _M:
        _str(value, "payload")
        return cls()

    return into


def _from_object(cls: type[_M]) -> Callable[[object], _M]:
    # cattrs generates the reading of an object payload (its own function, as the class's hook
    # is the message hook); its errors become one line naming each faulty key.
    structure = make_dict_structure_fn(cls, _converter)

    def into(value: object) -> _M:
        obj = _dict(value, "payload")
        try:
            return structure(obj, cls)
        except cattrs.BaseValidationError as exc:
            faults = cattrs.transform_error(exc, path="payload", format_exception=_why)
            raise _Fault("; ".join(faults)) from None

    return into


def _why(exc: BaseException, _type: object) -> str:
    if isinstance(exc, KeyError):
        return "required key missing"
    return str(exc)


_task_spec = _from_object(TaskSpec)


def _input_request(value: object) -> InputRequest:
    if value == "":
        return InputRequest()
    mode, ids = _list(value, "payload", 2)
    if mode not in ("exclude", "include"):
        raise _Fault(f'payload must be "" or ["exclude"|"include", [ids]], got {_show(value)}')
    return InputRequest(mode, _ints(ids, "ids"))


def _input_request_out(msg: InputRequest) -> object:
    return "" if msg.mode == "all" else [msg.mode, list(msg.ids)]


def _input_error(value: object) -> InputError:
    input_id, rep_ids = _list(value, "payload", 2)
    return InputError(_int(input_id, "input_id"), _ints(rep_ids, "rep_ids"))


def _output(value: object) -> OutputReport:
    label, location, size = _list(value, "payload", 3)
    return OutputReport(_int(label, "label"), _str(location, "location"), _int(size, "size"))


def _input_reply(value: object) -> InputReply:
    flag, items = _list(value, "payload", 2)
    if flag not in ("more", "done"):
        raise _Fault(f'flag must be "more" or "done", got {_show(flag)}')
    inputs = tuple(_converter.structure(item, TaskInput) for item in _list(items, "inputs"))
    return InputReply(flag, inputs)


def _retry(value: object) -> Retry:
    items = _list(value, "payload")
    return Retry(tuple(_converter.structure(item, Replica) for item in items))


_payload_hooks(
    WorkerHello,
    _converter.gen_unstructure_attrs_fromdict(WorkerHello),
    _from_object(WorkerHello),
)
_payload_hooks(TaskRequest, lambda _: "", _empty(TaskRequest))
_payload_hooks(InputRequest, _input_request_out, _input_request)
_payload_hooks(InputError, lambda m: [m.input_id, list(m.rep_ids)], _input_error)
_payload_hooks(Message, lambda m: m.text, lambda v: Message(_str(v, "payload")))
_payload_hooks(OutputReport, lambda m: [m.label, m.location, m.size], _output)
_payload_hooks(Done, lambda _: "", _empty(Done))
_payload_hooks(TaskError, lambda m: m.text, lambda v: TaskError(_str(v, "payload")))
_payload_hooks(TaskFatal, lambda m: m.text, lambda v: TaskFatal(_str(v, "payload")))
_payload_hooks(Ping, lambda _: "", _empty(Ping))
_payload_hooks(Ok, lambda m: m.value, lambda v: Ok(_str(v, "payload")))
_payload_hooks(
    TaskReply,
    lambda m: _converter.unstructure(m.task),
    lambda v: TaskReply(_task_spec(v)),
)
_payload_hooks(
    InputReply, lambda m: [m.flag, [_converter.unstructure(i) for i in m.inputs]], _input_reply
)
_payload_hooks(Retry, lambda m: [_converter.unstructure(r) for r in m.replicas], _retry)
_payload_hooks(Fail, lambda _: "", _empty(Fail))


def to_payload(message: WorkerMessage | MasterMessage) -> object:
    """The JSON value a message carries (``""`` for the ones that carry nothing)."""
    return _converter.unstructure(message)


# --- frames -----------------------------------------------------------------------------------

_UNPARSED: Final = object()


@attrs.frozen
class Frame:
    """One message as cut from the stream: its NAME and raw PAYLOAD bytes (not yet typed)."""

    name: str
    payload: bytes
    # The decoder parses the JSON to check it; keeping the result saves a second parse.
    _value: object = attrs.field(default=_UNPARSED, eq=False, repr=False, alias="value")

    def value(self) -> object:
        """The payload's JSON value; ProtocolError if it is not UTF-8 JSON."""
        if self._value is _UNPARSED:
            return _parse_json(self.name, self.payload)
        return self._value


def _parse_json(name: str, payload: bytes) -> object:
    try:
        return json.loads(payload.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise ProtocolError(
            f"{name}: Payload is not valid JSON (bad UTF-8: {exc.reason})"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"{name}: Payload is not valid JSON ({exc})") from None


def _no_constant(word: str) -> object:
    # NaN and Infinity are Python extensions; the master's JSON parser refuses them.
    raise ValueError(f"{word} is not JSON")


def encode_frame(frame: Frame) -> bytes:
    """``NAME SP LEN SP PAYLOAD LF`` of a raw frame; ProtocolError if it could not be read back."""
    try:
        name = frame.name.encode("latin-1")
    except UnicodeEncodeError:
        name = b""
    if not 1 <= len(name) <= MAX_FIELD or _SP in name[1:]:
        raise ProtocolError(f"invalid_type: {frame.name!r} is not a message name (1-9 bytes)")
    if len(frame.payload) > MAX_PAYLOAD:
        raise ProtocolError(f"{frame.name}: message too big: {len(frame.payload)} bytes")
    return b"%s %d %s\n" % (name, len(frame.payload), frame.payload)


def encode(message: WorkerMessage | MasterMessage) -> bytes:
    """The bytes of one message, exactly as the original worker or the real master writes them.

    Worker messages: ``json.dumps`` with its default ``", "``/``": "`` separators, ASCII only.
    Master replies: mochijson2's compact JSON (``,`` and ``:``, no spaces), ASCII only.
    """
    payload = _converter.unstructure(message)
    # json.dumps and mochijson2 escape alike: quote, backslash, control characters, and every
    # code point from DEL up as lowercase \uXXXX (surrogate pairs above U+FFFF). Only the
    # separators differ.
    compact = type(message) in _MASTER_TYPES
    body = json.dumps(payload, separators=(",", ":") if compact else None)
    data = body.encode("ascii")
    if len(data) > MAX_PAYLOAD:
        # The master would refuse it and fail the task; better to fail here, saying why.
        raise ProtocolError(f"{message.NAME}: message too big: {len(data)} bytes")
    return b"%s %d %s\n" % (message.NAME.encode("ascii"), len(data), data)


_MASTER_TYPES: Final = frozenset(MASTER_MESSAGES.values())


@attrs.frozen
class _Header:
    """The parsed head of the frame being read: where its payload lies, relative to its start."""

    name: str
    start: int
    length: int


class FrameDecoder:
    """Cuts a byte stream, fed in chunks of any size, into frames, under the master's limits.

    Frames complete before a fault are returned first; the fault is raised then, or by the
    next :meth:`feed`/:meth:`close` when it comes after a returned frame. A decoder that has
    raised stays broken, as the master stops reading after a parse error.
    """

    def __init__(self) -> None:
        # One buffer and a read position: large payloads fed in small chunks stay linear.
        self._buf = bytearray()
        self._pos = 0
        self._head: _Header | None = None
        self._fault: ProtocolError | None = None

    @property
    def pending(self) -> int:
        """How many bytes of an unfinished frame are buffered."""
        return len(self._buf) - self._pos

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Add ``data``; return every frame it completes, in order."""
        if self._fault is not None:
            raise self._fault
        self._buf += data
        frames: list[Frame] = []
        try:
            while (frame := self._next()) is not None:
                frames.append(frame)
        except ProtocolError as exc:
            self._fault = exc
            if not frames:
                raise
        self._compact()
        return frames

    def close(self) -> None:
        """End of the stream: ProtocolError if a fault is pending or a frame is unfinished."""
        if self._fault is not None:
            raise self._fault
        if self.pending:
            what = self._head.name if self._head is not None else "message"
            self._fault = ProtocolError(
                f"{what}: stuck in the middle of a message: the stream ended with "
                f"{self.pending} bytes of it"
            )
            raise self._fault

    def _next(self) -> Frame | None:
        head = self._head or self._read_head()
        if head is None:
            return None
        end = self._pos + head.start + head.length
        if len(self._buf) <= end:
            return None
        name = head.name
        if self._buf[end] != _LF:
            got = bytes(self._buf[end : end + 1])
            raise ProtocolError(
                f"{name}: invalid body: the byte after the {head.length}-byte payload is "
                f"{got!r}, not a newline"
            )
        payload = bytes(self._buf[self._pos + head.start : end])
        self._pos = end + 1
        self._head = None
        return Frame(name, payload, value=_parse_json(name, payload))

    def _read_head(self) -> _Header | None:
        buf, pos = self._buf, self._pos
        gap = _field_end(buf, pos)
        if gap is None:
            return None
        if gap < 0:
            shown = bytes(buf[pos : pos + MAX_FIELD + 1])
            raise ProtocolError(f"invalid_type: no message name (1-9 bytes, a space) in {shown!r}")
        name = bytes(buf[pos:gap]).decode("latin-1")
        gap2 = _field_end(buf, gap + 1)
        if gap2 is None:
            return None
        if gap2 < 0:
            shown = bytes(buf[gap + 1 : gap + 2 + MAX_FIELD])
            raise ProtocolError(
                f"{name}: invalid_length: no length (1-9 bytes, a space) in {shown!r}"
            )
        digits = bytes(buf[gap + 1 : gap2])
        if not _LENGTH.match(digits) or int(digits) < 0:
            raise ProtocolError(f"{name}: invalid_length: {digits!r} is not a length")
        length = int(digits)
        if length > MAX_PAYLOAD:
            raise ProtocolError(f"{name}: message too big: {length} bytes (at most {MAX_PAYLOAD})")
        self._head = _Header(name, gap2 + 1 - pos, length)
        return self._head

    def _compact(self) -> None:
        # Dropping consumed bytes costs a copy of the rest: only do it when that is cheap
        # relative to what was consumed, so a long payload is not copied on every chunk.
        if self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        elif self._pos > 4096 and self._pos * 2 > len(self._buf):
            del self._buf[: self._pos]
            self._pos = 0


def _field_end(buf: bytearray, start: int) -> int | None:
    """Index of the space ending the field at ``start``; None to wait for more; -1 if none can."""
    # The master takes the first space at offsets 1..10 (offset 0 is part of the field even if
    # it is a space); see MAX_FIELD for why we stop at 9.
    gap = buf.find(_SP, start + 1, start + MAX_FIELD + 1)
    if gap != -1:
        return gap
    return -1 if len(buf) - start > MAX_FIELD else None


# --- typed messages ---------------------------------------------------------------------------


def decode_worker_message(frame: Frame) -> WorkerMessage:
    """The typed worker message of ``frame``; ProtocolError as the master would refuse it."""
    cls = WORKER_MESSAGES.get(frame.name)
    if cls is None:
        raise ProtocolError(f"Unknown message type '{frame.name}'")
    return _typed(cls, frame)


def decode_master_message(frame: Frame) -> MasterMessage:
    """The typed master reply of ``frame``; ProtocolError for an unknown name or a bad payload."""
    cls = MASTER_MESSAGES.get(frame.name)
    if cls is None:
        raise ProtocolError(f"Unknown message type '{frame.name}'")
    return _typed(cls, frame)


def _typed(cls: type[_M], frame: Frame) -> _M:
    value = frame.value()
    try:
        return _converter.structure(value, cls)
    except _Fault as exc:
        raise ProtocolError(f"{frame.name}: Invalid message body: {exc}") from None
