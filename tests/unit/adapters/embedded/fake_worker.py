"""A small worker program for the embedded master's tests: speaks the raw protocol.

Put in a job home as the job's worker (with a ``#!`` line for this Python). Per stage it maps
(``raw://a,b,c`` inputs to words, label ``len(word) % 2``), shuffles (``dir://`` inputs, per
label into one file) or reduces (word counts). ``behaviour.json`` in the job home may make a
stage misbehave: ``error``, ``error_first``, ``crash_first``, ``fatal``, ``garbage_first``,
``hang``, ``inputerr``, ``ping``, ``abs_output``, ``wait_go`` (wait for a file ``go`` in the
job home).
"""

import collections
import json
import os
import signal
import sys
import time

from discoworker.domain import protocol as p

_frames: list[p.Frame] = []
_decoder = p.FrameDecoder()


def send(message: p.WorkerMessage) -> None:
    os.write(2, p.encode(message))


def recv() -> p.MasterMessage:
    while not _frames:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            sys.exit(3)
        _frames.extend(_decoder.feed(chunk))
    return p.decode_master_message(_frames.pop(0))


def ask(message: p.WorkerMessage) -> p.MasterMessage:
    send(message)
    return recv()


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def local(url: str, disco_data: str) -> str:
    # disco://host/disco/<rest> and dir://host/disco/<rest> live at <disco_data>/<rest>.
    rest = url.split("://", 1)[1].split("/", 1)[1]
    assert rest.startswith("disco/"), url
    return os.path.join(disco_data, rest[len("disco/") :])


def attempt(task: p.TaskReply) -> int:
    # Counts this task's runs in the job home, so a behaviour can change on a retry.
    path = f".attempt-{task.task.stage}-{task.task.taskid}"
    n = int(read(path)) + 1 if os.path.exists(path) else 1
    with open(path, "w") as f:
        f.write(str(n))
    return n


def main() -> None:
    behaviours = json.loads(read("behaviour.json")) if os.path.exists("behaviour.json") else {}
    stage_env = os.environ.get("FAKE_BEHAVIOUR", "")
    if stage_env == "hang":
        time.sleep(60)
    ask(p.WorkerHello(os.getpid()))
    reply = ask(p.TaskRequest())
    assert isinstance(reply, p.TaskReply)
    task = reply.task
    n = attempt(reply)
    how = behaviours.get(task.stage, "ok")
    while how == "wait_go" and not os.path.exists("go"):
        time.sleep(0.02)
    if how == "ping":
        pong = ask(p.Ping())
        ask(p.Message(f"ping said {pong.value}"))  # type: ignore[union-attr]
    if how == "error" or (how == "error_first" and n == 1):
        send(p.TaskError("transient trouble"))
        time.sleep(60)
    if how == "fatal":
        send(p.TaskFatal("Traceback: ValueError: deliberate fatal"))
        time.sleep(60)
    if how == "garbage_first" and n == 1:
        os.write(2, b"this is not a protocol message\n")
        time.sleep(60)
    if how == "hang_mid" and n == 1:
        os.write(2, b'MSG 5 "x"\n')
        time.sleep(60)

    inputs: list[tuple[int, object, str]] = []
    flag = "more"
    seen: list[int] = []
    while flag == "more":
        got = ask(p.InputRequest("exclude", tuple(seen)))
        assert isinstance(got, p.InputReply)
        flag = got.flag
        for item in got.inputs:
            seen.append(item.id)
            if how == "inputerr" and len(item.replicas) > 1:
                r1 = ask(p.InputError(item.id, (item.replicas[0].id,)))
                r2 = ask(p.InputError(item.id, tuple(r.id for r in item.replicas)))
                ask(p.Message(f"replies {p.encode(r1)!r} {p.encode(r2)!r}"))
                inputs.append((item.id, item.label, item.replicas[1].url))
            else:
                inputs.append((item.id, item.label, item.replicas[0].url))

    taskdir = f"{task.stage}-{task.taskid}-{os.getpid()}"
    os.makedirs(taskdir)
    outputs: dict[int, list[str]] = collections.defaultdict(list)
    if task.stage == "map":
        for _id, _label, url in inputs:
            for word in url.split("://", 1)[1].split(","):
                outputs[len(word) % 2].append(word)
    elif task.stage in ("map_shuffle", "reduce_shuffle"):
        for _id, label, url in inputs:
            for line in read(local(url, task.disco_data)).splitlines():
                lab, durl, _size = line.split()
                if label == "all" or int(lab) == label:
                    outputs[int(lab)].extend(read(local(durl, task.disco_data)).split())
    else:
        counts: collections.Counter[str] = collections.Counter()
        for _id, label, url in inputs:
            if url.startswith("dir://"):
                for line in read(local(url, task.disco_data)).splitlines():
                    lab, durl, _size = line.split()
                    if label == "all" or int(lab) == label:
                        for w in read(local(durl, task.disco_data)).split():
                            word, _, c = w.partition("=")
                            counts[word] += int(c or 1)
            else:
                counts.update(url.split("://", 1)[1].split(","))
        outputs[0] = [f"{w}={c}" for w, c in sorted(counts.items())]

    for label, words in sorted(outputs.items()):
        path = f"{taskdir}/out-{label}"
        data = "".join(w + "\n" for w in words).encode()
        if how == "crash_first" and n == 1:
            data = b"bogus=1000\n"
        with open(path, "wb") as f:
            f.write(data)
        location = os.path.abspath(path) if how == "abs_output" else path
        ask(p.OutputReport(label, location, len(data)))
        if how == "crash_first" and n == 1:
            # An output reported, then gone: the retry's outputs alone may be read.
            os.kill(os.getpid(), signal.SIGKILL)
    send(p.Done())
    time.sleep(60)


main()
