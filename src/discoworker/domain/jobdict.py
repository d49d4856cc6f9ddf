"""The jobdict, typed: version 1 (classic) and version 2 (pipeline), checked as the master does.

``from_json`` raises :class:`~discoworker.errors.JobDictError` whose message is the reason the
real master gives (``jobpack missing key 'K'``, ``invalid prefix``, ``invalid_job_inputs``...).
Where the master would merely crash on a malformed value (its reply is then
``invalid payload: <Erlang exception>``) the message starts ``invalid payload:`` and says what
is wrong in plain words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal, TypeAlias, TypeGuard, cast, get_args

import attrs

from discoworker.errors import JobDictError

Grouping: TypeAlias = Literal["split", "group_label", "group_node", "group_node_label", "group_all"]
#: The five groupings, in the order the documentation lists them.
GROUPINGS: Final[tuple[Grouping, ...]] = get_args(Grouping)
#: The master's default for ``scheduler.max_cores``.
DEFAULT_MAX_CORES: Final = 1 << 31
#: Reasons the master gives as Erlang atoms (printed unquoted in its reply); others are strings.
ATOM_REASONS: Final = frozenset(
    {
        "repeated_pipeline_stages",
        "invalid_job_inputs",
        "invalid_job_save_results",
        "invalid_job_save_info",
    }
)

# Key order of the original Python client (disco.worker.Worker.jobdict and its subclasses):
# to_json() follows it so that JobPack.dumps of a to_json() gives the original's bytes.
_COMMON_KEYS: Final = ("prefix", "save_results", "save_info", "scheduler", "owner")
_CLASSIC_KEYS: Final = ("input", "worker", "map?", "reduce?", "reduce_shuffle?", "nr_reduces")
_PIPELINE_KEYS: Final = ("worker", "pipeline", "inputs")


# --- small JSON type guards (bool is an int in Python, but not in JSON) ---------------------


def _is_int(v: object) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_str_list(v: object) -> TypeGuard[list[str]]:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _missing(key: str) -> JobDictError:
    return JobDictError(f"jobpack missing key '{key}'")


def _find(obj: Mapping[str, Any], key: str) -> Any:
    if key not in obj:
        raise _missing(key)
    return obj[key]


def _payload(what: str) -> JobDictError:
    return JobDictError(f"invalid payload: {what}")


# --- Erlang ~p, for the messages the master builds from the offending JSON term --------------


_PRINTABLE_CONTROLS: Final = frozenset(b"\n\r\t\v\b\f\x1b")


def _latin1_printable(codes: list[int]) -> bool:
    # io_lib:printable_list/1 in its default latin1 range. A set, not ``in bytes``: that
    # raises ValueError for a code past 255, and any integer may come from the JSON.
    return all(32 <= c <= 126 or 160 <= c <= 255 or c in _PRINTABLE_CONTROLS for c in codes)


_ESCAPES: Final = {
    ord('"'): '\\"',
    ord("\\"): "\\\\",
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
    ord("\v"): "\\v",
    ord("\b"): "\\b",
    ord("\f"): "\\f",
    0x1B: "\\e",
}


def _erl_chars(codes: list[int]) -> str:
    return '"' + "".join(_ESCAPES.get(c, chr(c)) for c in codes) + '"'


def _erl_float(f: float) -> str:
    # Erlang prints the shortest round-trip digits like Python, but always with ".0" and
    # with "e-7"/"e20" exponents; which magnitudes switch to exponent form may differ.
    text = repr(f)
    mantissa, _, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}e{int(exponent)}" if exponent else mantissa


def _erl_int(value: int) -> str:
    try:
        return str(value)
    except ValueError:
        # Past Python's int_max_str_digits (4300): Erlang would print every digit; a message
        # that long helps nobody, so say what it is.
        return f"<an integer of {value.bit_length()} bits>"


def erlang_term(value: Any) -> str:
    """Render a decoded JSON value as the master's ``~p`` prints its mochijson2 term (one line)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return _erl_int(value)
    if isinstance(value, float):
        return _erl_float(value)
    if isinstance(value, str):
        # surrogatepass: JSON may carry a lone surrogate ("\\ud800"), mochijson2 keeps its bytes.
        data = list(value.encode("utf-8", "surrogatepass"))
        if not data:
            return "<<>>"
        if _latin1_printable(data):
            return f"<<{_erl_chars(data)}>>"
        return "<<" + ",".join(map(str, data)) + ">>"
    if isinstance(value, list):
        if value and all(_is_int(x) for x in value) and _latin1_printable(value):
            return _erl_chars(value)
        return "[" + ",".join(erlang_term(x) for x in value) + "]"
    if isinstance(value, Mapping):
        pairs = ",".join(f"{{{erlang_term(k)},{erlang_term(v)}}}" for k, v in value.items())
        return f"{{struct,[{pairs}]}}"
    return repr(value)


def erlang_reason(reason: str) -> str:
    """The reason as the master prints it after ``Job failed to start: `` (atoms bare)."""
    if reason in ATOM_REASONS:
        return reason
    return _erl_chars(list(reason.encode("utf-8")))


# --- values ------------------------------------------------------------------------------------


@attrs.frozen
class PipelineStage:
    """One pipeline entry: ``[name, grouping, concurrent]`` on the wire."""

    name: str
    grouping: Grouping
    concurrent: bool = False

    def to_json(self) -> list[Any]:
        """The wire form ``[name, grouping, concurrent]``."""
        return [self.name, self.grouping, self.concurrent]


@attrs.frozen
class JobInput:
    """One job input: its label, a size hint and its replicas' URLs.

    ``is_dir`` marks a classic ``dir://`` input, whose labels the master reads from the index;
    version-2 inputs are always data inputs.
    """

    label: int
    size_hint: int
    urls: tuple[str, ...]
    is_dir: bool = False

    def to_json(self) -> list[Any]:
        """The version-2 wire form ``[label, size_hint, [url, ...]]``."""
        return [self.label, self.size_hint, list(self.urls)]


@attrs.frozen(kw_only=True)
class _CommonJobDict:
    prefix: str
    worker: str
    owner: str
    scheduler: Mapping[str, Any] = attrs.field(factory=dict)
    save_results: bool = False
    save_info: str = "ddfs"
    #: Keys the master ignores, kept so that to_json() gives them back.
    extra: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def max_cores(self) -> Any:
        """``scheduler.max_cores`` as the master reads it (default 2**31)."""
        return self.scheduler.get("max_cores", DEFAULT_MAX_CORES)

    def _common_json(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "save_results": self.save_results,
            "save_info": self.save_info,
            "scheduler": dict(self.scheduler),
            "owner": self.owner,
        }


@attrs.frozen(kw_only=True)
class ClassicJobDict(_CommonJobDict):
    """A version-1 jobdict: ``input``, ``map?``, ``reduce?``, ``reduce_shuffle?``, ``nr_reduces``.

    ``input`` holds URLs, or tuples of one input's replica URLs.
    """

    input: tuple[str | tuple[str, ...], ...]
    nr_reduces: int
    map: bool = False
    reduce: bool = False
    reduce_shuffle: bool = False

    @classmethod
    def from_json(cls, obj: Any) -> ClassicJobDict:
        """Check ``obj`` by the master's version-1 rules; JobDictError with its reason."""
        common = _common_from_json(obj)
        scheduler = _scheduler(obj)
        raw_input = _find(obj, "input")
        nr_reduces = _find(obj, "nr_reduces")
        flags: dict[str, bool] = {}
        for key in ("map?", "reduce?", "reduce_shuffle?"):
            flag = obj.get(key, False)
            if not isinstance(flag, bool):
                raise _payload(f"'{key}' must be a boolean, {erlang_term(flag)} found")
            flags[key] = flag
        if not _is_int(nr_reduces):
            raise _payload(f"'nr_reduces' must be an integer, {erlang_term(nr_reduces)} found")
        if not isinstance(raw_input, list):
            raise _payload(f"'input' must be a list, {erlang_term(raw_input)} found")
        inputs: list[str | tuple[str, ...]] = []
        for item in raw_input:
            if isinstance(item, str):
                inputs.append(item)
            elif _is_str_list(item):
                inputs.append(tuple(item))
            else:
                raise _payload(
                    f"an input must be a URL or a list of URLs, {erlang_term(item)} found"
                )
        return cls(
            **common,
            scheduler=scheduler,
            input=tuple(inputs),
            nr_reduces=nr_reduces,
            map=flags["map?"],
            reduce=flags["reduce?"],
            reduce_shuffle=flags["reduce_shuffle?"],
            extra=_extra(obj, _COMMON_KEYS + _CLASSIC_KEYS),
        )

    def to_json(self) -> dict[str, Any]:
        """The wire form, keys in the original client's order, unknown keys last."""
        out = self._common_json()
        out.update(
            {
                "input": [u if isinstance(u, str) else list(u) for u in self.input],
                "worker": self.worker,
                "map?": self.map,
                "reduce?": self.reduce,
                "reduce_shuffle?": self.reduce_shuffle,
                "nr_reduces": self.nr_reduces,
            }
        )
        out.update(self.extra)
        return out


@attrs.frozen(kw_only=True)
class PipelineJobDict(_CommonJobDict):
    """A version-2 jobdict: ``pipeline`` of stages and ``inputs`` of ``[label, size, [urls]]``."""

    pipeline: tuple[PipelineStage, ...]
    inputs: tuple[JobInput, ...]

    @classmethod
    def from_json(cls, obj: Any) -> PipelineJobDict:
        """Check ``obj`` by the master's version-2 rules; JobDictError with its reason."""
        common = _common_from_json(obj)
        raw_pipeline = _find(obj, "pipeline")
        raw_inputs = _find(obj, "inputs")
        scheduler = _scheduler(obj)
        return cls(
            **common,
            scheduler=scheduler,
            pipeline=_pipeline(raw_pipeline),
            inputs=_inputs(raw_inputs),
            extra=_extra(obj, _COMMON_KEYS + _PIPELINE_KEYS),
        )

    def to_json(self) -> dict[str, Any]:
        """The wire form, keys in the original client's order, unknown keys last."""
        out = self._common_json()
        out.update(
            {
                "worker": self.worker,
                "pipeline": [s.to_json() for s in self.pipeline],
                "inputs": [i.to_json() for i in self.inputs],
            }
        )
        out.update(self.extra)
        return out


JobDict: TypeAlias = ClassicJobDict | PipelineJobDict


def jobdict_from_json(version: int, obj: Any) -> JobDict:
    """Check a jobdict of job pack ``version`` (1 or 2) as the master does."""
    try:
        if version == 1:
            return ClassicJobDict.from_json(obj)
        if version == 2:
            return PipelineJobDict.from_json(obj)
    except RecursionError:
        # Printing the offending term walks it: a jobdict nested past the stack's depth.
        raise _payload("nested too deeply") from None
    raise JobDictError(f"unsupported version '{version}'")


# --- the checks --------------------------------------------------------------------------------


def _common_from_json(obj: Any) -> dict[str, Any]:
    # The master looks up prefix first; worker, owner, save_info and save_results next; the
    # prefix's characters are checked after them.
    if not isinstance(obj, Mapping):
        raise _payload(f"the jobdict must be a JSON object, {erlang_term(obj)} found")
    prefix = _find(obj, "prefix")
    worker = _find(obj, "worker")
    owner = _find(obj, "owner")
    save_info = obj.get("save_info", "ddfs")
    save_results = obj.get("save_results", False)
    # The master only needs 4 characters starting "ddfs" or "hdfs" (the hdfs form is
    # "hdfs,<namenode>,<user>,<dir>"); the prefix test implies the length test.
    if not isinstance(save_info, str) or save_info[:4] not in ("ddfs", "hdfs"):
        raise JobDictError("invalid_job_save_info")
    if not isinstance(save_results, bool):
        raise JobDictError("invalid_job_save_results")
    if not isinstance(prefix, str):
        raise _payload(f"'prefix' must be a string, {erlang_term(prefix)} found")
    if "/" in prefix or "." in prefix:
        raise JobDictError("invalid prefix")
    # The master takes any worker/owner here and fails later; we want strings now.
    if not isinstance(worker, str):
        raise _payload(f"'worker' must be a string, {erlang_term(worker)} found")
    if not isinstance(owner, str):
        raise _payload(f"'owner' must be a string, {erlang_term(owner)} found")
    return {
        "prefix": prefix,
        "worker": worker,
        "owner": owner,
        "save_info": save_info,
        "save_results": save_results,
    }


def _scheduler(obj: Mapping[str, Any]) -> dict[str, Any]:
    scheduler = _find(obj, "scheduler")
    if not isinstance(scheduler, dict):
        raise _payload(f"'scheduler' must be a JSON object, {erlang_term(scheduler)} found")
    return scheduler


def _extra(obj: Mapping[str, Any], known: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in known}


def _pipeline_error(msg: str) -> JobDictError:
    return JobDictError(f"Invalid job pipeline: {msg}")


def _pipeline(raw: Any) -> tuple[PipelineStage, ...]:
    # First the shape of every entry (json_validator: the first failure is reported), then
    # unique names, then each grouping in order.
    if not isinstance(raw, list):
        raise _pipeline_error(f"list expected, '{erlang_term(raw)}' received")
    for entry in raw:
        if not isinstance(entry, list):
            raise _pipeline_error(f"list expected, '{erlang_term(entry)}' received")
        if len(entry) != 3:
            raise _pipeline_error(f"list of length 3 expected, '{erlang_term(entry)}' received")
        name, grouping, concurrent = entry
        for item, kind, ok in (
            (name, "string", isinstance(name, str)),
            (grouping, "string", isinstance(grouping, str)),
            (concurrent, "boolean", isinstance(concurrent, bool)),
        ):
            if not ok:
                raise _pipeline_error(f"{kind} expected, '{erlang_term(item)}' received")
    names = [entry[0] for entry in raw]
    if len(set(names)) != len(names):
        raise JobDictError("repeated_pipeline_stages")
    stages = []
    for name, grouping, concurrent in raw:
        if grouping not in GROUPINGS:
            raise JobDictError(f"invalid grouping '{erlang_term(grouping)}'")
        stages.append(PipelineStage(name, cast(Grouping, grouping), concurrent))
    return tuple(stages)


def _inputs(raw: Any) -> tuple[JobInput, ...]:
    # Exactly [label:int, size_hint:int, [url, ...]]; anything else is invalid_job_inputs.
    if not isinstance(raw, list):
        raise JobDictError("invalid_job_inputs")
    inputs = []
    for entry in raw:
        if not (
            isinstance(entry, list)
            and len(entry) == 3
            and _is_int(entry[0])
            and _is_int(entry[1])
            and _is_str_list(entry[2])
        ):
            raise JobDictError("invalid_job_inputs")
        inputs.append(JobInput(entry[0], entry[1], tuple(entry[2])))
    return tuple(inputs)


def validate_jobenvs(obj: Any) -> dict[str, str]:
    """Check that jobenvs is a JSON object of string to string, as the master needs."""
    if not isinstance(obj, Mapping):
        raise _payload(f"jobenvs must be a JSON object, {erlang_term(obj)} found")
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise _payload(
                f"jobenvs must map strings to strings, {erlang_term(key)}: "
                f"{erlang_term(value)} found"
            )
    return dict(obj)


# --- classic to pipeline -----------------------------------------------------------------------


def _classic_input(item: str | tuple[str, ...]) -> JobInput:
    if isinstance(item, str):
        return JobInput(0, 0, (item,), is_dir=item.startswith("dir://"))
    if item and item[0].startswith("dir://"):
        # The master takes only the first of replicated dir:// URLs.
        return JobInput(0, 0, item[:1], is_dir=True)
    return JobInput(0, 0, item)


def pipeline_of_classic(
    jobdict: ClassicJobDict,
) -> tuple[tuple[PipelineStage, ...], tuple[JobInput, ...]]:
    """The pipeline and inputs the master makes of a version-1 jobdict (label 0, size 0)."""
    stages: list[tuple[str, Grouping]] = []
    if jobdict.map:
        stages += [("map", "split"), ("map_shuffle", "group_node")]
    if jobdict.reduce:
        if jobdict.nr_reduces == 1:
            stages.append(("reduce", "group_all"))
        else:
            stages.append(("reduce", "group_label"))
            if jobdict.reduce_shuffle:
                stages.append(("reduce_shuffle", "group_node"))
    return (
        tuple(PipelineStage(name, grouping, False) for name, grouping in stages),
        tuple(_classic_input(item) for item in jobdict.input),
    )


_NAMED_CHARACTERS: Final = {" ": "a space", "\t": "a tab", "\n": "a newline", "\r": "a CR"}


def check_prefix(prefix: str) -> str:
    """``prefix`` when it can start a job name; JobDictError saying which character cannot.

    A job name goes unquoted into URLs, index lines (``<label> <url> <size>``) and the real
    master's worker command line, so whitespace and control characters would break the job
    after it started. The real master accepts them (``from_json`` too, as it does); the
    client and the embedded master refuse them at submit (``job_name``).
    """
    for i, c in enumerate(prefix):
        if c.isspace() or not c.isprintable():
            what = _NAMED_CHARACTERS.get(c, f"the character {c!r}")
            raise JobDictError(
                f"invalid prefix {prefix!r}: job names cannot hold {what} (position {i}); "
                f"they go unquoted into URLs and index files: use '_' instead"
            )
    return prefix


def job_name(prefix: str, now_seconds: float) -> str:
    """The master's job name ``prefix@<MegaSecs>:<Secs>:<MicroSecs>`` in lowercase hex."""
    if "/" in prefix or "." in prefix:
        raise JobDictError("invalid prefix")
    check_prefix(prefix)
    if now_seconds < 0:
        raise ValueError(f"a time before the epoch: {now_seconds}")
    # Through whole microseconds, as Erlang's now() counts them.
    micros = round(now_seconds * 1_000_000)
    secs, micro = divmod(micros, 1_000_000)
    mega, sec = divmod(secs, 1_000_000)
    return f"{prefix}@{mega:x}:{sec:x}:{micro:x}"
