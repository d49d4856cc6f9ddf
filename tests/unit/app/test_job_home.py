"""The job home's lib/: built once per content of the packages, kept in the user's cache."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from discoworker.app import worker as worker_module
from discoworker.app.classic import Worker
from discoworker.job import Job


def a_map(line: str, params: Any) -> Iterator[tuple[str, int]]:
    yield line, 1


@pytest.fixture
def lib_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    where = tmp_path / "lib-cache"
    monkeypatch.setenv("DISCOWORKER_LIB_CACHE", str(where))
    worker_module._node_packages_zip.cache_clear()
    yield where
    worker_module._node_packages_zip.cache_clear()


def _home() -> bytes:
    return Worker().jobhome(Job(name="T"), input=["raw://a"], map=a_map)


def _contents(home: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(home)) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_the_lib_zip_is_kept_in_the_cache_and_the_job_home_is_whole(lib_cache: Path) -> None:
    home = _home()
    (cached,) = lib_cache.glob("*.zip")
    contents = _contents(home)
    # Every package file, the worker program, once each.
    assert dict(worker_module._node_packages()).items() <= contents.items()
    assert "discoworker_task.py" in contents
    with zipfile.ZipFile(io.BytesIO(home)) as z:
        names = z.namelist()
    assert len(names) == len(set(names))
    # A new process (cache cleared) reads it back and packs the same bytes.
    worker_module._node_packages_zip.cache_clear()
    assert _home() == home
    assert list(lib_cache.glob("*.zip")) == [cached]


def test_a_cached_lib_that_does_not_match_the_files_is_rebuilt(lib_cache: Path) -> None:
    home = _home()
    (cached,) = lib_cache.glob("*.zip")
    # Same names, one file's content changed: never shipped.
    tampered = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(cached.read_bytes())) as src, zipfile.ZipFile(
        tampered, "w"
    ) as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, b"raise SystemExit('tampered')\n" if info.filename.endswith(
                "discoworker/__init__.py") else data)
    cached.write_bytes(tampered.getvalue())
    worker_module._node_packages_zip.cache_clear()
    assert _home() == home
    cached.write_bytes(b"not a zip")
    worker_module._node_packages_zip.cache_clear()
    assert _home() == home


def test_a_discoworker_checkout_on_pythonpath_is_not_sent_as_the_users_modules(
    lib_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    import discoworker

    src = os.path.dirname(os.path.dirname(os.path.realpath(discoworker.__file__ or "")))
    monkeypatch.setenv("PYTHONPATH", src)
    required = Worker().find_required_modules(Job(name="T"), {"map": a_map})
    # lib/ has discoworker already: none of it is found (and read) as the job's own code.
    assert not [m for m in required if isinstance(m, tuple) and m[0].startswith("discoworker")]


def test_lib_zips_of_other_versions_unused_for_days_leave_when_a_new_one_is_made(
    lib_cache: Path,
) -> None:
    import os
    import time

    lib_cache.mkdir(parents=True)
    days = worker_module.LIB_ZIP_KEEP_DAYS
    old = lib_cache / ("0" * 64 + ".zip")
    recent = lib_cache / ("1" * 64 + ".zip")
    for path, age in ((old, days + 1), (recent, days - 1)):
        path.write_bytes(b"PK")
        stamp = time.time() - age * 86400
        os.utime(path, (stamp, stamp))
    _home()  # makes this version's zip
    kept = {p.name for p in lib_cache.glob("*.zip")}
    assert old.name not in kept and recent.name in kept and len(kept) == 2
