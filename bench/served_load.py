"""Load on ``discoworker master``: concurrent GETs and idle connections, on loopback.

    python bench/served_load.py [--gets 1000] [--idle 300] [--idle-timeout 5] [--wait 30]

Starts ``discoworker master --port 0`` (this interpreter's discoworker) in a child process,
then prints how many of ``--gets`` simultaneous ``GET /disco/version`` are answered within
``--wait`` seconds and how long they took; then opens ``--idle`` connections that say nothing,
times a ``/disco/version`` meanwhile, and how long after the last was opened the master had
closed them all. ``--idle-timeout 0`` starts the master without the option (older versions).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import resource
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time

VERSION = b"GET /disco/version HTTP/1.1\r\nHost: localhost\r\n\r\n"


async def gets(port: int, count: int, wait: float) -> list[bool]:
    async def one() -> bool:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(VERSION)
            return (await reader.read()).startswith(b"HTTP/1.1 200 ")
        finally:
            writer.close()

    async def bounded() -> bool:
        try:
            return await asyncio.wait_for(one(), wait)
        except (OSError, TimeoutError):
            return False

    return await asyncio.gather(*(bounded() for _ in range(count)))


def version(port: int, wait: float) -> float | None:
    start = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
            s.sendall(VERSION)
            ok = s.recv(100).startswith(b"HTTP/1.1 200 ")
    except OSError:
        return None
    return time.monotonic() - start if ok else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gets", type=int, default=1000)
    parser.add_argument("--idle", type=int, default=300)
    parser.add_argument("--idle-timeout", type=float, default=5.0)
    parser.add_argument("--wait", type=float, default=30.0)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    extra = ["--idle-timeout", str(args.idle_timeout)] if args.idle_timeout else []
    with tempfile.TemporaryDirectory() as data:
        proc = subprocess.Popen(
            [sys.executable, "-m", "discoworker.adapters.cli", "master", "--port", "0",
             "--data-dir", data, "--workers", "1", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        try:
            assert proc.stdout is not None
            match = re.search(r"localhost:(\d+)", proc.stdout.readline())
            assert match, "the master did not start"
            port = int(match.group(1))
            start = time.monotonic()
            answered = sum(asyncio.run(gets(port, args.gets, args.wait)))
            print(f"{args.gets} concurrent GETs: {answered} answered "
                  f"in {time.monotonic() - start:.1f} s (each allowed {args.wait:g} s)")
            conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(args.idle)]
            opened = time.monotonic()
            took = version(port, args.wait)
            said = f"{took * 1000:.0f} ms" if took is not None else f"no answer in {args.wait:g} s"
            print(f"{args.idle} idle connections: /disco/version meanwhile: {said}")
            pending = set(conns)
            while pending and time.monotonic() - opened < args.wait + args.idle_timeout:
                ready, _, _ = select.select(list(pending), [], [], 0.2)
                for s in ready:
                    try:
                        if s.recv(1):
                            continue
                    except OSError:
                        pass
                    pending.discard(s)
            closed = len(conns) - len(pending)
            print(f"  closed by the master: {closed} of {args.idle}, the last "
                  f"{time.monotonic() - opened:.1f} s after the last was opened")
            for s in conns:
                s.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
