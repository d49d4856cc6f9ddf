"""The ``discoworker`` command: run a job, list jobs, read events and results, purge, serve.

    discoworker run wordcount.py --input a.txt --input b.txt -p partitions=2
    discoworker jobs | events JOB | logs JOB [TASK] | results JOB | kill JOB | purge JOB
    discoworker master --port 8989 --data-dir D

``run`` takes a Python file or ``module:Name``. Name (default: the file's only ``Job``
subclass or instance) is a Job; a file without one but with ``map``/``reduce`` functions runs
them as a classic job. Jobs run on the embedded master unless ``DISCO_MASTER`` is set.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import importlib.util
import os
import sys
import time
from collections.abc import Iterator, Sequence
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
        sys.stdout.flush()
    except DiscoError as exc:
        # One paragraph: what failed and why; a failed task's traceback is part of its reason.
        print(f"discoworker: {exc}", file=sys.stderr)
        return 1
    except KeyError as exc:
        print(f"discoworker: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # The embedded master's exit hook stops the job's workers and records the kill.
        print("\ndiscoworker: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`discoworker jobs | head -1`): end quietly, as `ls | head`
        # does; stdout points at /dev/null so the interpreter's last flush cannot complain.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    return status


def _parser() -> argparse.ArgumentParser:
    from discoworker import __version__

    parser = argparse.ArgumentParser(prog="discoworker", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"discoworker {__version__}")
    _where_options(parser, None)
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log every protocol exchange of the embedded master's tasks")
    sub = parser.add_subparsers(required=True)

    ddfs = sub.add_parser("ddfs", help="the master's DDFS: push, chunk, ls, cat, rm")
    ddfs_sub = ddfs.add_subparsers(required=True)
    push = ddfs_sub.add_parser("push", help="store files as blobs of a tag")
    push.add_argument("tag")
    push.add_argument("files", nargs="+")
    push.set_defaults(command=_ddfs_push)
    chunk = ddfs_sub.add_parser(
        "chunk", help="store the lines of files or URLs as record chunks of a tag")
    chunk.add_argument("tag")
    chunk.add_argument("inputs", nargs="+", metavar="input",
                       help="a file, or a URL (a tag:// one: each of its blobs)")
    chunk.add_argument("-S", "--size", type=float, default=64.0, metavar="MB",
                       help="a chunk is cut once past this (default 64)")
    chunk.add_argument("-Z", "--max-record-size", type=float, default=1.0, metavar="MB",
                       help="a longer record (a line) is refused (default 1)")
    chunk.add_argument("-u", "--update", action="store_true",
                       help="leave out chunks whose names the tag has already")
    chunk.set_defaults(command=_ddfs_chunk)
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
                     help="a job argument (partitions=3, sort=True), else an attribute of the "
                          "job's params (VALUE read as a Python literal when it is one)")
    run.add_argument("-o", "--output", help="write results here instead of standard output")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    run.set_defaults(command=_run)

    for name, command, text in (
        ("jobs", _jobs, "list jobs, newest first"),
        ("events", _events, "print a job's events"),
        ("results", _results, "print a job's results as records"),
        ("kill", _kill, "stop a running job (its workers too)"),
        ("purge", _purge, "delete a job and its data"),
    ):
        p = sub.add_parser(name, help=text)
        if name != "jobs":
            p.add_argument("jobname")
        p.set_defaults(command=command)
        _where_options(p, argparse.SUPPRESS)
    _where_options(run, argparse.SUPPRESS)

    logs = sub.add_parser("logs", help="print what a job's tasks printed, task by task")
    logs.add_argument("jobname")
    logs.add_argument("task", nargs="?", help="one task (map:0) or stage (map)")
    logs.set_defaults(command=_logs)

    serve = sub.add_parser("master", help="serve the embedded master's HTTP API on loopback")
    serve.add_argument("--port", type=int, default=8989, help="the port (0: a free one)")
    # SUPPRESS: given before the subcommand, the global --data-dir must not be reset here.
    serve.add_argument("--data-dir", default=argparse.SUPPRESS, help="the data directory")
    serve.add_argument("--workers", type=int, help="task processes at once (default: CPUs)")
    serve.add_argument("--idle-timeout", type=float, default=30.0, metavar="SECONDS",
                       help="close a connection silent this long (default: 30)")
    serve.set_defaults(command=_serve)
    return parser


def _where_options(parser: argparse.ArgumentParser, default: Any) -> None:
    # Before or after the subcommand alike; SUPPRESS keeps a subcommand from resetting a
    # value given before it.
    parser.add_argument("--data-dir", default=default,
                        help="the embedded master's data directory")
    parser.add_argument("--master", default=default,
                        help="a Disco master's URL (default: DISCO_MASTER or embedded)")


def _known_job(master: Any, jobname: str) -> None:
    if master.results(jobname, 0).status == "unknown job":
        raise DiscoError(f"no job {jobname} on this master (`discoworker jobs` lists them)")


def _master(args: argparse.Namespace) -> Any:
    from discoworker.app.bootstrap import master_for

    settings = {"data_dir": args.data_dir} if args.data_dir else {}
    return master_for(args.master, settings)


def _run(args: argparse.Namespace) -> int:
    from discoworker.app.job import recording_runs, result_iterator

    master = _master(args)
    with recording_runs() as ran, _defaults_from(args):
        loaded = _load_job(args.job)
    if ran:
        return _ran_when_loaded(args.job, ran)
    given = [_param(p) for p in args.param]
    if isinstance(loaded, _ClassicFunctions):
        job, jobargs = loaded.as_job(master), dict(loaded.jobargs)
        params = loaded.params
    else:
        job, jobargs = loaded, {}
        params = getattr(job, "params", None)
    job._master = master
    known = job.worker.jobarg_names()
    jobargs.update((k, v) for k, v in given if k in known)
    extra = {k: v for k, v in given if k not in known}
    if extra:
        jobargs["params"] = _with_params(params, extra, args.job)
    elif params is not None and "params" in known:
        jobargs.setdefault("params", params)
    inputs = [_input_url(i) for i in args.input]
    if inputs:
        jobargs["input"] = inputs
    job.run(**jobargs)
    results = job.wait(show=not args.quiet)
    out: TextIO = open(args.output, "w") if args.output else sys.stdout  # noqa: SIM115
    try:
        for key, value in result_iterator(results, master=master):
            print(f"{key}\t{value}", file=out)
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


@contextlib.contextmanager
def _defaults_from(args: argparse.Namespace) -> Iterator[None]:
    # A job the file makes itself (`Job()`) runs where the command was told to run jobs.
    given = {"DISCOWORKER_DATA": args.data_dir and os.path.abspath(args.data_dir),
             "DISCO_MASTER": args.master}
    saved = {key: os.environ.get(key) for key in given}
    os.environ.update({key: value for key, value in given.items() if value})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _ran_when_loaded(where: str, ran: list[Any]) -> int:
    # The file runs its job at import (a script): running it again would be a second job.
    names = ", ".join(job.name for job in ran)
    print(
        f"discoworker: {where} ran its own job when loaded ({names}), so `run` did not run it "
        "again. To let `discoworker run` run it (with -i and -p), put the file's own run "
        'under `if __name__ == "__main__":`.',
        file=sys.stderr,
    )
    for job in ran:
        job.wait()
    return 0


def _with_params(params: Any, extra: dict[str, Any], where: str) -> Any:
    import copy

    from discoworker.app.params import Params

    params = Params() if params is None else copy.copy(params)
    for key, value in extra.items():
        try:
            setattr(params, key, value)
        except AttributeError:
            raise DiscoError(
                f"-p {key}=...: not a job argument, and {where}'s params "
                f"({type(params).__name__}) takes no attribute {key!r}"
            ) from None
    return params


def _jobs(args: argparse.Namespace) -> int:
    for started, status, name in _master(args).jobs():
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))
        print(f"{stamp}  {status:<8} {name}")
    return 0


def _events(args: argparse.Namespace) -> int:
    master = _master(args)
    _known_job(master, args.jobname)
    for event in master.events(args.jobname):
        print(f"{event.time} {event.host:<10} {event.message}")
    return 0


def _logs(args: argparse.Namespace) -> int:
    from discoworker.app.job import Job

    job = Job(name=args.jobname, master=_master(args))
    texts = job.logs(args.task)
    if not texts and args.task:
        raise DiscoError(f"no task {args.task!r} of job {args.jobname} printed anything")
    attempts = {t.task: t.attempt for t in texts}
    for text in texts:
        attempt = f" attempt {text.attempt}" if attempts[text.task] > 1 else ""
        source = "" if text.source == "events" else f" ({text.source})"
        print(f"== {text.task}{attempt}{source} ==")
        print(text.text)
    return 0


def _results(args: argparse.Namespace) -> int:
    from discoworker.app.job import result_iterator

    master = _master(args)
    _known_job(master, args.jobname)
    status = master.results(args.jobname, 0)
    if status.status != "ready":
        print(f"discoworker: job {args.jobname} is {status.status}", file=sys.stderr)
        return 1
    for key, value in result_iterator(status.results, master=master):
        print(f"{key}\t{value}")
    return 0


def _kill(args: argparse.Namespace) -> int:
    master = _master(args)
    _known_job(master, args.jobname)
    master.kill(args.jobname)
    return 0


def _purge(args: argparse.Namespace) -> int:
    master = _master(args)
    _known_job(master, args.jobname)
    master.purge(args.jobname)
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
        server = serve(data_dir, port=args.port, workers=args.workers,
                       idle_timeout=args.idle_timeout)
    except (OSError, ValueError) as exc:
        raise DiscoError(f"cannot serve on port {args.port}: {exc}") from None

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # A service manager stops with SIGTERM: end as on Ctrl-C, killing the jobs' workers.
    signal.signal(signal.SIGTERM, stop)
    print(f"discoworker master at {server.url} (data in {data_dir}); its pages at "
          f"{server.url}/ ; Ctrl-C stops it", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


def _ddfs_push(args: argparse.Namespace) -> int:
    ddfs = _master(args).ddfs
    blobs = []
    for name in args.files:
        path = Path(name)
        if not path.is_file():
            raise DiscoError(f"cannot push {name}: not a file")
        with path.open("rb") as data:
            blobs.append(ddfs.store(path.name, data))
    # One tag update for all the files, as DDFS's own `ddfs push`: they keep their order.
    ddfs.tag(args.tag, blobs)
    for replicas in blobs:
        print(replicas[0])
    return 0


def _ddfs_chunk(args: argparse.Namespace) -> int:
    from discoworker.app.chunking import chunk
    from discoworker.app.classic import input_url
    from discoworker.app.readers import bytes_line_reader
    from discoworker.app.results import result_iterator

    master = _master(args)
    inputs: list[list[str]] = []
    for text in args.inputs:
        url = input_url(_input_url(text))
        if url.startswith("tag://"):
            inputs.extend(master.ddfs.blobs(url.removeprefix("tag://")))
        else:
            inputs.append([url])
    blobs = chunk(
        master.ddfs, args.tag.removeprefix("tag://"), inputs,
        lambda replicas: result_iterator([replicas], bytes_line_reader, master=master),
        chunk_size=int(args.size * 1024**2), max_record_size=int(args.max_record_size * 1024**2),
        update=args.update,
    )
    for replicas in blobs:
        print("\t".join(replicas))
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
    if not Path(text).exists():
        raise DiscoError(f"input {text!r} is neither a URL nor an existing file")
    return text  # the job makes an existing file's path its file:// URL (classic.input_url)


class _ClassicFunctions:
    """A module with ``map``/``reduce`` functions but no Job: run them as a classic job."""

    def __init__(self, module: ModuleType) -> None:
        # `map` or Disco's own spelling, `fun_map`.
        self.jobargs = {}
        for name in ("map", "reduce", "combiner", "map_init", "reduce_init", "partition"):
            for spelling in (name, f"fun_{name}"):
                if callable(getattr(module, spelling, None)):
                    self.jobargs[name] = getattr(module, spelling)
                    break
        self.name = module.__name__.rsplit(".", 1)[-1]
        self.params = getattr(module, "params", None)

    def as_job(self, master: Any) -> Any:
        from discoworker.app.job import Job

        return Job(name=self.name, master=master)


def _load_job(spec: str) -> Any:
    from discoworker.app.job import Job

    where, _, name = spec.partition(":") if not os.path.exists(spec) else (spec, "", "")
    if where.endswith(".py") or os.path.exists(where):
        path = Path(where).resolve()
        if not path.is_file():
            what = "a directory" if path.exists() else "not found"
            raise DiscoError(f"no job file {where}: {what}")
        sys.path.insert(0, str(path.parent))
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        if module_spec is None or module_spec.loader is None:
            raise DiscoError(f"cannot load {where}: not a Python file")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[path.stem] = module
        try:
            module_spec.loader.exec_module(module)
        except DiscoError:
            raise
        except Exception as exc:
            raise DiscoError(f"{where} failed while loading:\n{_user_traceback(exc)}") from None
    else:
        try:
            module = importlib.import_module(where)
        except ModuleNotFoundError as exc:
            if exc.name != where.split(".")[0]:
                raise
            raise DiscoError(f"no job file or module {where!r}") from None
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


def _user_traceback(exc: BaseException) -> str:
    # The import machinery's own frames say nothing about the user's mistake.
    import traceback

    tb = traceback.TracebackException.from_exception(exc)
    tb.stack = traceback.StackSummary.from_list(
        [f for f in tb.stack if not f.filename.startswith("<frozen importlib")]
    )
    return "".join(tb.format()).rstrip()


if __name__ == "__main__":
    raise SystemExit(main())
