"""The micro-batcher: right rows to the right caller, merging, errors, cancellation, shutdown."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlship.errors import ConfigError, InvalidInput
from mlship.serving.batcher import (
    BatcherClosed,
    BatchingOptions,
    BatchOutput,
    MicroBatcher,
)


class FakeModel:
    """Predicts ``2x`` with probabilities ``[x, -x]``; records the rows of every call.

    Rows with a negative ``x`` make it raise, ``delay`` seconds are slept per call, and with
    ``gate`` set every call first waits for the gate to open.
    """

    def __init__(self, delay: float = 0.0, gate: threading.Event | None = None) -> None:
        self.delay = delay
        self.gate = gate
        self.calls: list[list[int]] = []
        self._lock = threading.Lock()

    def __call__(self, frame: pd.DataFrame) -> BatchOutput:
        x = frame["x"].to_numpy()
        with self._lock:
            self.calls.append(x.tolist())
        if self.gate is not None:
            assert self.gate.wait(timeout=30), "the test never opened the gate"
        if self.delay:
            time.sleep(self.delay)
        if (x < 0).any():
            raise InvalidInput("x must be >= 0.", field="x")
        return BatchOutput(x * 2, np.column_stack([x, -x]).astype(float))


def frame_of(caller: int, rows: int) -> pd.DataFrame:
    """Rows unique to one caller: 1000 * caller + row number."""
    return pd.DataFrame({"x": np.arange(rows, dtype=np.int64) + 1000 * caller})


def assert_output_of(output: BatchOutput, frame: pd.DataFrame) -> None:
    x = frame["x"].to_numpy()
    np.testing.assert_array_equal(output.predictions, x * 2)
    assert output.probabilities is not None
    np.testing.assert_array_equal(output.probabilities, np.column_stack([x, -x]))


def run(main: Callable[[], Any]) -> Any:
    return asyncio.run(main())


async def submit_all(batcher: MicroBatcher, frames: Sequence[pd.DataFrame]) -> list[Any]:
    return await asyncio.gather(*(batcher.submit(f) for f in frames), return_exceptions=True)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=200),
    max_batch_rows=st.integers(min_value=1, max_value=300),
    delay=st.sampled_from([0.0, 0.001]),
    enabled=st.booleans(),
)
def test_each_caller_gets_exactly_its_rows(
    sizes: list[int], max_batch_rows: int, delay: float, enabled: bool
) -> None:
    model = FakeModel(delay=delay)
    options = BatchingOptions(enabled=enabled, max_batch_rows=max_batch_rows, max_wait_ms=2.0)
    frames = [frame_of(i, n) for i, n in enumerate(sizes)]

    async def main() -> list[Any]:
        with ThreadPoolExecutor(max_workers=4) as pool:
            batcher = MicroBatcher(model, options, executor=pool)
            outputs = await submit_all(batcher, frames)
            await batcher.close()
            return outputs

    outputs = run(main)
    for output, frame in zip(outputs, frames, strict=True):
        assert_output_of(output, frame)
    # Every row was predicted exactly once, and no merged call broke the row limit.
    assert sorted(v for call in model.calls for v in call) == sorted(
        v for f in frames for v in f["x"].tolist()
    )
    biggest = max(sizes)
    assert all(len(call) <= max(max_batch_rows, biggest) for call in model.calls)


def test_concurrent_requests_are_merged() -> None:
    model = FakeModel(delay=0.005)
    frames = [frame_of(i, 1 + i % 3) for i in range(50)]

    async def main() -> tuple[list[Any], MicroBatcher]:
        batcher = MicroBatcher(model, BatchingOptions(max_wait_ms=50))
        outputs = await submit_all(batcher, frames)
        await batcher.close()
        return outputs, batcher

    outputs, batcher = run(main)
    for output, frame in zip(outputs, frames, strict=True):
        assert_output_of(output, frame)
    assert len(model.calls) < len(frames) / 2
    stats = batcher.stats
    assert stats.batches == len(model.calls)
    assert stats.rows == sum(len(f) for f in frames)
    assert stats.mean_batch_rows == stats.rows / stats.batches


def test_each_output_carries_the_time_of_the_model_call_that_made_it() -> None:
    """The model's own time (what the canary judges latency on) is the merged call's time, the
    same for every request of a batch, and not the time a request waited for its batch."""
    model = FakeModel(delay=0.05)

    async def main() -> tuple[list[BatchOutput], BatchOutput, float]:
        batcher = MicroBatcher(model, BatchingOptions(max_wait_ms=50))
        outputs = await submit_all(batcher, [frame_of(i, 1) for i in range(8)])
        # A request queued behind a running call waits for it, then has a call of its own.
        loop = asyncio.get_running_loop()
        calls = len(model.calls)
        busy = asyncio.ensure_future(batcher.submit(frame_of(0, 1)))
        while len(model.calls) == calls:
            await asyncio.sleep(0.001)
        started = loop.time()
        queued = await batcher.submit(frame_of(1, 1))
        total_ms = (loop.time() - started) * 1000
        await busy
        await batcher.close()
        return outputs, queued, total_ms

    outputs, queued, total_ms = run(main)
    assert all(o.model_ms is not None and 50 <= o.model_ms < 1000 for o in outputs)
    assert len({o.model_ms for o in outputs}) < len(outputs)  # shared by a merged call
    assert queued.model_ms is not None and 50 <= queued.model_ms <= total_ms - 20


def test_requests_arriving_while_busy_go_in_the_next_batch() -> None:
    """Check that requests queued behind a running call are merged into one next call."""
    gate = threading.Event()
    model = FakeModel(gate=gate)

    async def main() -> list[Any]:
        batcher = MicroBatcher(model, BatchingOptions(max_wait_ms=0))
        first = asyncio.ensure_future(batcher.submit(frame_of(0, 1)))
        while not model.calls:
            await asyncio.sleep(0.001)
        rest = [asyncio.ensure_future(batcher.submit(frame_of(i, 2))) for i in range(1, 11)]
        await asyncio.sleep(0.01)
        gate.set()
        outputs = await asyncio.gather(first, *rest)
        await batcher.close()
        return outputs

    run(main)
    assert [len(call) for call in model.calls] == [1, 20]


def test_a_lone_request_is_not_delayed() -> None:
    """Check that without concurrency a request costs the predict time, not max_wait_ms."""
    model = FakeModel(delay=0.02)
    latencies: list[float] = []

    async def main() -> None:
        batcher = MicroBatcher(model, BatchingOptions(max_wait_ms=5000))
        # Bursts first, so the batcher has learned a per-call overhead worth waiting for...
        for burst in (1, 5, 20, 40):
            await submit_all(batcher, [frame_of(i, 1 + i % 4) for i in range(burst)])
        assert batcher.stats.call_seconds > 0.01
        await asyncio.sleep(0.5)
        # ...then sequential lone requests.
        for i in range(5):
            start = time.perf_counter()
            output = await batcher.submit(frame_of(100 + i, 2))
            latencies.append(time.perf_counter() - start)
            assert_output_of(output, frame_of(100 + i, 2))
        await batcher.close()

    run(main)
    assert max(latencies) < 1.0  # generous: each is ~0.02 s of predict; corking would be 5 s


def test_a_bad_row_fails_only_its_own_request() -> None:
    model = FakeModel()
    frames = [frame_of(i, 3) for i in range(10)]
    frames[4] = pd.DataFrame({"x": [7, -1, 8]})

    async def main() -> list[Any]:
        batcher = MicroBatcher(model, BatchingOptions())
        outputs = await submit_all(batcher, frames)
        await batcher.close()
        return outputs

    outputs = run(main)
    assert isinstance(outputs[4], InvalidInput)
    for i, (output, frame) in enumerate(zip(outputs, frames, strict=True)):
        if i != 4:
            assert_output_of(output, frame)
    # One merged call that failed, then one call per request.
    assert [len(call) for call in model.calls] == [30] + [3] * 10


def test_a_lone_bad_request_is_not_retried() -> None:
    model = FakeModel()

    async def main() -> None:
        batcher = MicroBatcher(model, BatchingOptions())
        with pytest.raises(InvalidInput, match="x must be >= 0"):
            await batcher.submit(pd.DataFrame({"x": [-5]}))
        await batcher.close()

    run(main)
    assert model.calls == [[-5]]


def test_output_not_aligned_with_rows_is_an_error_for_its_callers() -> None:
    def short(frame: pd.DataFrame) -> BatchOutput:
        return BatchOutput(np.zeros(max(len(frame) - 1, 0)))

    async def main() -> list[Any]:
        batcher = MicroBatcher(short, BatchingOptions())
        outputs = await submit_all(batcher, [frame_of(i, 2) for i in range(3)])
        await batcher.close()
        return outputs

    for outcome in run(main):
        assert isinstance(outcome, ValueError)
        assert "must return one per row" in str(outcome)


def test_cancelled_callers_do_not_affect_others() -> None:
    """Check that cancelling a caller, queued or in flight, leaves the batch to the others."""
    gate = threading.Event()
    model = FakeModel(gate=gate)

    async def main() -> tuple[list[Any], list[asyncio.Task[BatchOutput]]]:
        batcher = MicroBatcher(model, BatchingOptions(max_wait_ms=0))
        tasks = [asyncio.create_task(batcher.submit(frame_of(i, 2))) for i in range(6)]
        while not model.calls:  # the first batch is in flight, blocked on the gate
            await asyncio.sleep(0.001)
        queued = [asyncio.create_task(batcher.submit(frame_of(i, 2))) for i in range(6, 12)]
        await asyncio.sleep(0.01)
        tasks[2].cancel()  # in flight
        queued[3].cancel()  # still queued: its rows are never predicted
        await asyncio.sleep(0.01)
        gate.set()
        outcomes = await asyncio.gather(*tasks, *queued, return_exceptions=True)
        await batcher.close()
        return outcomes, [*tasks, *queued]

    outcomes, tasks = run(main)
    for i, (outcome, task) in enumerate(zip(outcomes, tasks, strict=True)):
        if i in (2, 9):
            assert task.cancelled()
        else:
            assert_output_of(outcome, frame_of(i, 2))
    assert 9000 not in model.calls[1]
    assert [len(call) for call in model.calls] == [12, 10]


def test_disabled_batching_calls_predict_per_request() -> None:
    model = FakeModel(delay=0.002)
    frames = [frame_of(i, 1 + i % 3) for i in range(20)]
    sizes: list[int] = []

    async def main() -> list[Any]:
        batcher = MicroBatcher(
            model,
            BatchingOptions(enabled=False),
            on_batch=lambda rows, seconds: sizes.append(rows),
        )
        outputs = await submit_all(batcher, frames)
        await batcher.close()
        assert batcher.stats.batches == len(frames)
        return outputs

    outputs = run(main)
    for output, frame in zip(outputs, frames, strict=True):
        assert_output_of(output, frame)
    assert sorted(model.calls) == sorted(f["x"].tolist() for f in frames)
    assert sorted(sizes) == sorted(len(f) for f in frames)


def test_disabled_batching_passes_errors_through() -> None:
    async def main() -> None:
        batcher = MicroBatcher(FakeModel(), BatchingOptions(enabled=False))
        with pytest.raises(InvalidInput):
            await batcher.submit(pd.DataFrame({"x": [-1]}))
        await batcher.close()

    run(main)


def test_close_finishes_queued_work_and_refuses_new_requests() -> None:
    gate = threading.Event()
    model = FakeModel(gate=gate)

    async def main() -> tuple[list[Any], MicroBatcher]:
        batcher = MicroBatcher(model, BatchingOptions(max_batch_rows=4, max_wait_ms=1000))
        tasks = [asyncio.create_task(batcher.submit(frame_of(i, 2))) for i in range(10)]
        while not model.calls:
            await asyncio.sleep(0.001)
        closing = asyncio.create_task(batcher.close())
        await asyncio.sleep(0.01)
        with pytest.raises(BatcherClosed):
            await batcher.submit(frame_of(99, 1))
        gate.set()
        await closing
        assert all(task.done() for task in tasks)
        await batcher.close()  # closing twice is harmless
        return [task.result() for task in tasks], batcher

    outputs, batcher = run(main)
    for i, output in enumerate(outputs):
        assert_output_of(output, frame_of(i, 2))
    assert [len(call) for call in model.calls] == [4] * 5
    assert batcher.queued == 0


def test_close_waits_for_direct_calls_when_disabled() -> None:
    gate = threading.Event()
    model = FakeModel(gate=gate)

    async def main() -> list[asyncio.Task[BatchOutput]]:
        batcher = MicroBatcher(model, BatchingOptions(enabled=False))
        tasks = [asyncio.create_task(batcher.submit(frame_of(i, 1))) for i in range(3)]
        while len(model.calls) < 3:
            await asyncio.sleep(0.001)
        closing = asyncio.create_task(batcher.close())
        await asyncio.sleep(0.01)
        assert not closing.done()
        gate.set()
        await closing
        return tasks

    tasks = run(main)
    assert all(task.done() and not task.cancelled() for task in tasks)


def test_on_batch_hook_sees_every_call_and_its_errors_are_ignored() -> None:
    seen: list[tuple[int, float]] = []

    def hook(rows: int, seconds: float) -> None:
        seen.append((rows, seconds))
        raise RuntimeError("metrics backend down")

    frames = [frame_of(i, 3) for i in range(5)]

    async def main() -> list[Any]:
        batcher = MicroBatcher(FakeModel(), BatchingOptions(), on_batch=hook)
        outputs = await submit_all(batcher, frames)
        await batcher.close()
        assert batcher.stats.last_batch_rows == seen[-1][0]
        return outputs

    outputs = run(main)
    for output, frame in zip(outputs, frames, strict=True):
        assert_output_of(output, frame)
    assert sum(rows for rows, _ in seen) == 15
    assert all(seconds >= 0 for _, seconds in seen)


def test_cost_model_learns_call_overhead_and_row_cost() -> None:
    """Check that the learned costs are of the right size (generous bounds: a busy CI)."""

    def model(frame: pd.DataFrame) -> BatchOutput:
        time.sleep(0.02 + 0.001 * len(frame))
        return BatchOutput(frame["x"].to_numpy())

    async def main() -> MicroBatcher:
        batcher = MicroBatcher(model, BatchingOptions(max_wait_ms=0))
        for size in [1, 5, 10, 20, 40] * 3:
            await batcher.submit(frame_of(0, size))
        await batcher.close()
        return batcher

    stats = run(main).stats
    assert 0.01 < stats.call_seconds < 0.1
    assert 0.0003 < stats.row_seconds < 0.005


def test_a_batcher_is_bound_to_one_event_loop() -> None:
    batcher = MicroBatcher(FakeModel(), BatchingOptions())

    async def once() -> None:
        await batcher.submit(frame_of(0, 1))

    run(once)
    with pytest.raises(RuntimeError, match="bound to the event loop"):
        run(once)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_wait_ms": -1}, "The 'max_wait_ms' option must be a number >= 0. Got -1 instead."),
        ({"max_wait_ms": float("nan")}, "The 'max_wait_ms' option must be a number >= 0."),
        ({"max_wait_ms": "5"}, "The 'max_wait_ms' option must be a number >= 0. Got '5'"),
        ({"max_batch_rows": 0}, "The 'max_batch_rows' option must be an integer >= 1. Got 0"),
        ({"max_batch_rows": 2.5}, "The 'max_batch_rows' option must be an integer >= 1."),
        ({"max_batch_rows": True}, "The 'max_batch_rows' option must be an integer >= 1."),
        ({"enabled": "yes"}, "The 'enabled' option must be true or false. Got 'yes' instead."),
    ],
)
def test_invalid_options_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        BatchingOptions(**kwargs)
    assert str(info.value).startswith(message)


def test_batch_output_rows_must_align() -> None:
    with pytest.raises(ValueError, match="row-aligned"):
        BatchOutput(np.zeros(3), np.zeros((2, 2)))
    out = BatchOutput(np.arange(4), None)
    assert out[1:3].predictions.tolist() == [1, 2]
    assert out[1:3].probabilities is None
