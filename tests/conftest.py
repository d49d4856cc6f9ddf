"""Shared fixtures: where the golden vectors live (read in place, never edited); the user's
caches kept out of reach."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

GOLDEN = Path(__file__).resolve().parents[1].parent / "shared" / "golden"


@pytest.fixture(scope="session")
def golden() -> Path:
    """The folder of byte-exact vectors from the original implementation."""
    if not GOLDEN.is_dir():
        raise RuntimeError(f"no golden vectors at {GOLDEN}: put ../shared beside it")
    return GOLDEN


@pytest.fixture(scope="session")
def manifest(golden: Path) -> list[dict[str, Any]]:
    """The entries of golden/MANIFEST.json."""
    entries: list[dict[str, Any]] = json.loads((golden / "MANIFEST.json").read_text())["entries"]
    return entries


#: The user caches discoworker writes to (the client's lib zips, the masters' unpacked libs).
USER_CACHES = ("DISCOWORKER_LIB_CACHE", "DISCOWORKER_LIBS")


@pytest.fixture(scope="session", autouse=True)
def _caches_of_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The tests' caches are a temporary directory, never the user's ``~/.cache`` (set in
    the environment itself, so the processes tests start see them too)."""
    saved = {name: os.environ.get(name) for name in USER_CACHES}
    where = tmp_path_factory.mktemp("user-cache")
    for name in USER_CACHES:
        os.environ[name] = str(where / name.lower())
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
