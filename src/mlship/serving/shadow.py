"""The shadow mirror: copies of answered requests run on a shadow version, in the background.

::

    offer() ──put_nowait──> bounded queue ──[dispatcher task]──> at most `concurrency` copies in
    (after stable answered;  (full: the copy is      flight on the shadow's runtime (its own thread
     never blocks or raises)  dropped and counted)   and batcher) ──> prediction log, role "shadow"

Users never wait for the shadow and never see its failures: :meth:`ShadowMirror.offer` only
appends to a queue; a shadow that raises, or answers later than ``timeout_s``, is logged as a
shadow error with the stable answer's request id. A copy that timed out keeps its slot until the
model returns, so a hung shadow fills the queue (and drops copies) instead of piling up work.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from mlship.errors import ConfigError
from mlship.serving.batcher import BatcherClosed
from mlship.serving.prediction_record import PredictionRecord
from mlship.store import utcnow

if TYPE_CHECKING:
    from mlship.serving.decode import Frame
    from mlship.serving.observability import ServerMetrics
    from mlship.serving.runtime import VersionRuntime

log = logging.getLogger(__name__)

_LOG_EVERY = 1000  # shadow errors and drops are logged once, then every this many


@dataclass(frozen=True, slots=True)
class ShadowSettings:
    """How shadow copies are run (prefix ``MLSHIP_SHADOW_``).

    >>> ShadowSettings.from_env({"MLSHIP_SHADOW_QUEUE_SIZE": "50"}).queue_size
    50
    """

    queue_size: int = 1000
    """``MLSHIP_SHADOW_QUEUE_SIZE``: copies waiting for the shadow; beyond, copies are dropped."""
    concurrency: int = 4
    """``MLSHIP_SHADOW_CONCURRENCY``: copies in flight at once (the batcher merges them)."""
    timeout_s: float = 5.0
    """``MLSHIP_SHADOW_TIMEOUT_S``: a shadow answer later than this is logged as an error."""

    def __post_init__(self) -> None:
        for name, value, ok, must in (
            ("queue_size", self.queue_size, _is_int(self.queue_size, 1), "an integer >= 1"),
            ("concurrency", self.concurrency, _is_int(self.concurrency, 1), "an integer >= 1"),
            (
                "timeout_s",
                self.timeout_s,
                isinstance(self.timeout_s, int | float) and self.timeout_s > 0,
                "a number > 0",
            ),
        ):
            if not ok:
                raise ConfigError(
                    f"The 'shadow_{name}' option must be {must}. Got {value!r} instead."
                )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ShadowSettings:
        """Settings from ``MLSHIP_SHADOW_*`` variables (unset ones keep their defaults)."""
        env = os.environ if environ is None else environ
        given: dict[str, Any] = {}
        for name, kind in (("queue_size", int), ("concurrency", int), ("timeout_s", float)):
            text = env.get(f"MLSHIP_SHADOW_{name.upper()}")
            if not text:
                continue
            try:
                given[name] = kind(text)
            except ValueError:
                raise ConfigError(
                    f"MLSHIP_SHADOW_{name.upper()} must be a number. Got {text!r} instead."
                ) from None
        return cls(**given)


def _is_int(value: object, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


@dataclass(frozen=True, slots=True)
class ShadowStats:
    """What the mirror did since the server started."""

    offered: int
    """Copies offered (requests the mirror split selected, answered by stable)."""
    dropped: int
    """Copies dropped: the queue was full, or the server stopped before they ran."""
    mirrored: int
    """Copies the shadow answered in time."""
    errors: int
    """Copies on which the shadow raised."""
    timeouts: int
    """Copies the shadow did not answer within ``timeout_s``."""
    queued: int
    in_flight: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Copy:
    runtime: VersionRuntime
    frame: Frame
    request_id: str
    inputs: Any


class ShadowMirror:
    """Runs copies of requests on shadow runtimes without ever touching the request path.

    Parameters
    ----------
    settings:
        Queue size, copies in flight, timeout.
    sink:
        Takes each shadow :class:`PredictionRecord` (the prediction log's ``record``); must not
        block.
    metrics:
        Where shadow requests, latency, errors and drops are counted (``role="shadow"``).

    The dispatcher task starts with the first offered copy, on the running event loop.
    """

    def __init__(
        self,
        settings: ShadowSettings,
        sink: Callable[[PredictionRecord], None],
        metrics: ServerMetrics | None = None,
    ) -> None:
        self._settings = settings
        self._sink = sink
        self._metrics = metrics
        self._queue: asyncio.Queue[_Copy] = asyncio.Queue(settings.queue_size)
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._dispatcher: asyncio.Task[None] | None = None
        self._tasks: dict[asyncio.Task[None], VersionRuntime] = {}
        self._closed = False
        self._offered = self._dropped = self._mirrored = self._errors = self._timeouts = 0

    @property
    def settings(self) -> ShadowSettings:
        return self._settings

    @property
    def stats(self) -> ShadowStats:
        return ShadowStats(
            offered=self._offered,
            dropped=self._dropped,
            mirrored=self._mirrored,
            errors=self._errors,
            timeouts=self._timeouts,
            queued=self._queue.qsize(),
            in_flight=len(self._tasks),
        )

    # ------------------------------------------------------------------------- request path

    def offer(self, runtime: VersionRuntime, frame: Frame, request_id: str, inputs: Any) -> bool:
        """Queue a copy of an answered request for ``runtime`` (call on the event loop).

        Never blocks and never raises; returns whether the copy was queued. ``frame`` and
        ``inputs`` must not change afterwards (the stable record holds them too).
        """
        try:
            if self._closed:
                return False
            self._offered += 1
            try:
                self._queue.put_nowait(_Copy(runtime, frame, request_id, inputs))
            except asyncio.QueueFull:
                self._drop(runtime, 1, "the shadow queue is full")
                return False
            if self._dispatcher is None:
                self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch())
            return True
        except Exception:  # the user's answer is ready: nothing here may reach the request
            log.exception("Shadow: offering request %s failed; ignored", request_id)
            return False

    # ------------------------------------------------------------------------- life cycle

    def discard(self, runtime: VersionRuntime) -> None:
        """Cancel the copies in flight on a retired shadow (queued ones are skipped)."""
        for task, target in list(self._tasks.items()):
            if target is runtime:
                task.cancel()

    async def close(self) -> None:
        """Stop: cancel the copies in flight and drop the queued ones (counted as dropped)."""
        self._closed = True
        tasks = list(self._tasks)
        if self._dispatcher is not None:
            tasks.append(self._dispatcher)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        left = self._queue.qsize()
        while not self._queue.empty():
            self._queue.get_nowait()
        self._dropped += left

    # ------------------------------------------------------------------------- background

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._slots.acquire()
            copy = await self._queue.get()
            if copy.runtime.closing:  # retired since it was offered: the copy has no shadow
                self._slots.release()
                continue
            task = loop.create_task(self._mirror(copy))
            self._tasks[task] = copy.runtime
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("Shadow: a copy failed unexpectedly: %r", task.exception())

    async def _mirror(self, copy: _Copy) -> None:
        runtime = copy.runtime
        started = time.perf_counter()
        frame = copy.frame
        names = runtime.signature.feature_names
        if list(frame.columns) != names:
            missing = [n for n in names if n not in frame.columns]
            if missing:  # stable's decoder does not keep features only the shadow knows
                self._errors += 1
                error = f"InvalidInput: the request has no {', '.join(missing)} for the shadow"
                self._failed(copy, error, 0.0, "input", "422")
                return
            from mlship.serving.decode import as_frame

            frame = as_frame(frame)[names]
        call = asyncio.ensure_future(runtime.predict(frame))
        try:
            done, _ = await asyncio.wait({call}, timeout=self._settings.timeout_s)
            elapsed = time.perf_counter() - started
            if not done:
                self._timeouts += 1
                error = f"TimeoutError: no shadow answer within {self._settings.timeout_s:g} s"
                self._failed(copy, error, elapsed, "timeout", "504")
                await asyncio.wait({call})  # hold the slot until the model lets go
                return
            exc = call.exception()
            if isinstance(exc, BatcherClosed):
                return  # retired mid-flight
            if exc is not None:
                self._errors += 1
                self._failed(copy, f"{type(exc).__name__}: {exc}", elapsed, "model", "500")
                return
            result = call.result()
            self._mirrored += 1
            self._count(runtime, "200", elapsed)
            runtime.on_rows(len(frame), "shadow")
            self._record(
                copy, result.predictions, elapsed, None, result.probabilities, result.model_ms
            )
        finally:
            if not call.done():
                call.cancel()
            elif not call.cancelled():
                call.exception()  # retrieved: a late failure is not "never retrieved"

    # ------------------------------------------------------------------------- accounting

    def _failed(self, copy: _Copy, error: str, seconds: float, kind: str, status: str) -> None:
        runtime = copy.runtime
        self._count(runtime, status, None)
        if self._metrics is not None:
            self._metrics.errors.labels(**_labels(runtime), kind=kind).inc()
        failures = self._errors + self._timeouts
        if failures == 1 or failures % _LOG_EVERY == 0:
            log.warning(
                "Shadow %s@%d failed on request %s (%s); %d shadow failure(s) so far. Users "
                "are not affected.",
                runtime.name,
                runtime.version,
                copy.request_id,
                error,
                failures,
            )
        self._record(copy, None, seconds, error)

    def _drop(self, runtime: VersionRuntime, count: int, why: str) -> None:
        self._dropped += count
        if self._metrics is not None:
            labels = {"model": runtime.name, "version": str(runtime.version)}
            self._metrics.shadow_dropped.labels(**labels).inc(count)
        if self._dropped == count or self._dropped % _LOG_EVERY < count:
            log.warning("Shadow: %s; %d copy(ies) dropped so far.", why, self._dropped)

    def _count(self, runtime: VersionRuntime, status: str, seconds: float | None) -> None:
        metrics = self._metrics
        if metrics is None:
            return
        labels = _labels(runtime)
        metrics.requests.labels(**labels, protocol="shadow", status=status).inc()
        if seconds is not None:
            metrics.latency.labels(**labels).observe(seconds)

    def _record(
        self,
        copy: _Copy,
        outputs: Any,
        seconds: float,
        error: str | None,
        scores: Any = None,
        model_ms: float | None = None,
    ) -> None:
        try:
            self._sink(
                PredictionRecord(
                    request_id=copy.request_id,
                    at=utcnow(),
                    model=copy.runtime.name,
                    version=copy.runtime.version,
                    role="shadow",
                    inputs=copy.inputs,
                    outputs=outputs,
                    latency_ms=seconds * 1000,
                    error=error,
                    scores=scores,
                    model_ms=model_ms,
                )
            )
        except Exception:
            log.exception("Shadow: logging request %s failed", copy.request_id)


def _labels(runtime: VersionRuntime) -> dict[str, str]:
    return {"model": runtime.name, "version": str(runtime.version), "role": "shadow"}
