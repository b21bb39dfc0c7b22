"""Ctrl-C and SIGTERM as a flag that a long-running command checks between units of work."""

from __future__ import annotations

import signal
import time
from types import FrameType, TracebackType

_NAP_S = 0.05


class StopSignals:
    """While in the ``with`` block, SIGINT and SIGTERM set :attr:`stopped` instead of raising.

    A handler that only sets a flag is safe wherever the signal lands (a handler that takes a
    lock, as ``threading.Event.set`` does, can deadlock against the same thread holding it), and
    the work in progress (a JSON line half written, a monitor tick) finishes before the command
    ends. The previous handlers come back on exit.
    """

    def __init__(self) -> None:
        self.stopped = False
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._request_stop)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less if a stop is requested (short naps: it ends at once)."""
        deadline = time.monotonic() + seconds
        while not self.stopped and time.monotonic() < deadline:
            time.sleep(min(_NAP_S, max(0.0, deadline - time.monotonic())))

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopped = True
