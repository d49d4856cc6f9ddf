"""The original Disco library's own client and workers on ``discoworker master``, on any port.

The original library is the one ``../shared/real-master/build.sh`` installs
(``$DISCO_REAL_MASTER/venv/bin/python``, default ``~/.cache/disco-real-master``). Its
``smoke.py`` (a word count with a shuffle) is run as a Disco user runs it against a cluster on
another port: ``DISCO_MASTER`` and ``DISCO_PORT`` name the master, and nothing else is set.
Skipped, saying why, when the library is not built; a live run (scripts/live-contract.sh, which
builds it first) fails instead.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.contract.conftest import LIVE

pytestmark = pytest.mark.slow

PREFIX = Path(os.environ.get("DISCO_REAL_MASTER") or Path.home() / ".cache" / "disco-real-master")
ORIGINAL_PYTHON = PREFIX / "venv" / "bin" / "python"
SMOKE = Path(__file__).resolve().parents[2].parent / "shared" / "real-master" / "smoke.py"


def _missing() -> str:
    for path, what in ((ORIGINAL_PYTHON, "the original library's Python"), (SMOKE, "smoke.py")):
        if not path.exists():
            return (f"{what} is not at {path}: build it with ../shared/real-master/build.sh "
                    "(or set DISCO_REAL_MASTER to its PREFIX)")
    return ""


def _clean_env() -> dict[str, str]:
    # Neither side may lean on this shell's Disco settings, venv or warning filter.
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("DISCO_", "DDFS_"))
            and k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONWARNINGS")}


def test_the_original_smoke_job_prints_equal_on_discoworker_master_off_port_8989(
    tmp_path: Path,
) -> None:
    if missing := _missing():
        if LIVE:
            pytest.fail(missing)
        pytest.skip(missing)
    out = tmp_path / "master.out"  # a file: a pipe nobody reads would stall its log
    with open(out, "w") as f:
        master = subprocess.Popen(
            [sys.executable, "-m", "discoworker.adapters.cli", "master", "--port", "0",
             "--data-dir", str(tmp_path / "data"), "--workers", "2"],
            stdout=f, stderr=subprocess.STDOUT, env=_clean_env(),
        )
    try:
        deadline = time.monotonic() + 60
        while not (match := re.search(r"http://localhost:(\d+)", out.read_text())):
            assert master.poll() is None and time.monotonic() < deadline, (
                f"discoworker master did not start: {out.read_text()[-2000:]}")
            time.sleep(0.05)
        port = match.group(1)
        assert port != "8989"
        env = {**_clean_env(), "DISCO_MASTER": match.group(0), "DISCO_PORT": port}
        done = subprocess.run(
            [str(ORIGINAL_PYTHON), "-W", "ignore", str(SMOKE)],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180, check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr[-4000:]
        assert "13 words, 11 distinct: EQUAL" in done.stdout, done.stdout
    finally:
        master.send_signal(signal.SIGTERM)
        try:
            master.wait(timeout=20)
        except subprocess.TimeoutExpired:
            master.kill()
            master.wait()
