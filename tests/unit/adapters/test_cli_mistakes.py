"""The discoworker command meets a new user's mistakes with one clear line, not a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from discoworker.adapters.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_a_job_file_that_does_not_exist_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run_cli(capsys, "--data-dir", str(tmp_path), "run", "nonexistent.py")
    assert status == 1
    assert err == "discoworker: no job file nonexistent.py: not found\n"
    status, _, err = run_cli(capsys, "--data-dir", str(tmp_path), "run", "no_such_module")
    assert (status, err) == (1, "discoworker: no job file or module 'no_such_module'\n")


def test_a_job_file_that_fails_to_load_shows_its_own_lines_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nCOLUMNS = int('seven')\n")
    status, _, err = run_cli(capsys, "--data-dir", str(tmp_path), "run", str(bad))
    assert status == 1
    assert f'File "{bad}", line 2' in err and "COLUMNS = int('seven')" in err
    assert "ValueError: invalid literal" in err
    assert "importlib" not in err


@pytest.mark.parametrize("command", ["events", "results", "purge"])
def test_a_job_that_does_not_exist_is_one_line_and_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    status, out, err = run_cli(capsys, "--data-dir", str(tmp_path), command, "Nope@1:2:3")
    assert (status, out) == (1, "")
    assert err == "discoworker: no job Nope@1:2:3 on this master (`discoworker jobs` lists them)\n"


def test_data_dir_and_master_may_follow_the_subcommand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run_cli(capsys, "events", "Nope@1:2:3", "--data-dir", str(tmp_path))
    assert status == 1 and "no job Nope@1:2:3" in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    import discoworker

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"discoworker {discoworker.__version__}\n"


def test_a_reader_that_goes_away_ends_the_listing_quietly(tmp_path: Path) -> None:
    # `discoworker jobs | head -1`: the pipe closes after one line.
    code = (
        "import sys\n"
        "from discoworker.adapters import cli\n"
        "class Many:\n"
        "    def jobs(self):\n"
        "        return [(0.0, 'ready', f'Job@{i}') for i in range(200000)]\n"
        "cli._master = lambda args: Many()\n"
        "sys.exit(cli.main(['jobs']))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    status = proc.wait(timeout=60)
    assert b"ready" in first
    assert err == b""
    assert status == 141


PARAMS_JOB = '''
from discoworker.classic import Params

params = Params(factor=2, suffix="!")


def fun_map(line, params):
    for word in line.split():
        yield word + params.suffix, params.factor
'''


def test_p_reaches_params_of_a_file_of_functions_and_its_own_params_are_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = tmp_path / "scaled.py"
    job.write_text(PARAMS_JOB)
    data = str(tmp_path / "data")
    status, out, _ = run_cli(capsys, "--data-dir", data, "run", str(job), "-i", "raw://a b",
                             "-p", "factor=3", "-q")
    assert status == 0
    assert sorted(out.splitlines()) == ["a!\t3", "b!\t3"]
    status, out, _ = run_cli(capsys, "--data-dir", data, "run", str(job), "-i", "raw://a",
                             "-q")
    assert out.splitlines() == ["a!\t2"]


SCRIPT_JOB = '''
from discoworker.job import Job, result_iterator

def fun_map(line, params):
    for word in line.split():
        yield word, 1

job = Job(name="Script").run(input=["raw://x y x"], map=fun_map)
for word, count in result_iterator(job.wait()):
    print("script says", word, count)
'''


def test_a_file_that_runs_its_own_job_when_loaded_is_not_run_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT_JOB)
    data = str(tmp_path / "data")
    status, out, err = run_cli(capsys, "--data-dir", data, "run", str(script), "-q")
    assert status == 0
    assert sorted(out.splitlines()) == ["script says x 1", "script says x 1", "script says y 1"]
    assert "ran its own job when loaded (Script@" in err
    assert 'if __name__ == "__main__":' in err
    status, out, _ = run_cli(capsys, "--data-dir", data, "jobs")
    assert len(out.splitlines()) == 1
