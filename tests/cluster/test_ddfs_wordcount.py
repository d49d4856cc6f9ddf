"""DDFS across nodes: replicas on two different nodes, maps where their input is, and reduces
reading the shuffle from other nodes over HTTP; the word count exact."""

from __future__ import annotations

import collections
import io
import itertools
import socket
import urllib.parse
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from discoworker.adapters.ddfs_http import HttpDdfs
from discoworker.adapters.master_http import HttpMaster
from discoworker.classic import this_host, this_inputs
from discoworker.job import Job, result_iterator
from tests.cluster.conftest import needs_cluster, purge_checked

pytestmark = needs_cluster

TIMEOUT = 240
#: Keys of the records a task writes about itself, beside the words it counts.
WHERE = "@"


def blob_text(i: int) -> str:
    """The text of blob ``i``: its own marker word, then words shared by every blob."""
    lines = [f"blob{i} " + " ".join(f"w{(i * 7 + j) % 13}" for j in range(40)) for _ in range(5)]
    return "\n".join(lines) + "\nstraße café\n"


def host_of(url: str) -> str:
    return urllib.parse.urlsplit(url).hostname or ""


def map_where(line: str, params: Any) -> Iterator[tuple[str, Any]]:
    words = line.split()
    for word in words:
        yield word, 1
    if words and words[0].startswith("blob"):
        # Where this map ran (by the master's word and by the machine's own name), and the
        # hosts of its input's replicas.
        hosts = sorted({urllib.parse.urlsplit(r).hostname or "" for i in this_inputs() for r in i})
        yield f"{WHERE}map {words[0]}", " ".join([this_host(), socket.gethostname(), *hosts])


def reduce_where(records: Iterable[tuple[str, Any]], params: Any) -> Iterator[tuple[str, Any]]:
    for key, group in itertools.groupby(records, key=lambda r: r[0]):
        values = [v for _, v in group]
        if key.startswith(WHERE):
            yield key, sorted(set(values))
        else:
            yield key, sum(values)
    hosts = sorted({urllib.parse.urlsplit(r).hostname or "" for i in this_inputs() for r in i})
    yield f"{WHERE}reduce", " ".join([this_host(), socket.gethostname(), *hosts])


def test_a_word_count_over_a_tag_with_two_replicas_per_blob(
    cluster: HttpMaster, nodes: list[str]
) -> None:
    ddfs = HttpDdfs(cluster.url, replicas=2)
    tag = f"cluster:words:{uuid.uuid4().hex[:12]}"
    texts = [blob_text(i) for i in range(9)]
    try:
        placed = [
            ddfs.push(tag, f"part{i}.txt", io.BytesIO(t.encode())) for i, t in enumerate(texts)
        ]
        # Each blob: two replicas, on two different nodes of the cluster; all nodes used.
        for replicas in placed:
            assert len(replicas) == 2
            assert len({host_of(r) for r in replicas}) == 2
            assert {host_of(r) for r in replicas} <= set(nodes)
        assert cluster.ddfs.blobs(tag) and len(cluster.ddfs.blobs(tag)) == len(texts)

        job = Job(name="ClusterTagCount", master=cluster).run(
            input=[f"tag://{tag}"], map=map_where, reduce=reduce_where, partitions=3, sort=True
        )
        results = job.wait(timeout=TIMEOUT)
        records = list(result_iterator(results, master=cluster))
        counts = collections.Counter({k: v for k, v in records if not k.startswith(WHERE)})
        assert counts == collections.Counter(w for t in texts for w in t.split())

        # Every map ran on a node holding a replica of its input, and that node is the machine
        # it ran on (its own hostname, in its own namespace or box).
        maps = {k: v for k, v in records if k.startswith(f"{WHERE}map ")}
        assert len(maps) == len(texts)
        for key, runs in maps.items():
            for run in runs:
                master_host, machine, *input_hosts = run.split()
                assert master_host == machine, key
                assert master_host in input_hosts, (key, runs)
        # Three reduces; each read inputs from nodes other than its own over HTTP (no node
        # sees another's disk), and the shuffle came from more than one node.
        reduces = [v.split() for k, v in records if k == f"{WHERE}reduce"]
        assert len(reduces) == 3
        assert all(host == machine for host, machine, *_ in reduces)
        assert all(set(inputs) - {host} for host, _, *inputs in reduces), reduces
        assert len({h for _, _, *inputs in reduces for h in inputs}) >= 2
        purge_checked(cluster, job.name)
    finally:
        ddfs.delete(tag)


def map_read(line: str, params: Any) -> Iterator[tuple[str, str]]:
    yield this_host(), line


def test_a_map_reads_the_replica_on_its_own_node_whichever_comes_first(
    cluster: HttpMaster, nodes: list[str]
) -> None:
    # Two blobs of different texts, each on two nodes; then a tag whose inputs are each one
    # replica of the first and one of the second, on two different nodes, in both orders. A
    # map reads the text of the replica on the node it runs on, never the other one's.
    ddfs = HttpDdfs(cluster.url, replicas=2)
    scratch = f"cluster:scratch:{uuid.uuid4().hex[:12]}"
    tag = f"cluster:local:{uuid.uuid4().hex[:12]}"
    try:
        first = ddfs.push(scratch, "first.txt", io.BytesIO(b"first"))
        second = ddfs.push(scratch, "second.txt", io.BytesIO(b"second"))
        a, b = next((x, y) for x in first for y in second if host_of(x) != host_of(y))
        text = {a: "first", b: "second"}
        inputs = [[a, b], [b, a]] * 3
        ddfs.tag(tag, inputs)
        job = Job(name="ClusterLocalReplica", master=cluster).run(
            input=[f"tag://{tag}"], map=map_read
        )
        read = list(result_iterator(job.wait(timeout=TIMEOUT), master=cluster))
        assert len(read) == len(inputs)
        by_host = {host_of(a): text[a], host_of(b): text[b]}
        assert all(by_host[host] == line for host, line in read), (by_host, read)
        purge_checked(cluster, job.name)
    finally:
        for t in (tag, scratch):
            ddfs.delete(t)
