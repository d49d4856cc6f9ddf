"""A job home's lib/, unpacked once per content in the user's cache for every data dir."""

from __future__ import annotations

import io
import os
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from discoworker.adapters.embedded import EmbeddedMaster
from discoworker.adapters.embedded.store import LIB_KEEP_DAYS, LIB_MARKER, Store

LIB_FILES = {"lib/pkg/__init__.py": b"VALUE = 1\n", "lib/pkg/mod.py": b"X = 2\n",
             "lib/single.py": b"Y = 3\n"}


def jobhome(extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("w.py", f"#!{sys.executable}\n")
        for name, data in {**LIB_FILES, **(extra or {})}.items():
            z.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "user-cache" / "discoworker-libs"
    monkeypatch.setenv("DISCOWORKER_LIBS", str(where))
    return where


@pytest.fixture
def masters(tmp_path: Path, cache: Path) -> Iterator[list[EmbeddedMaster]]:
    made = [EmbeddedMaster(tmp_path / f"data{i}", workers=1) for i in range(2)]
    yield made
    for m in made:
        m.shutdown()


def new_home(store: Store, name: str, home: bytes | None = None) -> Path:
    return store.create_job_home(name, b"jobpack", home or jobhome(), "w.py")


def test_two_data_dirs_share_one_lib_in_the_users_cache(
    masters: list[EmbeddedMaster], cache: Path
) -> None:
    first = new_home(masters[0].store, "A")
    second = new_home(masters[1].store, "B")
    assert (first / "lib").is_symlink() and (second / "lib").is_symlink()
    shared = (first / "lib").resolve()
    assert shared == (second / "lib").resolve()
    assert shared.parent == cache.resolve()
    assert (second / "lib" / "pkg" / "mod.py").read_bytes() == b"X = 2\n"
    assert not (masters[1].store.root / ".master" / "libs").exists()


def test_a_new_data_dirs_master_finds_the_lib_used_last_to_warm(
    masters: list[EmbeddedMaster], tmp_path: Path
) -> None:
    assert masters[1].store.recent_lib() is None
    home = new_home(masters[0].store, "A")
    fresh = EmbeddedMaster(tmp_path / "never-used", workers=1)
    try:
        recent = fresh.store.recent_lib()
        assert recent is not None and recent.resolve() == (home / "lib").resolve()
    finally:
        fresh.shutdown()


def test_a_cache_that_cannot_be_written_leaves_the_lib_in_the_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")  # a cache dir beneath a file: made by no one, root or not
    master = EmbeddedMaster(tmp_path / "data", workers=1, libs_dir=blocker / "libs")
    try:
        home = new_home(master.store, "A")
        shared = (home / "lib").resolve()
        assert shared.parent == (tmp_path / "data" / ".master" / "libs").resolve()
        assert (home / "lib" / "single.py").read_bytes() == b"Y = 3\n"
        assert master.store.recent_lib() == shared
        # The next job finds it there too.
        assert (new_home(master.store, "B") / "lib").resolve() == shared
    finally:
        master.shutdown()


@pytest.mark.parametrize("lost", [LIB_MARKER, "pkg/mod.py"])
def test_a_cached_lib_missing_a_file_is_made_again(tmp_path: Path, cache: Path, lost: str) -> None:
    store = Store(tmp_path / "data", libs=cache)
    shared = (new_home(store, "A") / "lib").resolve()
    (shared / lost).unlink()  # someone cleaning the cache, cut short
    home = new_home(Store(tmp_path / "other", libs=cache), "B")
    assert (home / "lib").resolve() == shared
    assert (shared / LIB_MARKER).is_file()
    for name, data in LIB_FILES.items():
        assert (home / name).read_bytes() == data
    assert [e.name for e in cache.iterdir()] == [shared.name]  # nothing left beside it


def test_a_lib_missing_its_marker_is_not_warmed(tmp_path: Path, cache: Path) -> None:
    store = Store(tmp_path / "data", libs=cache)
    shared = (new_home(store, "A") / "lib").resolve()
    (shared / LIB_MARKER).unlink()
    assert Store(tmp_path / "other", libs=cache).recent_lib() is None


def test_masters_of_many_data_dirs_making_one_lib_at_once_all_get_it_whole(
    tmp_path: Path, cache: Path
) -> None:
    home = jobhome({"lib/big.py": os.urandom(1 << 20)})
    homes: dict[int, Path] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def make(i: int) -> None:
        try:
            start.wait()
            homes[i] = new_home(Store(tmp_path / f"data{i}", libs=cache), f"J{i}", home)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=make, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    (shared,) = {(h / "lib").resolve() for h in homes.values()}
    assert [e.name for e in cache.iterdir()] == [shared.name]
    for name, data in LIB_FILES.items():
        assert (shared / name.removeprefix("lib/")).read_bytes() == data
    assert (shared / "big.py").stat().st_size == 1 << 20
    assert (shared / "single.py").stat().st_mode & 0o222 == 0


def _age(path: Path, days: float) -> None:
    then = time.time() - days * 86400
    os.utime(path, (then, then))


def test_copies_unused_for_days_leave_the_cache_and_the_data_dir_and_one_used_again_stays(
    tmp_path: Path, cache: Path
) -> None:
    store = Store(tmp_path / "data", libs=cache)
    used = (new_home(store, "A") / "lib").resolve()
    _age(used, LIB_KEEP_DAYS + 1)
    new_home(store, "B")  # used again: its age renewed
    stale = cache / ("0" * 64)
    made_before_the_cache = store.own_libs / ("1" * 64)
    for old in (stale, made_before_the_cache):
        (old / "pkg").mkdir(parents=True)
        (old / "pkg" / "m.py").write_bytes(b"")
        (old / "pkg" / "m.py").chmod(0o444)
        _age(old, LIB_KEEP_DAYS + 1)
    new_home(store, "C", jobhome({"lib/other.py": b""}))  # a new copy: the old ones go
    assert not stale.exists() and not made_before_the_cache.exists()
    assert (used / "single.py").read_bytes() == b"Y = 3\n"
