"""Every name of the seed pages is importable from the public modules, and documented."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

SEED_NAMES = {
    "discoworker": ["Worker", "Input", "SerialInput", "ParallelInput", "MergedInput", "Output",
                    "Params", "DataError", "FatalError", "ProtocolError", "JobPackError",
                    "JobDictError"],
    "discoworker.job": ["Job", "JobPack", "result_iterator"],
    "discoworker.task": ["Task"],
    "discoworker.modutil": ["find_modules", "locate_modules", "parse_function",
                            "ModUtilImportError"],
    "discoworker.task_io": ["InputStream", "OutputStream", "input_stream", "output_stream",
                            "task_input_stream", "task_output_stream", "disco_input_stream",
                            "disco_output_stream", "chain_reader", "gzip_reader",
                            "gzip_line_reader", "re_reader", "old_netstr_reader"],
    "discoworker.classic": ["Worker", "Params"],
    "discoworker.pipeline": ["Worker", "Stage"],
}


@pytest.mark.parametrize(("module", "name"),
                         [(m, n) for m, names in SEED_NAMES.items() for n in names])
def test_seed_name_is_public_and_documented(module: str, name: str) -> None:
    value = getattr(importlib.import_module(module), name)
    assert (value.__doc__ or "").strip(), f"{module}.{name} has no docstring"


def test_the_worker_methods_of_the_seed_exist() -> None:
    from discoworker import Worker

    for method in ("defaults", "getitem", "jobdict", "jobenvs", "jobhome", "jobzip", "input",
                   "output", "run", "main", "bin"):
        assert hasattr(Worker, method), method


def test_importing_discoworker_loads_no_layer_until_asked() -> None:
    # A task is a process: `import discoworker` must stay cheap.
    code = "import sys, discoworker; print(sorted(m for m in sys.modules if 'discoworker.' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
