"""What Disco jobs take for granted on the node: the classic worker's globals, the modules
of their Job subclass and base classes, a FileIO for local task data."""

from __future__ import annotations

import importlib
import io
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from discoworker.adapters.embedded import EmbeddedMaster
from discoworker.app.job_globals import PROVIDED_NAMES, give_globals, job_globals
from discoworker.job import Job, JobChain, result_iterator
from discoworker.task_io import chain_reader

pytestmark = pytest.mark.slow


@pytest.fixture
def master(tmp_path: Path) -> EmbeddedMaster:
    return EmbeddedMaster(tmp_path / "data", workers=2)


@pytest.fixture
def user_code(tmp_path: Path) -> Iterator[Path]:
    """A directory of the user's own modules, on this process's path only (not the node's)."""
    root = tmp_path / "user"
    root.mkdir()
    sys.path.insert(0, str(root))
    before = set(sys.modules)
    yield root
    sys.path.remove(str(root))
    for name in set(sys.modules) - before:
        del sys.modules[name]


def fun_globals(e: Any, params: Any) -> Any:
    # As Disco jobs are written: no imports, the worker provides these names.
    put("seen", str(this_name()).encode())  # type: ignore[name-defined]  # noqa: F821
    yield Task.host, math.ceil(1.5)  # type: ignore[name-defined]  # noqa: F821


def test_job_functions_see_the_workers_names_and_the_required_modules(
    master: EmbeddedMaster,
) -> None:
    job = Job(master=master).run(input=["raw://x"], map=fun_globals, required_modules=["math"])
    assert list(result_iterator(job.wait())) == [("localhost", 2)]
    assert job.oob_get("seen") == job.name.encode()


def test_the_provided_names_are_what_the_node_gives() -> None:
    assert sorted(job_globals(None)) == sorted(PROVIDED_NAMES)
    namespace: dict[str, Any] = {}
    function = types.FunctionType(compile("0", "<job>", "eval"), namespace)
    give_globals([function], job_globals(None), ["os.path"])
    # A module is imported only where its name is missing: the second is already there.
    namespace_before = {"no_such_module_is_needed": 1}
    other = types.FunctionType(compile("0", "<job>", "eval"), namespace_before)
    give_globals([other], {}, ["no_such_module_is_needed"])
    assert sorted(namespace) == sorted([*PROVIDED_NAMES, "path"])
    assert namespace_before["no_such_module_is_needed"] == 1


def fun_helper(e: Any, params: Any) -> Any:
    yield e, helper.double(2)  # type: ignore[name-defined]  # noqa: F821


def test_modules_of_functions_defined_on_a_job_subclass_travel(
    master: EmbeddedMaster, user_code: Path
) -> None:
    (user_code / "helper.py").write_text("def double(x):\n    return 2 * x\n")
    globals()["helper"] = importlib.import_module("helper")
    try:

        class MyJob(Job):
            map = staticmethod(fun_helper)

        job = MyJob(master=master).run(input=["raw://x"])
        assert list(result_iterator(job.wait())) == [("x", 4)]
    finally:
        del globals()["helper"]


def test_a_base_class_from_the_users_package_travels_by_value(
    master: EmbeddedMaster, user_code: Path
) -> None:
    (user_code / "mypkg").mkdir()
    (user_code / "mypkg" / "__init__.py").write_text("")
    (user_code / "mypkg" / "base.py").write_text(textwrap.dedent("""
        from discoworker.job import Job

        class BaseJob(Job):
            partitions = 1

            @staticmethod
            def map(e, params):
                yield e, 1
    """))
    base = importlib.import_module("mypkg.base")

    class MyJob(base.BaseJob):  # type: ignore[name-defined,misc]
        @staticmethod
        def reduce(records: Any, params: Any) -> Any:
            yield "n", sum(1 for _ in records)

    job = MyJob(master=master).run(input=["raw://a", "raw://b"])
    assert list(result_iterator(job.wait())) == [("n", 2)]


class Words(Job):
    @staticmethod
    def map(e: Any, params: Any) -> Any:
        yield e, 1


class ReadsFileIO(Job):
    scheduler = {"force_local": True}  # noqa: RUF012 - the original's class-attribute style

    @staticmethod
    def map_reader(fd: Any, size: Any, url: str, params: Any) -> Any:
        # The original gave a reader of local task data the file itself, a FileIO.
        yield type(fd).__name__, isinstance(fd, io.FileIO)
        yield from chain_reader(fd, size, url, params)

    @staticmethod
    def map(record: Any, params: Any) -> Any:
        yield record


def test_a_map_reader_of_local_task_data_gets_a_fileio(master: EmbeddedMaster) -> None:
    first, second = Words(master=master), ReadsFileIO(master=master)
    JobChain({first: ["raw://w"], second: [first]}).wait(poll_interval=0.05)
    assert list(result_iterator(second.wait())) == [("FileIO", True), ("w", 1)]
