"""Shared fixtures: where the golden vectors live (read in place, never edited)."""

from __future__ import annotations

import json
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
