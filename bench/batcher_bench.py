"""Micro-batcher benchmark: N concurrent 1-row callers of a real model, batching on vs off.

The model is a scikit-learn ``HistGradientBoostingClassifier`` (100 trees) on 20 numeric
features. Each of N callers (N = 1, 8, 32 by default) sends a 1-row DataFrame, awaits the answer
and sends the next, for a few seconds per configuration, all on one asyncio event loop with the
model run in a thread pool, as the server does. Prints predictions/s and p50/p99 latency.

Run ``python bench/batcher_bench.py`` from the repository root (``--seconds``, ``--callers``,
``--json PATH`` to also write the figures).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier

from mlship.serving.batcher import BatchingOptions, BatchOutput, MicroBatcher

FEATURES = 20
POOL_THREADS = 8


def train() -> tuple[HistGradientBoostingClassifier, pd.DataFrame]:
    """A seeded classifier and a held-out frame to draw request rows from."""
    x, y = make_classification(
        n_samples=22_000, n_features=FEATURES, n_informative=12, random_state=0
    )
    columns = [f"f{i}" for i in range(FEATURES)]
    frame = pd.DataFrame(x, columns=columns)
    model = HistGradientBoostingClassifier(max_iter=100, random_state=0)
    model.fit(frame.iloc[:20_000], y[:20_000])
    return model, frame.iloc[20_000:].reset_index(drop=True)


def predictor(model: HistGradientBoostingClassifier) -> Any:
    classes = model.classes_

    def predict(frame: pd.DataFrame) -> BatchOutput:
        proba = model.predict_proba(frame)
        return BatchOutput(classes[np.argmax(proba, axis=1)], proba)

    return predict


def call_cost(predict: Any, held_out: pd.DataFrame, rows: int, repeat: int = 200) -> float:
    """Median seconds of one direct predict call on ``rows`` rows."""
    frame = held_out.iloc[:rows]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        predict(frame)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


async def load(
    predict: Any, requests: list[pd.DataFrame], callers: int, seconds: float, batching: bool
) -> dict[str, Any]:
    with ThreadPoolExecutor(max_workers=POOL_THREADS) as pool:
        batcher = MicroBatcher(predict, BatchingOptions(enabled=batching), executor=pool)
        latencies: list[float] = []
        counting = False

        async def caller(index: int, deadline: float) -> None:
            i = index
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                await batcher.submit(requests[i % len(requests)])
                if counting:
                    latencies.append(time.perf_counter() - start)
                i += callers

        # Warm-up (also lets the batcher learn the model's costs), then the measured run.
        warm = time.perf_counter() + min(0.5, seconds / 4)
        await asyncio.gather(*(caller(k, warm) for k in range(callers)))
        before = batcher.stats
        counting = True
        start = time.perf_counter()
        await asyncio.gather(*(caller(k, start + seconds) for k in range(callers)))
        elapsed = time.perf_counter() - start
        await batcher.close()
        stats = batcher.stats
    ms = np.array(latencies) * 1000
    batches = stats.batches - before.batches
    return {
        "batching": batching,
        "callers": callers,
        "predictions_per_s": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "predict_calls": batches,
        "mean_batch_rows": (stats.rows - before.rows) / batches if batches else 0.0,
        "learned_call_ms": stats.call_seconds * 1000,
        "learned_row_ms": stats.row_seconds * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measured time per run")
    parser.add_argument("--callers", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    model, held_out = train()
    predict = predictor(model)
    requests = [held_out.iloc[[i]].reset_index(drop=True) for i in range(len(held_out))]
    cost_1, cost_32 = call_cost(predict, held_out, 1), call_cost(predict, held_out, 32)
    print(
        f"HistGradientBoostingClassifier, {FEATURES} features, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}, sklearn {sklearn.__version__}; one direct call: "
        f"{cost_1 * 1000:.2f} ms for 1 row, {cost_32 * 1000:.2f} ms for 32 rows"
    )
    header = (
        f"{'callers':>7} {'batching':>8} {'pred/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'calls':>7} {'rows/call':>9} {'call ms':>8} {'row ms':>7}"
    )
    print(header)
    results = []
    for callers in args.callers:
        for batching in (False, True):
            r = asyncio.run(load(predict, requests, callers, args.seconds, batching))
            results.append(r)
            print(
                f"{callers:>7} {'on' if batching else 'off':>8} {r['predictions_per_s']:>9.0f} "
                f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['predict_calls']:>7} "
                f"{r['mean_batch_rows']:>9.1f} {r['learned_call_ms']:>8.3f} "
                f"{r['learned_row_ms']:>7.4f}"
            )
    if args.json is not None:
        meta = {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg()[0],
        }
        payload = {"meta": meta, "call_ms": [cost_1 * 1000, cost_32 * 1000], "runs": results}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
