"""The demo's processes: ``mlship serve`` as a child process on a free port, and a local webhook
receiver for the monitor's alerts."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

from mlship.demo.timeline import DemoFailed


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DemoServer:
    """``mlship serve --port PORT`` in a child process, its output in ``log``.

    The server serves every deployment in the store of ``environ`` and runs the canary
    controller (it re-reads deployments every 0.5 s and judges canaries every second).
    """

    def __init__(
        self, environ: dict[str, str], port: int, log: Path, options: Sequence[str] = ()
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.options = tuple(options)
        """More ``mlship serve`` options, e.g. ``("--no-batching",)``."""
        self._environ = environ
        self._process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server (returns at once; :meth:`wait_ready` waits for it)."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._output = open(self.log, "ab")
        command = [sys.executable, "-m", "mlship", "serve", "--port", str(self.port), *self.options]
        # A session of its own: Ctrl-C in the terminal reaches the demo, which then stops the
        # server with one SIGINT (a second one would make uvicorn quit without draining).
        self._process = subprocess.Popen(
            command,
            env=self._environ,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 120.0) -> dict[str, Any]:
        """Wait until ``/readyz`` answers 200; its JSON (the models served)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise DemoFailed(f"mlship serve exited during start-up; see {self.log}.")
            try:
                status, body = self.get("/readyz")
            except OSError:
                status, body = 0, b""
            if status == 200:
                found: dict[str, Any] = json.loads(body)
                return found
            time.sleep(0.2)
        raise DemoFailed(f"mlship serve was not ready within {timeout:.0f} s; see {self.log}.")

    def get(self, path: str) -> tuple[int, bytes]:
        """``GET path``: the status and the body."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop gracefully (SIGINT: uvicorn drains requests, the prediction log is flushed)."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT if os.name != "nt" else signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._output is not None:
            self._output.close()
            self._output = None

    def wait(self) -> None:
        """Block until the server exits."""
        if self._process is not None:
            self._process.wait()


class WebhookReceiver:
    """A local HTTP endpoint collecting the JSON bodies POSTed to it (the monitor's alerts)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    received.append(json.loads(self.rfile.read(length) or b"{}"))
                except ValueError:
                    received.append({})
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: the demo narrates what arrives

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/alerts"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="demo-webhook", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
