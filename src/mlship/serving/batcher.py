"""The micro-batcher: concurrent requests for one model version run as one ``predict`` call.

Requests arrive on the event loop, each a DataFrame of a few rows. One dispatcher task per
:class:`MicroBatcher` takes the waiting requests (up to ``max_batch_rows``), runs a single
``predict`` over their concatenation in a worker thread, and hands every caller its own slice of
the output, in order. At most one batch is in flight per batcher, so requests that arrive while
the model is busy are merged into the next call ("batch while busy", no timer needed).

When the model is idle the dispatcher may also wait a little for more requests ("cork"), as
BentoML's CorkDispatcher does, but only while that is expected to pay: it learns
``seconds = call_overhead + rows * row_cost`` from observed predict times and keeps waiting for the
next request only while ``queued_requests * expected_gap < call_overhead`` - the latency the queued
requests would lose is less than the model time one merged call saves - and never past
``max_wait_ms`` after the oldest request arrived. A lone request (no recent arrivals) therefore
goes straight through, and with a model that has no per-call overhead the batcher never waits.

If a merged call raises, each request is retried alone, so only the requests whose rows make the
model fail get the exception.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlship.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import NDArray

    from mlship.serving.decode import Frame

__all__ = ["BatchOutput", "BatcherClosed", "BatcherStats", "BatchingOptions", "MicroBatcher"]

logger = logging.getLogger(__name__)

PredictFn = Callable[[Any], "BatchOutput"]
MergeFn = Callable[[Sequence["Frame"]], Any]
BatchHook = Callable[[int, float], None]

_COST_SAMPLES = 64  # predict calls the cost model is fitted on
_ARRIVAL_SAMPLES = 16  # arrivals the request rate is estimated from


class BatcherClosed(RuntimeError):
    """``submit`` was called after ``close``: the server is shutting this version down."""


@dataclass(frozen=True, slots=True)
class BatchOutput:
    """What ``predict`` returns for a frame: one prediction (and probability row) per input row.

    >>> import numpy as np
    >>> out = BatchOutput(np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]]))
    >>> out[1:3].predictions.tolist()
    [1, 1]
    """

    predictions: NDArray[Any]
    probabilities: NDArray[Any] | None = None
    model_ms: float | None = None
    """The time of the model call that produced these rows (with micro-batching, the merged
    batch's call): what the model itself cost, without the wait for a batch."""

    def __post_init__(self) -> None:
        if self.probabilities is not None and len(self.probabilities) != len(self.predictions):
            raise ValueError(
                f"BatchOutput has {len(self.predictions)} predictions but "
                f"{len(self.probabilities)} rows of probabilities; they must be row-aligned."
            )

    def __len__(self) -> int:
        return len(self.predictions)

    def __getitem__(self, rows: slice) -> BatchOutput:
        """The output of a range of rows (views of the arrays, no copy)."""
        proba = self.probabilities
        return BatchOutput(
            self.predictions[rows], None if proba is None else proba[rows], self.model_ms
        )


@dataclass(frozen=True, slots=True)
class BatchingOptions:
    """How requests to one model version are merged.

    >>> BatchingOptions(max_wait_ms=-1)
    Traceback (most recent call last):
    ...
    mlship.errors.ConfigError: The 'max_wait_ms' option must be a number >= 0. Got -1 instead.
    """

    enabled: bool = True
    """Merge concurrent requests; off, every request calls ``predict`` alone in the thread pool."""
    max_batch_rows: int = 256
    """Most rows in one merged call (a single larger request still runs, alone)."""
    max_wait_ms: float = 5.0
    """Longest a request may be held back waiting for others; the batcher usually waits less
    (nothing at all when there is no concurrency)."""

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise _invalid("enabled", "true or false", self.enabled)
        rows = self.max_batch_rows
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
            raise _invalid("max_batch_rows", "an integer >= 1", rows)
        wait = self.max_wait_ms
        if isinstance(wait, bool) or not isinstance(wait, int | float) or not wait >= 0:
            raise _invalid("max_wait_ms", "a number >= 0", wait)


def _invalid(option: str, must: str, got: object) -> ConfigError:
    return ConfigError(f"The {option!r} option must be {must}. Got {got!r} instead.")


@dataclass(frozen=True, slots=True)
class BatcherStats:
    """A snapshot of a batcher's work: predict calls that returned, and the learned costs."""

    batches: int = 0
    rows: int = 0
    last_batch_rows: int = 0
    call_seconds: float = 0.0
    """Estimated fixed cost of one predict call (what merging saves)."""
    row_seconds: float = 0.0
    """Estimated cost of one more row in a call."""

    @property
    def mean_batch_rows(self) -> float:
        return self.rows / self.batches if self.batches else 0.0


class _CostModel:
    """``seconds = overhead + per_row * rows``, least squares over the last predict calls.

    When every call had the same row count the fit is underdetermined; the minimum-norm solution
    (as ``numpy.linalg.lstsq`` gives) is used, which attributes little overhead to large batches.
    """

    __slots__ = ("_samples", "overhead", "per_row")

    def __init__(self) -> None:
        self._samples: deque[tuple[int, float]] = deque(maxlen=_COST_SAMPLES)
        self.overhead = 0.0
        self.per_row = 0.0

    def observe(self, rows: int, seconds: float) -> None:
        self._samples.append((rows, seconds))
        count = len(self._samples)
        mean_x = sum(x for x, _ in self._samples) / count
        mean_y = sum(y for _, y in self._samples) / count
        var_x = sum((x - mean_x) ** 2 for x, _ in self._samples)
        if var_x > 0:
            slope = sum((x - mean_x) * (y - mean_y) for x, y in self._samples) / var_x
            overhead = mean_y - slope * mean_x
            if slope < 0:
                slope, overhead = 0.0, mean_y
            elif overhead < 0:
                slope, overhead = mean_y / mean_x, 0.0
        else:
            slope = mean_x * mean_y / (mean_x**2 + 1)
            overhead = mean_y / (mean_x**2 + 1)
        self.per_row, self.overhead = slope, overhead


@dataclass(slots=True)
class _Job:
    frame: Frame
    rows: int
    future: asyncio.Future[BatchOutput]
    arrived: float


class MicroBatcher:
    """Merges concurrent ``submit`` calls into single ``predict`` calls run in a worker thread.

    Parameters
    ----------
    predict
        Called in a worker thread with a frame of one or more requests' rows; returns one output
        row per input row. It may raise for bad rows: the requests are then retried one by one.
    options
        Batch size, wait bound, or batching off.
    executor
        Where ``predict`` runs; the event loop's default executor if None.
    merge
        Called in the worker thread to make one input of several requests' frames (their rows in
        order), which ``predict`` then gets; ``pandas.concat`` if None. A model that takes a
        numpy array merges faster with ``numpy.concatenate``.
    on_batch
        Called on the event loop after every predict call that returned, with its row count and
        its duration in seconds (e.g. to feed a Prometheus histogram). Its errors are logged.

    A batcher belongs to the event loop of its first ``submit``.

    >>> import asyncio, numpy as np, pandas as pd
    >>> def double(frame):
    ...     return BatchOutput(frame["x"].to_numpy() * 2)
    >>> async def main():
    ...     batcher = MicroBatcher(double, BatchingOptions())
    ...     frames = [pd.DataFrame({"x": [i, 10 * i]}) for i in (1, 2, 3)]
    ...     outputs = await asyncio.gather(*(batcher.submit(f) for f in frames))
    ...     await batcher.close()
    ...     return [o.predictions.tolist() for o in outputs], batcher.stats.batches
    >>> asyncio.run(main())
    ([[2, 20], [4, 40], [6, 60]], 1)
    """

    def __init__(
        self,
        predict: PredictFn,
        options: BatchingOptions,
        *,
        executor: Executor | None = None,
        on_batch: BatchHook | None = None,
        merge: MergeFn | None = None,
    ) -> None:
        self._predict = predict
        self._merge = merge or _concat
        self._options = options
        self._executor = executor
        self._on_batch = on_batch
        self._max_wait = options.max_wait_ms / 1000
        self._queue: deque[_Job] = deque()
        self._arrivals: deque[float] = deque(maxlen=_ARRIVAL_SAMPLES)
        self._cost = _CostModel()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._direct: set[asyncio.Future[tuple[BatchOutput, float]]] = set()
        self._closing = False
        self._batches = 0
        self._rows = 0
        self._last_rows = 0

    @property
    def options(self) -> BatchingOptions:
        return self._options

    @property
    def stats(self) -> BatcherStats:
        """Predict calls that returned so far, their rows, and the learned call/row costs."""
        return BatcherStats(
            batches=self._batches,
            rows=self._rows,
            last_batch_rows=self._last_rows,
            call_seconds=self._cost.overhead,
            row_seconds=self._cost.per_row,
        )

    @property
    def queued(self) -> int:
        """Requests waiting for a predict call (not counting the one in flight)."""
        return len(self._queue)

    async def submit(self, frame: Frame) -> BatchOutput:
        """The output for ``frame``'s rows, from a predict call shared with concurrent requests.

        Raises what ``predict`` raised for these rows, or :class:`BatcherClosed` after ``close``.
        Cancelling the caller drops its rows if they are still queued and never affects others.
        """
        if self._closing:
            raise BatcherClosed("The model version is shutting down; retry on another replica.")
        loop = self._bind_loop()
        if not self._options.enabled:
            return await self._call_direct(loop, frame)
        future: asyncio.Future[BatchOutput] = loop.create_future()
        now = loop.time()
        self._queue.append(_Job(frame, len(frame), future, now))
        self._arrivals.append(now)
        assert self._wakeup is not None
        self._wakeup.set()
        if self._dispatcher is None:
            self._dispatcher = loop.create_task(self._dispatch_forever())
        return await future

    async def close(self) -> None:
        """Refuse new requests, finish the queued and running ones, stop the dispatcher."""
        self._closing = True
        if self._wakeup is not None:
            self._wakeup.set()
        if self._dispatcher is not None:
            await asyncio.shield(self._dispatcher)
        if self._direct:
            await asyncio.wait(set(self._direct))

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
            self._wakeup = asyncio.Event()
        elif self._loop is not loop:
            raise RuntimeError("A MicroBatcher is bound to the event loop of its first submit().")
        return loop

    async def _call_direct(self, loop: asyncio.AbstractEventLoop, frame: Frame) -> BatchOutput:
        call = loop.run_in_executor(
            self._executor, _timed_predict, self._predict, self._merge, [frame]
        )
        # Shielded so that a cancelled caller leaves the call to finish (and be counted, and be
        # awaited by close()) rather than orphaning a running thread.
        self._direct.add(call)
        call.add_done_callback(self._direct_done)
        output, _ = await asyncio.shield(call)
        return output

    def _direct_done(self, call: asyncio.Future[tuple[BatchOutput, float]]) -> None:
        self._direct.discard(call)
        if not call.cancelled() and call.exception() is None:
            output, seconds = call.result()
            self._record(len(output), seconds)

    async def _dispatch_forever(self) -> None:
        wakeup = self._wakeup
        assert wakeup is not None
        while True:
            if not self._queue:
                if self._closing:
                    return
                wakeup.clear()
                await wakeup.wait()
                continue
            if not self._closing:
                await self._cork(wakeup)
            jobs = self._take_batch()
            if not jobs:
                continue
            try:
                await self._run(jobs)
            except Exception as exc:  # a bug here must not hang the callers or stop the loop
                logger.exception("The micro-batcher failed a batch of %d requests.", len(jobs))
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)

    async def _cork(self, wakeup: asyncio.Event) -> None:
        """Hold the queue back while waiting for the next request is expected to pay."""
        loop = self._loop
        assert loop is not None
        while self._queue and not self._closing:
            overhead = self._cost.overhead
            waiting = len(self._queue)
            if (
                overhead <= 0
                or sum(job.rows for job in self._queue) >= self._options.max_batch_rows
            ):
                return
            arrivals = self._arrivals
            last = arrivals[-1]
            gap = (last - arrivals[0]) / (len(arrivals) - 1) if len(arrivals) > 1 else math.inf
            if waiting * gap >= overhead:
                return
            # The next request is worth waiting for until it is later than expected (the gain is
            # spent) or the oldest request has waited max_wait_ms.
            deadline = min(self._queue[0].arrived + self._max_wait, last + overhead / waiting)
            timeout = deadline - loop.time()
            if timeout <= 0:
                return
            wakeup.clear()
            try:
                await asyncio.wait_for(wakeup.wait(), timeout)
            except TimeoutError:
                return

    def _take_batch(self) -> list[_Job]:
        """Queued requests, oldest first, up to max_batch_rows; cancelled ones are dropped."""
        limit = self._options.max_batch_rows
        jobs: list[_Job] = []
        rows = 0
        queue = self._queue
        while queue:
            job = queue[0]
            if job.future.done():
                queue.popleft()
                continue
            if jobs and rows + job.rows > limit:
                break
            jobs.append(queue.popleft())
            rows += job.rows
        return jobs

    async def _run(self, jobs: list[_Job]) -> None:
        loop = self._loop
        assert loop is not None
        frames = [job.frame for job in jobs]
        try:
            output, seconds = await loop.run_in_executor(
                self._executor, _timed_predict, self._predict, self._merge, frames
            )
        except Exception as exc:
            if len(jobs) == 1:
                _fail(jobs[0], exc)
            else:
                await self._run_alone(jobs)
            return
        self._record(len(output), seconds)
        start = 0
        for job in jobs:
            stop = start + job.rows
            if not job.future.done():
                job.future.set_result(output[start:stop])
            start = stop

    async def _run_alone(self, jobs: list[_Job]) -> None:
        """After a merged call failed: one call per request, so only the bad ones fail."""
        loop = self._loop
        assert loop is not None
        for job in jobs:
            if job.future.done():
                continue
            try:
                output, seconds = await loop.run_in_executor(
                    self._executor, _timed_predict, self._predict, self._merge, [job.frame]
                )
            except Exception as exc:
                _fail(job, exc)
                continue
            self._record(len(output), seconds)
            if not job.future.done():
                job.future.set_result(output)

    def _record(self, rows: int, seconds: float) -> None:
        self._batches += 1
        self._rows += rows
        self._last_rows = rows
        self._cost.observe(rows, seconds)
        if self._on_batch is not None:
            try:
                self._on_batch(rows, seconds)
            except Exception:
                logger.exception("The on_batch hook of the micro-batcher raised; ignored.")


def _fail(job: _Job, exc: Exception) -> None:
    if not job.future.done():
        job.future.set_exception(exc)


def _concat(frames: Sequence[Frame]) -> pd.DataFrame:
    from mlship.serving.decode import concat_frames  # pandas only once a batch is merged

    return concat_frames(frames)


def _timed_predict(
    predict: PredictFn, merge: MergeFn, frames: Sequence[Frame]
) -> tuple[BatchOutput, float]:
    """Runs in the worker thread: merge the frames, predict, check the output is row-aligned."""
    start = time.perf_counter()
    frame = merge(frames)
    output = predict(frame)
    seconds = time.perf_counter() - start
    if not isinstance(output, BatchOutput):
        raise TypeError(f"predict must return a BatchOutput. Got {type(output).__name__} instead.")
    if len(output) != len(frame):
        raise ValueError(
            f"predict returned {len(output)} outputs for {len(frame)} rows; "
            "it must return one per row, in order."
        )
    return BatchOutput(output.predictions, output.probabilities, seconds * 1000), seconds
