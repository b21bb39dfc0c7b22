"""The demo's load generator: threads sending real prediction requests, one transaction each, to
``POST /models/{name}/predict``, with the card as routing key (a card sticks to one version
during a rollout). Every answer is counted: by status, and by the version that gave it.

>>> traffic = Traffic("http://127.0.0.1:8080", "fraud_detector")  # doctest: +SKIP
>>> with traffic.sending(rows):  # doctest: +SKIP
...     traffic.wait_for(500)
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import orjson


class Traffic:
    """Prediction requests from ``threads`` threads until :meth:`stop`.

    Parameters
    ----------
    url:
        The server, e.g. ``http://127.0.0.1:8080``.
    model:
        The model name in the predict route.
    threads:
        Concurrent clients, each with one keep-alive connection.
    cards:
        How many distinct cards (routing keys) the requests come from.
    seed:
        Seed of the cards' choice.
    """

    def __init__(
        self, url: str, model: str, *, threads: int = 6, cards: int = 50_000, seed: int = 0
    ) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._path = f"/models/{model}/predict"
        self._threads = threads
        self._cards = cards
        self._seed = seed
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool: list[threading.Thread] = []
        self._bodies: list[bytes] = []
        self._interval = 0.0
        self.answered = 0
        """Requests answered with 200."""
        self.failed: list[tuple[int, str]] = []
        """Every other answer (status, first 200 characters), or connection error (0, text)."""
        self.versions: Counter[int] = Counter()
        """Answers per version that gave them."""

    @property
    def threads(self) -> int:
        """How many clients send at once."""
        return self._threads

    @property
    def sent(self) -> int:
        """Requests that got an answer or failed."""
        with self._lock:
            return self.answered + len(self.failed)

    def start(self, rows: Sequence[Mapping[str, Any]], *, rate: float | None = None) -> None:
        """Send ``rows`` over and over (or switch to them if already sending), at most ``rate``
        requests a second in all (None: as fast as the server answers)."""
        bodies = [orjson.dumps({"inputs": [dict(row)]}) for row in rows]
        with self._lock:
            self._bodies = bodies
            self._interval = self._threads / rate if rate else 0.0
        if self._pool:
            return
        self._stop.clear()
        self._pool = [
            threading.Thread(target=self._work, args=(i,), name=f"demo-traffic-{i}", daemon=True)
            for i in range(self._threads)
        ]
        for thread in self._pool:
            thread.start()

    def stop(self) -> None:
        """Stop sending; waits for the requests in flight."""
        self._stop.set()
        for thread in self._pool:
            thread.join(timeout=30)
        self._pool = []

    @contextmanager
    def sending(self, rows: Sequence[Mapping[str, Any]]) -> Iterator[Traffic]:
        """Send ``rows`` for the duration of the block."""
        self.start(rows)
        try:
            yield self
        finally:
            self.stop()

    def wait_for(self, requests: int, timeout: float = 120.0) -> None:
        """Wait until ``requests`` more requests were answered (or failed)."""
        target = self.sent + requests
        deadline = time.monotonic() + timeout
        while self.sent < target and time.monotonic() < deadline:
            time.sleep(0.05)

    def _work(self, index: int) -> None:
        rng = random.Random(self._seed * 1000 + index)
        connection: http.client.HTTPConnection | None = None
        position = index
        while not self._stop.is_set():
            with self._lock:
                bodies, interval = self._bodies, self._interval
            body = bodies[position % len(bodies)]
            position += self._threads
            began = time.monotonic()
            headers = {
                "Content-Type": "application/json",
                "X-Routing-Key": f"card-{rng.randrange(self._cards)}",
            }
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(self._host, self._port, timeout=30)
                connection.request("POST", self._path, body, headers)
                response = connection.getresponse()
                payload = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                if connection is not None:
                    connection.close()
                connection = None
                self._count(0, f"{type(exc).__name__}: {exc}")
                self._stop.wait(0.1)
                continue
            self._count(status, payload)
            if interval:
                self._stop.wait(max(0.0, interval - (time.monotonic() - began)))
        if connection is not None:
            connection.close()

    def _count(self, status: int, payload: bytes | str) -> None:
        if status == 200 and isinstance(payload, bytes):
            version = orjson.loads(payload).get("version")
            with self._lock:
                self.answered += 1
                self.versions[int(version)] += 1
            return
        text = payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
        with self._lock:
            self.failed.append((status, text[:200]))
