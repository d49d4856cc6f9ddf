"""Decode the tagged values of golden/MANIFEST.json (see its ``value_encoding``)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from discoworker.errors import DataError


def untag(tagged: Any) -> Any:
    """Turn ``{"t": type, "v": ...}`` into the Python value the original produced."""
    t = tagged["t"]
    if t == "none":
        return None
    if t in ("bool", "int"):
        return tagged["v"]
    if t == "float":
        return float(tagged["v"])
    if t == "str":
        if "v" not in tagged:
            raise ValueError("long str given only by its hash: compare with tag_digest()")
        return tagged["v"]
    if t == "bytes":
        if "b64" not in tagged:
            raise ValueError("long bytes given only by its hash: compare with tag_digest()")
        return base64.b64decode(tagged["b64"])
    if t == "tuple":
        return tuple(untag(x) for x in tagged["v"])
    if t == "list":
        return [untag(x) for x in tagged["v"]]
    if t == "dict":
        return {untag(k): untag(v) for k, v in tagged["v"]}
    raise ValueError(f"unknown tag {t!r}")


def tag(value: Any) -> Any:
    """The inverse of :func:`untag`, with long str/bytes given by length and sha256."""
    if value is None:
        return {"t": "none"}
    if isinstance(value, bool):
        return {"t": "bool", "v": value}
    if isinstance(value, int):
        return {"t": "int", "v": value}
    if isinstance(value, float):
        return {"t": "float", "v": repr(value)}
    if isinstance(value, str):
        if len(value) > 4096:
            digest = hashlib.sha256(value.encode("utf-8")).hexdigest()
            return {"t": "str", "len": len(value), "sha256_utf8": digest}
        return {"t": "str", "v": value}
    if isinstance(value, bytes):
        if len(value) > 4096:
            return {"t": "bytes", "len": len(value), "sha256": hashlib.sha256(value).hexdigest()}
        return {"t": "bytes", "b64": base64.b64encode(value).decode()}
    if isinstance(value, tuple):
        return {"t": "tuple", "v": [tag(x) for x in value]}
    if isinstance(value, list):
        return {"t": "list", "v": [tag(x) for x in value]}
    if isinstance(value, dict):
        return {"t": "dict", "v": [[tag(k), tag(v)] for k, v in value.items()]}
    raise TypeError(f"cannot tag {type(value).__name__}")


def records_sha256(records: list[tuple[Any, Any]]) -> str:
    """The manifest's ``records_sha256`` of a list of (key, value) records."""
    tagged = [[tag(k), tag(v)] for k, v in records]
    text = json.dumps(tagged, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def attempt(run: Iterable[Any]) -> tuple[list[Any], BaseException | None]:
    """What a reader yielded before it ended or raised, and what it raised."""
    out: list[Any] = []
    try:
        for item in run:
            out.append(item)
    except Exception as exc:
        return out, exc
    return out, None


#: The original's exception types, as the manifest names them, mapped onto ours.
OUR_ERRORS: dict[str, type[BaseException]] = {
    "disco.error.DataError": DataError,
    "builtins.ValueError": ValueError,
    "builtins.TypeError": TypeError,
}


def assert_raised(got: BaseException | None, expected: dict[str, Any] | None) -> None:
    """``got`` is the manifest's exception: its type mapped onto ours, the same text."""
    if expected is None:
        assert got is None, repr(got)
        return
    assert type(got) is OUR_ERRORS[expected["type"]], repr(got)
    assert str(got) == expected["str"]
