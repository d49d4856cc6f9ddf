"""DDFS as jobs use it, and out-of-band results, on the embedded master and a live one.

- files pushed into a tag are a job's ``tag://`` input;
- ``save_results`` puts a job's results into the tag ``disco:results:<jobname>`` (live: the
  original ``ddfs`` command lists it);
- job code's ``put(key, value)`` is read with ``Job.oob_get``/``oob_list`` (and by later tasks
  with ``get``), kept as a real master keeps them: blobs named after their keys in the tag
  ``disco:job:oob:<jobname>``; live, the original library reads ours and we read its.
"""

from __future__ import annotations

import io
import json
import subprocess
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from discoworker.adapters.master_http import HttpMaster
from discoworker.app.ports import Master
from discoworker.classic import get, put
from discoworker.job import Job, result_iterator
from tests.contract.conftest import LIVE
from tests.contract.test_jobs import TEXTS, counts_of, split_words, sum_counts, words_of
from tests.contract.test_live_interop import ORIGINAL_PYTHON, PREFIX, run_original

TIMEOUT = 120

live_only = pytest.mark.skipif(
    not LIVE, reason="no live Disco master: set DISCO_CONTRACT_MASTER=http://host:8989"
)


def is_live(master: Master) -> bool:
    """True for the live master (not the embedded one, nor the embedded one served over HTTP)."""
    return bool(LIVE) and isinstance(master, HttpMaster) and master.url == HttpMaster(LIVE).url


def fresh_tag(what: str) -> str:
    return f"contract:{what}:{uuid.uuid4().hex[:12]}"


# --- DDFS ---------------------------------------------------------------------------------------


def test_files_pushed_into_a_tag_are_a_jobs_tag_input(master: Master) -> None:
    tag = fresh_tag("words")
    for i, text in enumerate(TEXTS):
        replicas = master.ddfs.push(tag, f"words{i}.txt", io.BytesIO(text.encode("utf-8")))
        assert replicas and all(r.startswith("disco://") for r in replicas)
    assert len(master.ddfs.blobs(tag)) == len(TEXTS)
    try:
        job = Job(name="ContractTagInput", master=master).run(
            input=[f"tag://{tag}"], map=split_words, reduce=sum_counts, partitions=2, sort=True
        )
        assert counts_of(master, job.wait(timeout=TIMEOUT)) == words_of(TEXTS)
        job.purge()
    finally:
        master.ddfs.delete(tag)


def test_a_tag_lists_its_blobs_newest_first_as_ddfs_does(master: Master) -> None:
    # DDFS's merge_urls: a plain tag update is New ++ Old; an update without duplicates puts
    # each unseen blob in front in turn. Disco's test_ddfs and `ddfs cat` read that order.
    tag = fresh_tag("order")
    try:
        first = master.ddfs.push(tag, "first", io.BytesIO(b"1"))
        second = master.ddfs.push(tag, "second", io.BytesIO(b"2"))
        assert master.ddfs.blobs(tag) == [second, first]
        one = master.ddfs.store("one", io.BytesIO(b"x"))
        two = master.ddfs.store("two", io.BytesIO(b"y"))
        master.ddfs.tag(tag, [one, two])
        assert master.ddfs.blobs(tag) == [one, two, second, first]
        three = master.ddfs.store("three", io.BytesIO(b"z"))
        # The same blob twice, and one the tag has: each left out. (Not another blob of the
        # same name: the real DDFS reads a blob's name from its URL with a pattern that, on a
        # host of a two-letter name such as this machine's, takes in the folders too.)
        master.ddfs.tag(tag, [three, three, first], update=True)
        assert master.ddfs.blobs(tag) == [three, one, two, second, first]
    finally:
        master.ddfs.delete(tag)


def _run_saved(master: Master) -> tuple[Job, list[list[str]]]:
    job = Job(name="ContractSaved", master=master).run(
        input=["raw://one two two", "raw://three three three"],
        map=split_words,
        reduce=sum_counts,
        sort=True,
        save_results=True,
    )
    # A real master's long poll for results (get_results) does not wake when a save_results job
    # ends: it answers when its wait is over (Job.wait: 60 s). Polling without a wait finds the
    # job done in about two seconds.
    deadline = time.monotonic() + TIMEOUT
    while master.results(job.name, 0).status == "active" and time.monotonic() < deadline:
        time.sleep(0.2)
    return job, job.wait(timeout=TIMEOUT)


SAVED_WORDS = words_of(["one two two", "three three three"])


def test_save_results_puts_a_jobs_results_into_its_results_tag(master: Master) -> None:
    job, results = _run_saved(master)
    tag = f"disco:results:{job.name}"
    # The master answers with the tag instead of the results themselves ...
    assert results == [[f"tag://{tag}"]]
    # ... which holds them: read through the tag's blobs, they are the job's records.
    blobs = master.ddfs.blobs(tag)
    assert blobs
    assert counts_of(master, blobs) == SAVED_WORDS
    if is_live(master):
        # The original DDFS command line lists the tag and its blobs, as we see them.
        listed = _original_ddfs("ls", "disco:results:ContractSaved@")
        assert tag in listed.split()
        blob_urls = _original_ddfs("blobs", tag).split()
        assert sorted(blob_urls) == sorted(reps[0] for reps in blobs)
    job.purge()


def test_result_iterator_reads_a_save_results_job_through_its_tag(master: Master) -> None:
    job, results = _run_saved(master)
    try:
        assert counts_of(master, results) == SAVED_WORDS
    finally:
        job.purge()


def _original_ddfs(*args: str) -> str:
    ddfs = ORIGINAL_PYTHON.parent / "ddfs"
    if not ddfs.exists():
        pytest.fail(f"the original ddfs command is not at {ddfs}: build the real master")
    done = subprocess.run(
        [str(ORIGINAL_PYTHON), "-W", "ignore", str(ddfs), "-s", str(PREFIX / "settings.py"), *args],
        capture_output=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"ddfs {' '.join(args)} failed: {done.stderr.decode('utf-8', 'replace')}")
    return done.stdout.decode("utf-8")


# --- out-of-band results ------------------------------------------------------------------------


def map_and_put(line: bytes | str, params: Any) -> Iterator[tuple[str, int]]:
    text = line.decode("utf-8") if isinstance(line, bytes) else line
    first = text.split()[0]
    put(f"first_{first}", text.encode("utf-8"))
    yield from split_words(text, params)


def reduce_with_get(records: Iterable[tuple[str, int]], out: Any, params: Any) -> None:
    # A reduce reads what the maps put.
    for word, count in sum_counts(sorted(records), params):
        out.add(word, count)
    out.add("<alpha line>", get("first_alpha").decode("utf-8"))


OOB_LINES = ["alpha beta", "gamma delta delta"]


def test_put_in_job_code_is_read_with_oob_get_and_oob_list(master: Master) -> None:
    job = Job(name="ContractOOB", master=master).run(
        input=["raw://" + line for line in OOB_LINES],
        map=map_and_put,
        reduce=reduce_with_get,
    )
    records = list(result_iterator(job.wait(timeout=TIMEOUT), master=master))
    assert ("<alpha line>", "alpha beta") in records
    assert sorted(job.oob_list()) == ["first_alpha", "first_gamma"]
    assert job.oob_get("first_alpha") == b"alpha beta"
    assert job.oob_get("first_gamma") == b"gamma delta delta"
    with pytest.raises(KeyError):
        job.oob_get("first_zeta")
    # Kept as the real master keeps them: blobs named after their keys, in the job's OOB tag.
    blobs = master.ddfs.get(f"disco:job:oob:{job.name}")["urls"]
    assert sorted(reps[0].rsplit("/", 1)[-1].split("$")[0] for reps in blobs) == [
        "first_alpha",
        "first_gamma",
    ]
    job.purge()


def test_a_job_that_put_nothing_has_no_oob_results(master: Master) -> None:
    job = Job(name="ContractNoOOB", master=master).run(input=["raw://quiet"], map=split_words)
    job.wait(timeout=TIMEOUT)
    assert job.oob_list() == []
    with pytest.raises(KeyError):
        job.oob_get("anything")
    job.purge()


ORIGINAL_READS_OOB = """
import json, sys
from disco.core import Disco

disco, name = Disco(), sys.argv[1]
keys = sorted(disco.oob_list(name))
sys.stdout.write(json.dumps({"keys": keys,
                             "values": {k: disco.oob_get(name, k).decode() for k in keys}}))
"""


@live_only
def test_the_original_reads_our_oob_results(tmp_path: Path) -> None:
    live = HttpMaster(LIVE)
    job = Job(name="ContractOOBOurs", master=live).run(
        input=["raw://" + line for line in OOB_LINES], map=map_and_put
    )
    job.wait(timeout=TIMEOUT)
    theirs = json.loads(run_original(ORIGINAL_READS_OOB, job.name, tmp_path=tmp_path))
    assert theirs == {
        "keys": ["first_alpha", "first_gamma"],
        "values": {"first_alpha": "alpha beta", "first_gamma": "gamma delta delta"},
    }
    job.purge()


ORIGINAL_PUTS_OOB = """
import json, sys
from disco.core import Job
from disco.worker.classic.worker import put


def fun_map(line, params):
    put("line_" + line, line.upper().encode())
    yield line, 1


if __name__ == "__main__":
    job = Job(name="ContractOOBOriginal").run(input=["raw://alpha", "raw://beta"], map=fun_map)
    job.wait(timeout=100)
    sys.stdout.write(job.name)
"""


@pytest.fixture(scope="module")
def original_oob_job(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The name of a job the original library ran, whose map put ``line_alpha``, ``line_beta``."""
    name = run_original(ORIGINAL_PUTS_OOB, tmp_path=tmp_path_factory.mktemp("oob")).decode()
    yield name
    HttpMaster(LIVE).purge(name)


@live_only
def test_the_original_keeps_its_oob_results_in_a_tag_with_the_token_job(
    original_oob_job: str,
) -> None:
    # The original's DDFS client reads "user:token@" in a tag URL as credentials, and every
    # job name has an "@": its OOB tag "disco:job:oob:Name@..." is created with the token
    # "job" (read and write), and its own readers send that token too. The blobs are there
    # as ours are, named after their keys.
    import base64
    import urllib.error
    import urllib.request

    url = f"{HttpMaster(LIVE).url}/ddfs/tag/disco:job:oob:{original_oob_job}"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=30)
    assert refused.value.code == 401
    auth = "Basic " + base64.b64encode(b"token:job").decode()
    with urllib.request.urlopen(
        urllib.request.Request(url, headers={"Authorization": auth}), timeout=30
    ) as reply:
        tag = json.loads(reply.read())
    keys = sorted(reps[0].rsplit("/", 1)[-1].split("$")[0] for reps in tag["urls"])
    assert keys == ["line_alpha", "line_beta"]


@live_only
def test_we_read_the_oob_results_of_a_job_the_original_ran(original_oob_job: str) -> None:
    job = Job(name=original_oob_job, master=HttpMaster(LIVE))
    assert sorted(job.oob_list()) == ["line_alpha", "line_beta"]
    assert job.oob_get("line_alpha") == b"ALPHA"
    assert job.oob_get("line_beta") == b"BETA"


def test_oob_keys_are_checked_as_the_original_checks_them(master: Master) -> None:
    from discoworker.errors import DiscoError

    job = Job(name="ContractOOBKeys", master=master)
    with pytest.raises(DiscoError):
        job.oob_get("no spaces")


ORIGINAL_CHUNKS = """
import json, sys
from disco.core import result_iterator
from disco.ddfs import DDFS

ours, theirs, path = sys.argv[1:]
read = [r.decode() for r in result_iterator(["tag://" + ours])]
DDFS().chunk(theirs, ["./" + path], chunk_size=10 * 1024)
sys.stdout.write(json.dumps(read))
"""


@live_only
def test_chunks_read_both_ways_with_the_original(tmp_path: Path) -> None:
    # `ddfs chunk` data is Disco's record format in DDFS blobs: what either side chunked, the
    # other reads with its default reader.
    live = HttpMaster(LIVE)
    lines = [f"line {i}\n" for i in range(30_000)]
    text = tmp_path / "lines.txt"
    text.write_text("".join(lines))
    ours, theirs = fresh_tag("chunks-ours"), fresh_tag("chunks-theirs")
    try:
        from discoworker.app.chunking import chunk
        from discoworker.app.readers import bytes_line_reader

        blobs = chunk(live.ddfs, ours, [[text.as_uri()]],
                      lambda reps: result_iterator(reps, bytes_line_reader, master=live),
                      chunk_size=10 * 1024)
        assert len(blobs) > 1
        read = json.loads(run_original(ORIGINAL_CHUNKS, ours, theirs, text.name,
                                       tmp_path=tmp_path))
        assert read == lines
        assert len(live.ddfs.blobs(theirs)) > 1
        assert [r.decode() for r in result_iterator([f"tag://{theirs}"], master=live)] == lines
    finally:
        live.ddfs.delete(ours)
        live.ddfs.delete(theirs)
