"""What Disco's own test suite builds on (``disco.test``): ``TestCase``, ``TestJob``, a server.

A ``TestCase`` with a ``serve(path)`` method gets an HTTP server for its inputs: the body of
``GET /<path>`` is what ``serve`` returns, and ``self.test_server.urls(inputs)`` names them.
"""

from __future__ import annotations

import signal
import threading
import unittest
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, HTTPServer
from itertools import zip_longest
from socketserver import ThreadingMixIn
from typing import Any

from disco.core import Disco, result_iterator
from disco.ddfs import DDFS
from disco.job import Job
from disco.settings import DiscoSettings
from disco.util import iterify

__all__ = ["FailedReply", "InterruptTest", "TestCase", "TestJob", "TestPipe", "TestServer"]


class FailedReply(Exception):
    """Raised by ``serve`` to answer a request with HTTP 500 (a failing replica)."""


class TestServer(ThreadingMixIn, HTTPServer):
    """A threaded HTTP server answering ``GET /<path>`` with ``serve(path)``."""

    allow_reuse_address = True
    daemon_threads = True

    @classmethod
    def create(cls, address: tuple[str, int], serve: Callable[[str], Any]) -> TestServer:
        """A server on ``address`` answering with ``serve``."""
        return cls(address, _handler(serve))

    @property
    def address(self) -> str:
        """``http://host:port`` of the server."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        """Serve in a background thread."""
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.shutdown()
        self.server_close()

    def urls(self, inputs: Iterable[Any]) -> list[list[str]]:
        """One replica list per input: each item of an input becomes ``<address>/<item>``."""
        return [[f"{self.address}/{item}" for item in iterify(i)] for i in inputs]


def _handler(serve: Callable[[str], Any]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            try:
                data = serve(self.path.strip("/"))
            except FailedReply as exc:
                self.send_error(500, str(exc))
                return
            body = data.encode("utf-8") if isinstance(data, str) else bytes(data or b"")
            self.send_response(200)
            self.send_header("Content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the suite's output stays readable

    return Handler


class InterruptTest(unittest.SkipTest):
    """The SIGINT handler of a running test: skips the test, once."""

    def __init__(self, test: TestCase) -> None:
        super().__init__("interrupted (SIGINT): the test is skipped")
        self.test = test

    def __call__(self, signum: int, frame: Any) -> None:
        if self.test.is_running:
            self.test.is_running = False
            raise self


class TestCase(unittest.TestCase):
    """A test of jobs: ``self.disco``, ``self.ddfs``, result checks, an input server."""

    settings = DiscoSettings()

    @property
    def ddfs(self) -> DDFS:
        """The master's DDFS."""
        return DDFS(settings=self.settings)

    @property
    def disco(self) -> Disco:
        """The master."""
        return Disco(settings=self.settings)

    @property
    def nodes(self) -> dict[str, int]:
        """Workers of each node that is not blacklisted."""
        return {host: int(info["max_workers"]) for host, info in self.disco.nodeinfo().items()
                if not info.get("blacklisted")}

    @property
    def num_workers(self) -> int:
        """Workers of all nodes."""
        return sum(int(info["max_workers"]) for info in self.disco.nodeinfo().values())

    @property
    def test_server_address(self) -> tuple[str, int]:
        """Where the input server listens (``DISCO_TEST_HOST``, ``DISCO_TEST_PORT``)."""
        return str(self.settings["DISCO_TEST_HOST"]), int(self.settings["DISCO_TEST_PORT"])

    def assertAllEqual(self, results: Iterable[Any], answers: Iterable[Any]) -> None:  # noqa: N802
        """Each result equals its answer, and there are as many of each."""
        for result, answer in zip_longest(results, answers):
            self.assertEqual(result, answer)

    def assertCommErrorCode(self, code: int, call: Callable[[], Any]) -> None:  # noqa: N802
        """``call()`` raises CommError with HTTP status ``code``."""
        from disco.error import CommError

        with self.assertRaises(CommError) as caught:
            call()
        self.assertEqual(code, caught.exception.code)

    def assertResults(self, job: Job, answers: Iterable[Any]) -> None:  # noqa: N802
        """The job's results, in order, are ``answers``."""
        self.assertAllEqual(self.results(job), answers)

    def results(self, job: Job, **kwargs: Any) -> Any:
        """The records of the job's results, once it has ended."""
        return result_iterator(job.wait(), **kwargs)

    def run(self, result: Any = None) -> Any:
        """Run the test; Ctrl-C (SIGINT) during it skips it ("Test interrupted"), as the
        original's suite does, so its tear-down still purges the job."""
        if threading.current_thread() is not threading.main_thread():
            return super().run(result)
        self.is_running = True
        before = signal.signal(signal.SIGINT, InterruptTest(self))
        try:
            return super().run(result)
        finally:
            self.is_running = False
            signal.signal(signal.SIGINT, before)

    def setUp(self) -> None:
        serve = getattr(self, "serve", None)
        if serve is not None:
            self.test_server = TestServer.create(self.test_server_address, serve)
            self.test_server.start()

    def tearDown(self) -> None:
        if hasattr(self, "serve"):
            self.test_server.stop()
        job = getattr(self, "job", None)
        if job is not None and self.settings["DISCO_TEST_PURGE"]:
            job.purge()


class TestJob(Job):
    """A job of the suite: profiled when ``DISCO_TEST_PROFILE`` is set."""

    @property
    def profile(self) -> bool:
        """Whether the job runs under cProfile."""
        return bool(self.settings["DISCO_TEST_PROFILE"])


class TestPipe(TestJob):
    """A job of the pipeline worker."""

    def __init__(self) -> None:
        from disco.worker.pipeline.worker import Worker

        super().__init__(worker=Worker())
