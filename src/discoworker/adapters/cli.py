"""The ``discoworker`` command: run a job, list jobs, read events and results, purge, serve.

    discoworker run wordcount.py --input a.txt --input b.txt -p partitions=2
    discoworker jobs | events JOB | results JOB | purge JOB
    discoworker master --port 8989 --data-dir D

``run`` takes a Python file or ``module:Name``. Name (default: the file's only ``Job``
subclass or instance) is a Job; a file without one but with ``map``/``reduce`` functions runs
them as a classic job. Jobs run on the embedded master unless ``DISCO_MASTER`` is set.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from discoworker.errors import DiscoError


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``discoworker`` command; the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.verbose:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    try:
        status: int = args.command(args)
    except DiscoError as exc:
        # One paragraph: what failed and why; a failed task's traceback is part of its reason.
        print(f"discoworker: {exc}", file=sys.stderr)
        return 1
    except KeyError as exc:
        print(f"discoworker: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="discoworker", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="the embedded master's data directory")
    parser.add_argument("--master", help="a Disco master's URL (default: DISCO_MASTER or embedded)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log every protocol exchange of the embedded master's tasks")
    sub = parser.add_subparsers(required=True)

    ddfs = sub.add_parser("ddfs", help="the master's DDFS: push, ls, cat, rm")
    ddfs_sub = ddfs.add_subparsers(required=True)
    push = ddfs_sub.add_parser("push", help="store files as blobs of a tag")
    push.add_argument("tag")
    push.add_argument("files", nargs="+")
    push.set_defaults(command=_ddfs_push)
    ls = ddfs_sub.add_parser("ls", help="list tags (with a prefix), or a tag's blobs")
    ls.add_argument("prefix", nargs="?", default="")
    ls.set_defaults(command=_ddfs_ls)
    cat = ddfs_sub.add_parser("cat", help="write a tag's blobs to standard output")
    cat.add_argument("tag")
    cat.set_defaults(command=_ddfs_cat)
    rm = ddfs_sub.add_parser("rm", help="delete tags")
    rm.add_argument("tags", nargs="+")
    rm.set_defaults(command=_ddfs_rm)

    run = sub.add_parser("run", help="run a job and print its results")
    run.add_argument("job", help="a Python file or module, optionally :Name of its Job")
    run.add_argument("-i", "--input", action="append", default=[], help="an input URL or file")
    run.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                     help="a job argument (VALUE read as a Python literal when it is one)")
    run.add_argument("-o", "--output", help="write results here instead of standard output")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    run.set_defaults(command=_run)

    for name, command, text in (
        ("jobs", _jobs, "list jobs, newest first"),
        ("events", _events, "print a job's events"),
        ("results", _results, "print a job's results as records"),
        ("purge", _purge, "delete a job and its data"),
    ):
        p = sub.add_parser(name, help=text)
        if name != "jobs":
            p.add_argument("jobname")
        p.set_defaults(command=command)

    serve = sub.add_parser("master", help="serve the embedded master's HTTP API on loopback")
    serve.add_argument("--port", type=int, default=8989, help="the port (0: a free one)")
    # SUPPRESS: given before the subcommand, the global --data-dir must not be reset here.
    serve.add_argument("--data-dir", default=argparse.SUPPRESS, help="the data directory")
    serve.add_argument("--workers", type=int, help="task processes at once (default: CPUs)")
    serve.set_defaults(command=_serve)
    return parser


def _master(args: argparse.Namespace) -> Any:
    from discoworker.app.bootstrap import master_for

    settings = {"data_dir": args.data_dir} if args.data_dir else {}
    return master_for(args.master, settings)


def _run(args: argparse.Namespace) -> int:
    from discoworker.app.job import result_iterator

    master = _master(args)
    job = _load_job(args.job)
    job._master = master
    jobargs: dict[str, Any] = dict(_param(p) for p in args.param)
    if isinstance(job, _ClassicFunctions):
        job, jobargs = job.as_job(master), {**job.jobargs, **jobargs}
    inputs = [_input_url(i) for i in args.input]
    if inputs:
        jobargs["input"] = inputs
    job.run(**jobargs)
    progress = None if args.quiet else _Progress(job, sys.stderr)
    try:
        results = job.wait()
    finally:
        if progress is not None:
            progress.stop()
    out: TextIO = open(args.output, "w") if args.output else sys.stdout  # noqa: SIM115
    try:
        for key, value in result_iterator(results, master=master):
            print(f"{key}\t{value}", file=out)
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def _jobs(args: argparse.Namespace) -> int:
    for started, status, name in _master(args).jobs():
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))
        print(f"{stamp}  {status:<8} {name}")
    return 0


def _events(args: argparse.Namespace) -> int:
    for event in _master(args).events(args.jobname):
        print(f"{event.time} {event.host:<10} {event.message}")
    return 0


def _results(args: argparse.Namespace) -> int:
    from discoworker.app.job import result_iterator

    master = _master(args)
    status = master.results(args.jobname, 0)
    if status.status != "ready":
        print(f"discoworker: job {args.jobname} is {status.status}", file=sys.stderr)
        return 1
    for key, value in result_iterator(status.results, master=master):
        print(f"{key}\t{value}")
    return 0


def _purge(args: argparse.Namespace) -> int:
    _master(args).purge(args.jobname)
    return 0


def _serve(args: argparse.Namespace) -> int:
    import logging
    import signal

    import structlog

    from discoworker.adapters.embedded.http_server import serve
    from discoworker.app.bootstrap import default_data_dir

    # One line per request is debugging detail, not what a user watching the master wants.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
    try:
        server = serve(data_dir, port=args.port, workers=args.workers)
    except OSError as exc:
        raise DiscoError(f"cannot serve on port {args.port}: {exc}") from None

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # A service manager stops with SIGTERM: end as on Ctrl-C, killing the jobs' workers.
    signal.signal(signal.SIGTERM, stop)
    print(f"discoworker master at {server.url} (data in {data_dir}); Ctrl-C stops it",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


def _ddfs_push(args: argparse.Namespace) -> int:
    ddfs = _master(args).ddfs
    for name in args.files:
        path = Path(name)
        if not path.is_file():
            raise DiscoError(f"cannot push {name}: not a file")
        with path.open("rb") as data:
            (first, *_rest) = ddfs.push(args.tag, path.name, data)
        print(first)
    return 0


def _ddfs_ls(args: argparse.Namespace) -> int:
    ddfs = _master(args).ddfs
    tags = getattr(ddfs, "tags", None)
    if tags is None:
        raise DiscoError("this DDFS cannot list its tags")
    for tag in sorted(t for t in tags() if t.startswith(args.prefix)):
        print(tag)
    return 0


def _ddfs_cat(args: argparse.Namespace) -> int:
    from discoworker.app.bootstrap import client_opener

    master = _master(args)
    open_url = client_opener(master)
    for replicas in master.ddfs.blobs(args.tag.removeprefix("tag://")):
        stream, _ = open_url(replicas[0])
        with stream:
            while chunk := stream.read(1 << 20):
                sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()
    return 0


def _ddfs_rm(args: argparse.Namespace) -> int:
    ddfs = _master(args).ddfs
    for tag in args.tags:
        ddfs.delete(tag.removeprefix("tag://"))
    return 0


def _param(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise DiscoError(f"a parameter is KEY=VALUE with KEY a Python name, not {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def _input_url(text: str) -> str:
    if "://" in text:
        return text
    path = Path(text)
    if not path.exists():
        raise DiscoError(f"input {text!r} is neither a URL nor an existing file")
    return f"file://{path.resolve()}"


class _ClassicFunctions:
    """A module with ``map``/``reduce`` functions but no Job: run them as a classic job."""

    def __init__(self, module: ModuleType) -> None:
        self.jobargs = {
            name: getattr(module, name)
            for name in ("map", "reduce", "combiner", "map_init", "reduce_init", "partition")
            if callable(getattr(module, name, None))
        }
        self.name = module.__name__.rsplit(".", 1)[-1]

    def as_job(self, master: Any) -> Any:
        from discoworker.app.job import Job

        return Job(name=self.name, master=master)


def _load_job(spec: str) -> Any:
    from discoworker.app.job import Job

    where, _, name = spec.partition(":") if not os.path.exists(spec) else (spec, "", "")
    if where.endswith(".py") or os.path.exists(where):
        path = Path(where).resolve()
        sys.path.insert(0, str(path.parent))
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        if module_spec is None or module_spec.loader is None:
            raise DiscoError(f"cannot load {where}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[path.stem] = module
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    if name:
        found = getattr(module, name, None)
        if found is None:
            raise DiscoError(f"{where} has no {name}")
        return found() if isinstance(found, type) else found
    jobs = [v for v in vars(module).values()
            if (isinstance(v, type) and issubclass(v, Job) and v is not Job)
            or isinstance(v, Job)]
    if len(jobs) == 1:
        return jobs[0]() if isinstance(jobs[0], type) else jobs[0]
    functions = _ClassicFunctions(module)
    if len(jobs) > 1:
        raise DiscoError(f"{where} defines several jobs; name one as {where}:Name")
    if not functions.jobargs:
        raise DiscoError(f"{where} defines no Job and no map/reduce functions")
    return functions


class _Progress:
    """One live line on a terminal: the job's stages, tasks done/running/failed, elapsed time."""

    def __init__(self, job: Any, out: TextIO, interval: float = 0.5) -> None:
        self._job, self._out, self._interval = job, out, interval
        self._start = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _line(self) -> str:
        info = self._job.jobinfo()
        stages = " | ".join(
            f"{s[0]} {s[4]}/{sum(s[1:5])} done, {s[3]} running, {s[5]} failed"
            for s in info.get("pipeline", [])
        )
        return f"{self._job.name}: {stages} [{time.monotonic() - self._start:.1f}s]"

    def _loop(self) -> None:
        while not self._done.wait(self._interval):
            self._show()

    def _show(self, end: str = "") -> None:
        try:
            line = self._line()
        except DiscoError:
            return
        if self._out.isatty():
            self._out.write(f"\r\x1b[K{line}{end}")
        elif end:
            self._out.write(f"{line}{end}")
        self._out.flush()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()
        self._show(end="\n")


if __name__ == "__main__":
    raise SystemExit(main())
