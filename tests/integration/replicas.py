"""One ``mlship serve`` process of a multi-replica test: started, awaited, killed or stopped;
and waiting for any ``mlship serve`` process to be ready."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

OBEY_WITHIN_S = 1.0
"""The issue's bound: every replica serves a rollback this long after the command returns."""


def wait_ready(
    url: str,
    proc: subprocess.Popen[Any],
    output: Callable[[], object],
    late: str,
    timeout: float = 120,
) -> None:
    """Poll ``url``/readyz until 200; fail with the server's ``output()`` if it exits first,
    or with ``late`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None, output()
        assert time.monotonic() < deadline, late
        time.sleep(0.2)


@dataclass
class Replica:
    """One ``mlship serve`` process; restarted on the same port and home (so the same spill)."""

    name: str
    port: int
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        """How nginx's ``$upstream_addr`` names this replica."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as sink:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mlship", "serve", "--port", str(self.port)],
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 120) -> None:
        assert self.proc is not None
        wait_ready(
            self.url,
            self.proc,
            lambda: self.log.read_text(errors="replace")[-3000:],
            f"{self.name} was not ready in {timeout} s",
            timeout,
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (a crash, an OOM kill)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        """A graceful stop (SIGTERM): the prediction log is flushed to the store."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            pytest.fail(f"{self.name} did not stop within 60 s of SIGTERM")

    def version(self, client: httpx.Client, key: str, row: dict[str, Any]) -> int:
        """The version this replica answers ``key`` with (asked directly, not through nginx)."""
        response = client.post(
            f"{self.url}/models/fraud/predict",
            json={"inputs": [row]},
            headers={"x-routing-key": key},
        )
        assert response.status_code == 200, (self.name, response.text)
        return int(response.json()["version"])
