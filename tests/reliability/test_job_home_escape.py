"""Nothing a job pack holds lands outside its job home, and a malformed zip is a JobPackError.

Job homes hold no symbolic links at all: the original client never stores one (``ZipFile.write``
follows links) and the real master's unzip writes each entry as a plain file; so every link
entry is refused, whatever it points at, before anything is written.
"""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest

from discoworker.adapters.embedded.store import Store, safe_unzip
from discoworker.errors import JobPackError

LINK = stat.S_IFLNK | 0o777


def _zip(entries: list[tuple[str, bytes, int]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            info.create_system = 3
            archive.writestr(info, data)
    return buffer.getvalue()


def _chain(depth: int, final: str, target: str) -> list[tuple[str, bytes, int]]:
    """``c1 -> .``, ``c1/c2 -> .``, ... and ``c1/.../cN/<final> -> <target>``."""
    entries = [
        ("/".join(f"c{i}" for i in range(1, n + 1)), b".", LINK) for n in range(1, depth + 1)
    ]
    path = "/".join(f"c{i}" for i in range(1, depth + 1))
    entries.append((f"{path}/{final}", target.encode(), LINK))
    return entries


def _files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


CHAINS = [
    _chain(4, "jobfile", "../../../../outside/owned"),
    _chain(4, "x", "../../../../outside/owned"),
    _chain(2, "x", "../../outside"),
    _chain(6, "deep", "../../../../../../outside/owned"),
    # Through a link already made, then a plain file written through it.
    [("d", b"../outside", LINK), ("d/owned", b"pwned", 0o100644)],
    [("c1", b".", LINK), ("c1/c1/c1/f", b"data", 0o100644)],
    # Links that stay inside are refused too: none is needed.
    [("a", b"b", LINK), ("b", b"x", 0o100644)],
    [("abs", b"/etc/passwd", LINK)],
]


@pytest.mark.parametrize("entries", CHAINS, ids=[f"chain{i}" for i in range(len(CHAINS))])
def test_link_chains_are_refused_and_nothing_is_written(
    tmp_path: Path, entries: list[tuple[str, bytes, int]]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "outside").mkdir()
    with pytest.raises(JobPackError, match="symbolic link"):
        safe_unzip(_zip(entries), home)
    assert _files_under(tmp_path / "outside") == set()
    assert _files_under(home) == set()


def test_the_served_masters_job_home_refuses_the_chain_and_writes_no_jobfile_outside(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "data")
    jobhome = _zip(_chain(4, "jobfile", "../../../../outside/owned"))
    with pytest.raises(JobPackError, match="symbolic link"):
        store.create_job_home("Job@1:2:3", b"PACK", jobhome, "worker")
    assert not store.job_home("Job@1:2:3").exists()
    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and p.read_bytes() == b"PACK"]
    assert leaked == []


@pytest.mark.parametrize("name", ["jobfile", ".jobhome", ".disco/map-0-1.results", "./jobfile"])
def test_names_the_master_writes_itself_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(JobPackError, match="keeps for itself"):
        safe_unzip(_zip([(name, b"x", 0o100644)]), tmp_path)


def test_a_plain_job_home_still_unpacks_with_its_modes(tmp_path: Path) -> None:
    data = _zip([("lib/a.py", b"x = 1\n", 0o100644), ("run", b"#!/bin/sh\n", 0o100755)])
    assert safe_unzip(data, tmp_path) == ["lib/a.py", "run"]
    assert (tmp_path / "lib" / "a.py").read_bytes() == b"x = 1\n"
    assert (tmp_path / "run").stat().st_mode & 0o111


def _damaged(kind: str) -> bytes:
    good = _zip([("lib/a.py", b"print('hello')\n" * 50, 0o100644)])
    local_size = good.index(b"PK\x01\x02")  # the central directory starts here
    data = bytearray(good)
    if kind == "method":  # compression method 99 in both headers
        data[8:10] = (99).to_bytes(2, "little")
        data[local_size + 10 : local_size + 12] = (99).to_bytes(2, "little")
    elif kind == "deflate":  # the deflate stream's bytes
        data[40:48] = b"\xff" * 8
    elif kind == "encrypted":  # the encryption flag
        data[6] |= 1
        data[local_size + 8] |= 1
    elif kind == "truncated-member":
        return bytes(_zip([("a", b"abc" * 1000, 0o100644)])[:60]) + good[local_size:]
    elif kind == "not-a-zip":
        return b"PK\x03\x04 not really"
    elif kind == "cut":
        return bytes(good[:-5])
    return bytes(data)


@pytest.mark.parametrize(
    "kind", ["method", "deflate", "encrypted", "truncated-member", "not-a-zip", "cut"]
)
def test_a_malformed_zip_is_a_jobpack_error_naming_what(tmp_path: Path, kind: str) -> None:
    with pytest.raises(JobPackError) as caught:
        safe_unzip(_damaged(kind), tmp_path)
    assert "jobhome" in str(caught.value)


def test_a_file_and_a_directory_of_one_name_is_a_jobpack_error(tmp_path: Path) -> None:
    data = _zip([("a", b"x", 0o100644), ("a/b", b"y", 0o100644)])
    with pytest.raises(JobPackError, match="'a/b'"):
        safe_unzip(data, tmp_path)
