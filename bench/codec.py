"""Speed of the internal record format beside the bare pickle + zlib loops, in one run.

Encodes and decodes 1,000,000 ``(word, 1)`` records with discoworker's codec and with the
bare loops of reference/baselines.md, interleaved over several rounds, and prints records/s,
MB/s (of raw pickles) and the ratios codec / bare (below 1.00 is faster than bare). Also
checks that the codec's bytes equal those framed from the bare loop's hunks.

    python bench/codec.py [--records N] [--rounds R]
"""

from __future__ import annotations

import argparse
import io
import pickle
import random
import statistics
import string
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from discoworker.domain.records import DiscoOutputStream, disco_input_stream

MiB = 1024 * 1024
_HEADER = struct.Struct("<BBIQ")


def make_records(count: int, seed: int = 42) -> list[tuple[str, int]]:
    """``count`` records ``(word, 1)``: words of 2-10 letters drawn Zipf-like from 20,000."""
    rng = random.Random(seed)
    vocabulary = [
        "".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 10))) for _ in range(20_000)
    ]
    weights = [1.0 / rank for rank in range(1, len(vocabulary) + 1)]
    return [(word, 1) for word in rng.choices(vocabulary, weights, k=count)]


def bare_encode(records: list[tuple[str, int]]) -> list[tuple[bytes, bytes]]:
    """pickle.dumps(rec, 1) per record, zlib.compress(level 2) per hunk of just over 1 MiB."""
    dumps = pickle.dumps
    compress = zlib.compress
    hunks: list[tuple[bytes, bytes]] = []
    parts: list[bytes] = []
    size = 0
    for record in records:
        data = dumps(record, 1)
        parts.append(data)
        size += len(data)
        if size > MiB:
            raw = b"".join(parts)
            hunks.append((raw, compress(raw, 2)))
            parts = []
            size = 0
    raw = b"".join(parts)
    hunks.append((raw, compress(raw, 2)))
    return hunks


def frame(hunks: list[tuple[bytes, bytes]]) -> bytes:
    """The internal-format file holding the bare loop's hunks and the end marker."""
    out = [_HEADER.pack(0x81, 1, zlib.crc32(raw), len(payload)) + payload for raw, payload in hunks]
    end = zlib.compress(b"", 2)
    out.append(_HEADER.pack(0x81, 1, 0, len(end)) + end)
    return b"".join(out)


def codec_encode_append(records: list[tuple[str, int]]) -> bytes:
    """discoworker: ``append`` per record, then ``close``."""
    buffer = io.BytesIO()
    stream = DiscoOutputStream(buffer)
    append = stream.append
    for record in records:
        append(record)
    stream.close()
    return buffer.getvalue()


def codec_encode_add(records: list[tuple[str, int]]) -> bytes:
    """discoworker: ``add(key, value)`` per record (what a task's output does), then close."""
    buffer = io.BytesIO()
    stream = DiscoOutputStream(buffer)
    add = stream.add
    for key, value in records:
        add(key, value)
    stream.close()
    return buffer.getvalue()


def codec_encode_extend(records: list[tuple[str, int]]) -> bytes:
    """discoworker: one ``extend`` of all records, then ``close``."""
    buffer = io.BytesIO()
    stream = DiscoOutputStream(buffer)
    stream.extend(records)
    stream.close()
    return buffer.getvalue()


def payloads(encoded: bytes) -> list[bytes]:
    """The compressed payloads of an internal-format file (end marker excluded)."""
    out: list[bytes] = []
    offset = 0
    while offset < len(encoded):
        _, _, _, length = _HEADER.unpack_from(encoded, offset)
        offset += _HEADER.size
        if not length:
            break
        payload = encoded[offset : offset + length]
        if not zlib.decompress(payload):
            break
        out.append(payload)
        offset += length
    return out


def bare_decode(hunks: list[bytes]) -> int:
    """zlib.decompress per hunk, pickle.load per record."""
    load = pickle.load
    count = 0
    for payload in hunks:
        stream = io.BytesIO(zlib.decompress(payload))
        while True:
            try:
                load(stream)
            except EOFError:
                break
            count += 1
    return count


def codec_decode(encoded: bytes) -> int:
    """discoworker: iterate ``disco_input_stream`` over the file's bytes."""
    count = 0
    for _ in disco_input_stream(io.BytesIO(encoded), len(encoded), "bench://codec"):
        count += 1
    return count


def timed(function: Callable[[], Any]) -> float:
    """Seconds one call takes."""
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def check(records: list[tuple[str, int]]) -> tuple[bytes, list[bytes], int]:
    """The encoded file (all ways byte-identical to the framed bare loop) and its payloads."""
    expected = frame(bare_encode(records))
    for encode in (codec_encode_append, codec_encode_add, codec_encode_extend):
        if encode(records) != expected:
            raise SystemExit(f"{encode.__name__}: bytes differ from the framed bare loop")
    decoded: Iterator[Any] = disco_input_stream(io.BytesIO(expected), None, "bench://check")
    if list(decoded) != records:
        raise SystemExit("decoded records differ from the records encoded")
    raw_size = sum(len(pickle.dumps(record, 1)) for record in records)
    return expected, payloads(expected), raw_size


def main() -> None:
    """Run the rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    records = make_records(args.records)
    encoded, hunks, raw_size = check(records)
    count = len(records)
    runs: dict[str, Callable[[], Any]] = {
        "encode bare (dumps + compress)": lambda: bare_encode(records),
        "encode codec append": lambda: codec_encode_append(records),
        "encode codec add": lambda: codec_encode_add(records),
        "encode codec extend": lambda: codec_encode_extend(records),
        "decode bare (decompress + load)": lambda: bare_decode(hunks),
        "decode codec disco_input_stream": lambda: codec_decode(encoded),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, function in runs.items():  # interleaved: noise hits all alike
            times[name].append(timed(function))
    print(
        f"{count:,} records, {raw_size / 1e6:.2f} MB of pickles, "
        f"{len(encoded) / 1e6:.2f} MB encoded, {args.rounds} rounds"
    )
    print(f"{'path':34} {'best s':>7} {'median':>7} {'M rec/s':>8} {'MB/s':>7} {'ratio':>12}")
    for name, samples in times.items():
        best, median = min(samples), statistics.median(samples)
        bare = "encode bare (dumps + compress)" if name.startswith("encode") else None
        bare = bare or "decode bare (decompress + load)"
        ratio = ""
        if name != bare:
            ratio_best = best / min(times[bare])
            ratio_median = median / statistics.median(times[bare])
            ratio = f"{ratio_best:.2f}/{ratio_median:.2f}"
        print(
            f"{name:34} {best:7.3f} {median:7.3f} {count / best / 1e6:8.2f} "
            f"{raw_size / best / 1e6:7.1f} {ratio:>12}"
        )
    print("ratio = codec / bare time, best/median; MB/s of raw pickles at the best time")


if __name__ == "__main__":
    main()
