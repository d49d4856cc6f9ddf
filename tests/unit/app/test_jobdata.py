"""Job code travels by value and still fails like local code: file, line and source line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from discoworker.app.jobdata import dumps_jobdata

MODULE = '''\
def fun_map(line, params):
    words = line.split()
    return words[len(words)]
'''

NODE = '''\
import sys, traceback
from discoworker.app.jobdata import loads_jobdata
job, jobargs = loads_jobdata(open(sys.argv[1], "rb").read())
try:
    job("a b", None)
except IndexError:
    traceback.print_exc()
'''


def test_a_traceback_on_a_node_without_the_file_shows_the_clients_file_line_and_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "client" / "wordjob.py"
    source.parent.mkdir()
    source.write_text(MODULE)
    monkeypatch.syspath_prepend(str(source.parent))
    import wordjob  # type: ignore[import-not-found]

    try:
        data = dumps_jobdata(wordjob.fun_map, {}, by_value=["wordjob"])
    finally:
        del sys.modules["wordjob"]
    source.unlink()  # the node has no such file
    jobdata = tmp_path / "jobdata"
    jobdata.write_bytes(data)

    node = subprocess.run([sys.executable, "-c", NODE, str(jobdata)], capture_output=True,
                          text=True, cwd=tmp_path, check=True)

    assert (f'  File "{source}", line 3, in fun_map\n'
            "    return words[len(words)]\n") in node.stderr, node.stderr
    assert "<dynamic-code>" not in node.stderr


def test_a_lambda_of_a_file_carries_its_line_too(tmp_path: Path) -> None:
    job = lambda line, params: 1 / 0  # noqa: E731 - the lambda is the point
    data = dumps_jobdata(job, {})
    jobdata = tmp_path / "jobdata"
    jobdata.write_bytes(data)
    node = NODE.replace("except IndexError", "except ZeroDivisionError")

    done = subprocess.run([sys.executable, "-c", node, str(jobdata)], capture_output=True,
                          text=True, cwd=tmp_path, check=True)

    assert f'File "{__file__}", line' in done.stderr
    assert "job = lambda line, params: 1 / 0" in done.stderr
