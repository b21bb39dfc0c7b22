"""Continuous load on a real server from threads, counting every answer (rollout tests)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from tests.integration.conftest import RunningServer


@contextmanager
def load(server: RunningServer, rows: list[dict[str, Any]], threads: int = 4) -> Iterator[dict]:
    """Continuous requests with random routing keys until the block ends; counts every answer."""
    stop = threading.Event()
    counts: dict[str, Any] = {"ok": 0, "failed": [], "versions": set(), "last": None}
    lock = threading.Lock()

    def worker(seed: int) -> None:
        i = seed
        with httpx.Client(base_url=server.url, timeout=60) as client:
            while not stop.is_set():
                row = rows[i % len(rows)]
                i += threads
                try:
                    response = client.post(
                        "/models/fraud/predict",
                        json={"inputs": [row]},
                        headers={"x-routing-key": uuid.uuid4().hex},
                    )
                except httpx.HTTPError as exc:  # a dropped connection is a failed request too
                    with lock:
                        counts["failed"].append((type(exc).__name__, str(exc)[:200]))
                    continue
                with lock:
                    if response.status_code == 200:
                        counts["ok"] += 1
                        counts["versions"].add(response.json()["version"])
                        counts["last"] = response.json()["version"]
                    else:
                        counts["failed"].append((response.status_code, response.text[:200]))

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    try:
        yield counts
    finally:
        stop.set()
        for t in pool:
            t.join(timeout=60)
