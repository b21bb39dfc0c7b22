"""Faults under load, for the tests and for ``bench/faults_bench.py``: a small real file system
that fills up, a private PostgreSQL server to restart, a real ``mlship serve`` process, and
clients that send a unique ``X-Request-ID`` each and remember which were answered."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

PG_BIN = Path("/usr/lib/postgresql")


class Unavailable(Exception):
    """The machine cannot provide this fault (not root, no PostgreSQL binaries)."""


# ----------------------------------------------------------------------------- a small disk


@contextlib.contextmanager
def small_disk(path: Path, size_mb: int) -> Iterator[Path]:
    """A tmpfs of ``size_mb`` MB mounted at ``path`` (root only), unmounted afterwards."""
    if os.geteuid() != 0:
        raise Unavailable("mounting a small file system needs root")
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise Unavailable(f"mount -t tmpfs failed: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(folder: Path) -> Path:
    """Write a file in ``folder`` until its file system is full; returns the file."""
    filler = folder / "filler.bin"
    block = b"\0" * (1 << 16)
    with open(filler, "wb", buffering=0) as file:
        with contextlib.suppress(OSError):
            while True:
                file.write(block)
        with contextlib.suppress(OSError):
            while True:
                file.write(b"\0" * 4096)
    return filler


# ----------------------------------------------------------------------------- PostgreSQL


@dataclass
class PrivatePostgres:
    """A PostgreSQL server of its own (initdb in ``folder``) that a test may stop and restart."""

    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        data, log = str(self.folder / "data"), str(self.folder / "pg.log")
        command = [str(_pg_bin("pg_ctl")), "-D", data, "-l", log, "-w", *args]
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True
        )

    def start(self) -> None:
        self._ctl("-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1", "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "stop")

    def restart(self) -> float:
        """Stop and start the server; returns how long it was down, in seconds."""
        began = time.monotonic()
        self.stop()
        self.start()
        return time.monotonic() - began


def _pg_bin(name: str) -> Path:
    found = sorted(PG_BIN.glob(f"*/bin/{name}"))
    if not found:
        raise Unavailable(f"no PostgreSQL {name} under {PG_BIN}")
    return found[-1]


@contextlib.contextmanager
def private_postgres(port: int) -> Iterator[PrivatePostgres]:
    """initdb + start a throw-away PostgreSQL on ``port`` (as the postgres user; root only).

    Its folder is a new one under /tmp: the postgres user cannot enter pytest's root-owned
    temporary folders."""
    if os.geteuid() != 0:
        raise Unavailable("running a private PostgreSQL server as user postgres needs root")
    initdb = _pg_bin("initdb")
    folder = Path(tempfile.mkdtemp(prefix="mlship-pg-"))
    shutil.chown(folder, "postgres", "postgres")
    try:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(initdb),
                "-D",
                str(folder / "data"),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        server = PrivatePostgres(folder, port)
        server.start()
        try:
            yield server
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):
                server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ----------------------------------------------------------------------------- a server


@dataclass
class Server:
    """One ``mlship serve --port PORT`` process with its environment and log file."""

    env: dict[str, str]
    port: int
    log: Path
    args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> float:
        """Start and wait for ``/readyz``; returns the seconds it took."""
        began = time.monotonic()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mlship", "serve", "--port", str(self.port), *self.args],
                env=self.env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return time.monotonic() - began
            if self.proc.poll() is not None:
                raise AssertionError(f"mlship serve exited: {self.log.read_text()[-3000:]}")
            if time.monotonic() - began > timeout:
                raise AssertionError(f"mlship serve not ready in {timeout} s")
            time.sleep(0.1)

    def terminate(self, timeout: float = 60) -> float:
        """SIGTERM; returns the seconds until the process was gone (killed after ``timeout``)."""
        assert self.proc is not None
        began = time.monotonic()
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        return time.monotonic() - began

    def writer_pids(self) -> list[int]:
        """The prediction log writer processes of this server's workers."""
        assert self.proc is not None
        found = subprocess.run(
            ["pgrep", "-s", str(self.proc.pid), "-f", "mlship.serving.log_writer"],
            capture_output=True,
            text=True,
        )
        return [int(p) for p in found.stdout.split()]


# ----------------------------------------------------------------------------- clients


@dataclass
class Traffic:
    """What the clients saw: answered request ids, failures."""

    answered: list[str] = field(default_factory=list)
    failed: list[tuple[Any, str]] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)


@contextlib.contextmanager
def load(
    url: str, row: dict[str, Any], clients: int = 8, model: str = "fraud"
) -> Iterator[Traffic]:
    """``clients`` threads posting one row each with a unique X-Request-ID until the block ends."""
    traffic = Traffic()
    stop = threading.Event()
    lock = threading.Lock()
    body = {"inputs": [row]}

    def client() -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            while not stop.is_set():
                rid = uuid.uuid4().hex
                try:
                    response = http.post(
                        f"/models/{model}/predict", json=body, headers={"x-request-id": rid}
                    )
                except httpx.HTTPError as exc:
                    with lock:
                        traffic.failed.append((type(exc).__name__, str(exc)[:200]))
                    continue
                with lock:
                    status = response.status_code
                    traffic.statuses[status] = traffic.statuses.get(status, 0) + 1
                    if status == 200:
                        traffic.answered.append(rid)
                    else:
                        traffic.failed.append((status, response.text[:200]))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield traffic
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)


def logged_ids(db_url: str, model: str = "fraud") -> set[str]:
    """Request ids of ``model`` in the store's prediction log."""
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT request_id FROM predictions WHERE model = :m"), {"m": model}
            )
            return {r[0] for r in rows}
    finally:
        engine.dispose()


def wait_for_ids(db_url: str, ids: list[str], timeout: float) -> set[str]:
    """Poll the log until every id of ``ids`` is there or ``timeout`` passes; the ids found."""
    wanted = set(ids)
    deadline = time.monotonic() + timeout
    while True:
        found = logged_ids(db_url) & wanted
        if found == wanted or time.monotonic() > deadline:
            return found
        time.sleep(0.5)
