"""Data both ways between discoworker and the original library, through a real Disco master.

The original library is the one ``../shared/real-master/build.sh`` installs beside the master
(``$DISCO_REAL_MASTER/venv/bin/python``, default ``~/.cache/disco-real-master``); each test runs
it in a subprocess with a tiny script. Its worker cannot read ``file://`` inputs at this build,
so its own jobs read ``raw://`` ASCII inputs without spaces.

Runs only against a live master (``DISCO_CONTRACT_MASTER``); a live run without the original
library fails, saying where it looked.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from discoworker.adapters.master_http import HttpMaster
from discoworker.classic import sum_combiner
from discoworker.domain.jobdict import jobdict_from_json
from discoworker.errors import JobDictError
from discoworker.job import Job, JobPack, result_iterator
from discoworker.pipeline import Stage
from discoworker.pipeline import Worker as PipelineWorker
from tests.contract.conftest import LIVE
from tests.contract.test_jobs import TEXTS, split_words, sum_counts, words_of, write_inputs

pytestmark = pytest.mark.skipif(
    not LIVE,
    reason="no live Disco master: set DISCO_CONTRACT_MASTER=http://host:8989 "
    "(scripts/live-contract.sh builds, starts and stops one)",
)

PREFIX = Path(os.environ.get("DISCO_REAL_MASTER") or Path.home() / ".cache" / "disco-real-master")
ORIGINAL_PYTHON = PREFIX / "venv" / "bin" / "python"
TIMEOUT = 180


def run_original(
    script: str, *args: str, tmp_path: Path, master: str = LIVE, timeout: float = TIMEOUT
) -> bytes:
    """Run ``script`` with the original library's Python (warnings off) against ``master``;
    its stdout."""
    if not ORIGINAL_PYTHON.exists():
        pytest.fail(
            f"the original library's Python is not at {ORIGINAL_PYTHON}: build the real master "
            "(../shared/real-master/build.sh) or set DISCO_REAL_MASTER to its PREFIX"
        )
    path = tmp_path / f"original_{hashlib.md5(script.encode()).hexdigest()[:8]}.py"
    path.write_text(script, encoding="utf-8")
    env = {**os.environ, "DISCO_MASTER": master, "PYTHONWARNINGS": "ignore"}
    # The original reads its settings from its own venv; ours must not leak into it.
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "DISCO_SETTINGS_FILE"):
        env.pop(name, None)
    done = subprocess.run(
        [str(ORIGINAL_PYTHON), "-W", "ignore", str(path), *args],
        capture_output=True,
        env=env,
        cwd=tmp_path,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"the original library's script failed (exit {done.returncode}):\n"
            + done.stderr.decode("utf-8", "replace")[-4000:]
        )
    return done.stdout


@pytest.fixture(scope="module")
def live() -> HttpMaster:
    return HttpMaster(LIVE)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- results: the original reads ours -------------------------------------------------------

READ_RESULTS = """
import json, sys
from disco.core import result_iterator
records = [[key, value] for key, value in result_iterator(json.loads(sys.argv[1]))]
sys.stdout.write(json.dumps(records))
"""


def test_the_original_result_iterator_reads_our_job_results(
    live: HttpMaster, tmp_path: Path
) -> None:
    job = Job(name="InteropOurs", master=live).run(
        input=write_inputs(tmp_path),
        map=split_words,
        reduce=sum_counts,
        combiner=sum_combiner,
        partitions=3,
        sort=True,
    )
    results = job.wait(timeout=TIMEOUT)
    ours = list(result_iterator(results, master=live))
    theirs = json.loads(run_original(READ_RESULTS, json.dumps(results), tmp_path=tmp_path))
    # The same records, in the same order (the original unpickles what our worker wrote: str
    # keys, int counts; json.dumps in the script would fail on anything else but those).
    assert [tuple(r) for r in theirs] == ours
    assert collections.Counter(dict(ours)) == words_of(TEXTS)
    job.purge()


# --- results: we read the original's --------------------------------------------------------

ORIGINAL_WORD_COUNT = """
import json, sys
from disco.core import Job
from disco.worker.classic.func import sum_combiner


def fun_map(line, params):
    for word in line.split(","):
        yield word, 1


def fun_reduce(iter, params):
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


if __name__ == "__main__":
    lines = json.loads(sys.argv[1])
    job = Job(name="InteropOriginal").run(input=["raw://" + line for line in lines],
                                          map=fun_map, reduce=fun_reduce, partitions=2,
                                          combiner=sum_combiner)
    results = job.wait(timeout=150)
    sys.stdout.write(json.dumps({"name": job.name, "results": results}))
"""

# raw:// inputs the original can run: ASCII, no spaces (words separated by commas), and short:
# the original names a map's task directory after its input's "host", the start of the data,
# so a long first word makes a file name too long and the task fails for ever.
ORIGINAL_LINES = ["the,quick,brown,fox", "jumps,over,the,lazy,dog", "the,end", "z," + "y" * 200]


def test_our_result_iterator_reads_the_results_of_a_job_the_original_ran(
    live: HttpMaster, tmp_path: Path
) -> None:
    out = json.loads(
        run_original(ORIGINAL_WORD_COUNT, json.dumps(ORIGINAL_LINES), tmp_path=tmp_path)
    )
    assert out["results"], "the original's job gave no results"
    got: collections.Counter[str] = collections.Counter()
    for word, count in result_iterator(out["results"], master=live):
        got[word.decode() if isinstance(word, bytes) else word] += count
    assert got == collections.Counter(w for line in ORIGINAL_LINES for w in line.split(","))
    live.purge(out["name"])


# --- job packs both ways ----------------------------------------------------------------------

LOAD_PACK = """
import hashlib, json, struct, sys
from disco.job import JobPack

sha = lambda data: hashlib.sha256(data).hexdigest()
with open(sys.argv[1], "rb") as f:
    pack = JobPack.load(f)
    fields = {"jobdict": pack.jobdict, "jobenvs": pack.jobenvs,
              "jobhome": sha(pack.jobhome), "jobdata": sha(pack.jobdata)}
    f.seek(0)
    version = struct.unpack("!I", f.read(4))[0] & 0xFFFF
    again = JobPack(version, pack.jobdict, pack.jobenvs, pack.jobhome, pack.jobdata).dumps()
fields["version"] = version
fields["redumped"] = sha(again)
sys.stdout.write(json.dumps(fields))
"""


def _classic_pack(job: Job) -> JobPack:
    return job.worker.jobpack(
        job,
        input=["raw://a,b", ["raw://c", "raw://c"]],
        map=split_words,
        reduce=sum_counts,
        combiner=sum_combiner,
        partitions=2,
        sort=True,
        params={"n": 1},
    )


def _split(interface: Any, state: Any, label: int, inp: Iterable[Any]) -> None:
    for line in inp:
        interface.output(0).add(line, 1)


def _pipeline_pack(job: Job) -> JobPack:
    return job.worker.jobpack(job, input=["raw://a,b"])


@pytest.mark.parametrize("kind", ["classic", "pipeline"])
def test_a_job_pack_made_by_discoworker_loads_with_the_original_with_equal_fields(
    live: HttpMaster, tmp_path: Path, kind: str
) -> None:
    if kind == "classic":
        pack = _classic_pack(Job(name="InteropPack", master=live))
    else:
        worker = PipelineWorker(pipeline=[("split", Stage("map", process=_split))])
        pack = _pipeline_pack(Job(name="InteropPipePack", master=live, worker=worker))
    data = pack.dumps()
    path = tmp_path / "ours.pack"
    path.write_bytes(data)
    theirs = json.loads(run_original(LOAD_PACK, str(path), tmp_path=tmp_path))
    assert theirs["version"] == pack.version == (1 if kind == "classic" else 2)
    assert theirs["jobdict"] == dict(pack.jobdict)
    assert theirs["jobenvs"] == dict(pack.jobenvs)
    assert theirs["jobhome"] == sha(pack.jobhome)
    assert theirs["jobdata"] == sha(pack.jobdata)
    # The original, dumping what it loaded, gives our bytes back exactly.
    assert theirs["redumped"] == sha(data)


MAKE_PACK = """
import hashlib, json, sys
from disco import task
from disco.job import Job, JobPack
from disco.worker.classic.func import sum_combiner
from disco.worker.pipeline.worker import Stage, Worker as PipelineWorker


def fun_map(line, params):
    for word in line.split(","):
        yield word, 1


def split(interface, state, label, inp):
    for line in inp:
        interface.output(0).add(line, 1)


if __name__ == "__main__":
    if sys.argv[2] == "classic":
        job = Job(name="OriginalPack")
        jobargs = dict(input=json.loads(sys.argv[3]), map=fun_map,
                       combiner=sum_combiner, partitions=2, params={"n": 1})
    else:
        job = Job(name="OriginalPipePack",
                  worker=PipelineWorker(pipeline=[("split", Stage("map", process=split))]))
        jobargs = dict(input=json.loads(sys.argv[3]))
    w = job.worker
    # What Job.run submits, without submitting it.
    pack = JobPack(w.jobpack_version, w.jobdict(job, **jobargs), w.jobenvs(job, **jobargs),
                   w.jobhome(job, **jobargs), task.jobdata(job, jobargs))
    data = pack.dumps()
    with open(sys.argv[1], "wb") as f:
        f.write(data)
    sha = lambda data: hashlib.sha256(data).hexdigest()
    sys.stdout.write(json.dumps({"version": w.jobpack_version, "jobdict": pack.jobdict,
                                 "jobenvs": pack.jobenvs, "jobhome": sha(pack.jobhome),
                                 "jobdata": sha(pack.jobdata)}))
"""


@pytest.mark.parametrize(
    ("kind", "inputs"),
    [
        ("classic", ["raw://a,b", ["raw://c", "raw://c"]]),
        # The original's pipeline worker wants each input as a list of replicas.
        ("pipeline", [["raw://a,b"], ["raw://c", "raw://c"]]),
    ],
)
def test_a_job_pack_made_by_the_original_loads_with_ours_with_equal_fields(
    tmp_path: Path, kind: str, inputs: list[Any]
) -> None:
    path = tmp_path / "original.pack"
    theirs = json.loads(
        run_original(MAKE_PACK, str(path), kind, json.dumps(inputs), tmp_path=tmp_path)
    )
    data = path.read_bytes()
    with open(path, "rb") as f:
        pack = JobPack.load(f)
    assert pack.version == theirs["version"] == (1 if kind == "classic" else 2)
    assert dict(pack.jobdict) == theirs["jobdict"]
    assert dict(pack.jobenvs) == theirs["jobenvs"]
    assert sha(pack.jobhome) == theirs["jobhome"]
    assert sha(pack.jobdata) == theirs["jobdata"]
    assert pack.dumps() == data
    # And its jobdict passes the master's validation as discoworker applies it.
    jobdict_from_json(pack.version, pack.jobdict)


def test_a_pack_of_the_original_that_the_real_master_refuses_ours_refuses_alike(
    live: HttpMaster, tmp_path: Path
) -> None:
    # The original's pipeline worker writes a bare URL input as [0, 0, "raw://..."], which
    # is no list of replicas: the real master refuses the job, and discoworker says the same.
    path = tmp_path / "original.pack"
    run_original(MAKE_PACK, str(path), "pipeline", json.dumps(["raw://a,b"]), tmp_path=tmp_path)
    data = path.read_bytes()
    with pytest.raises(JobDictError) as real:
        live.submit(data)
    assert "invalid_job_inputs" in str(real.value)
    pack = JobPack.loads(data)
    with pytest.raises(JobDictError) as ours:
        jobdict_from_json(pack.version, pack.jobdict)
    assert str(ours.value) in str(real.value)
