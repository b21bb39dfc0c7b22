"""A small time-to-live cache for the dashboard's costly views (drift, shadow report, the live
canary analysis): every open page polls every 2 s, and several pages may be open, but these
figures move slowly and are computed from up to tens of thousands of logged predictions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any


class TtlCache:
    """Values by key, each kept for ``ttl_s`` seconds after it was computed.

    At most ``size`` keys are kept (the oldest goes first). Safe to use from several threads;
    two threads missing the same key at once both compute it (the cache never blocks on work).

    >>> cache = TtlCache(ttl_s=60)
    >>> cache.get_or_compute("a", lambda: 1), cache.get_or_compute("a", lambda: 2)
    (1, 1)
    """

    def __init__(self, ttl_s: float, size: int = 64, clock: Callable[[], float] = time.monotonic):
        self._ttl_s = ttl_s
        self._size = size
        self._clock = clock
        self._values: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value of ``key``, computed by ``compute()`` when absent or expired."""
        now = self._clock()
        with self._lock:
            found = self._values.get(key)
        if found is not None and now - found[0] < self._ttl_s:
            return found[1]
        value = compute()
        with self._lock:
            self._values.pop(key, None)
            self._values[key] = (self._clock(), value)
            while len(self._values) > self._size:
                del self._values[next(iter(self._values))]
        return value
