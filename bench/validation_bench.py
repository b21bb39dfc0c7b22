"""Data-validation benchmark: ``validate_frame`` on 1,000,000 rows x 50 columns (target < 2 s).

The columns mix 25 floats, 10 ints and 15 string categoricals (pandas' default ``str`` dtype, as
``read_csv``/``read_parquet`` give). The expectations come from the profile of a training frame
drawn from the same distributions; the checked frame has a little damage (missing values, values
out of range, unseen categories), so every rule does its full work.

Run ``python bench/validation_bench.py`` from the repository root. Prints the figures and writes
``bench/results/validation.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlship.checks.expectations import expectations_from_profile
from mlship.checks.validation import ValidationConfig, validate_frame
from mlship.registry.profile import profile_frame

BENCH = Path(__file__).resolve().parent
TARGET_S = 2.0
FLOATS, INTS, STRINGS = 25, 10, 15


def make_frame(rows: int, seed: int, *, damaged: bool) -> pd.DataFrame:
    """A seeded frame of ``FLOATS`` float, ``INTS`` int and ``STRINGS`` string columns."""
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for i in range(FLOATS):
        values = rng.normal(loc=i, scale=1 + i, size=rows)
        if damaged:
            values[rng.random(rows) < 0.02] = np.nan
            values[rng.random(rows) < 0.005] *= 100
        columns[f"f{i}"] = values
    for i in range(INTS):
        columns[f"i{i}"] = rng.integers(0, 1000 * (i + 1), size=rows)
    for i in range(STRINGS):
        levels = np.array([f"c{i}_{k}" for k in range(10 + 20 * i)] + ["unseen_a", "unseen_b"])
        n_known = len(levels) - 2
        codes = rng.integers(0, n_known, size=rows)
        if damaged:
            codes[rng.random(rows) < 0.003] = n_known + rng.integers(0, 2)
        text = pd.Series(levels[codes], dtype="str")
        if damaged:
            text[rng.random(rows) < 0.01] = None
        columns[f"s{i}"] = text
    return pd.DataFrame(columns)


def measure(rows: int, repeat: int) -> dict[str, Any]:
    train = make_frame(rows, seed=1, damaged=False)
    start = time.perf_counter()
    profile = profile_frame(train)
    profile_s = time.perf_counter() - start
    del train
    expectations = expectations_from_profile(profile)
    current = make_frame(rows, seed=2, damaged=True)
    config = ValidationConfig()
    times = []
    results = []
    for _ in range(repeat):
        start = time.perf_counter()
        results = validate_frame(current, expectations, config)
        times.append(time.perf_counter() - start)
    statuses = {s: sum(r.status == s for r in results) for s in ("pass", "warn", "fail", "skip")}
    return {
        "rows": rows,
        "columns": current.shape[1],
        "first_s": times[0],
        "median_s": statistics.median(times),
        "min_s": min(times),
        "repeat": repeat,
        "profile_train_s": profile_s,
        "results": len(results),
        "statuses": statuses,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "validation.json")
    args = parser.parse_args(argv)

    figures = measure(args.rows, args.repeat)
    passed = figures["median_s"] < TARGET_S
    print(
        f"validate_frame {figures['rows']:,} rows x {figures['columns']} columns: "
        f"median {figures['median_s']:.3f} s over {figures['repeat']} runs "
        f"(first {figures['first_s']:.3f} s, min {figures['min_s']:.3f} s; "
        f"target < {TARGET_S:g} s: {'PASS' if passed else 'FAIL'})"
    )
    print(f"results: {figures['results']} checks {figures['statuses']}")
    report = {
        "meta": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": _cpus(),
            "packages": {p: metadata.version(p) for p in ("mlship", "pandas", "numpy", "pyarrow")},
            "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
        "target_s": TARGET_S,
        "passed": passed,
        **figures,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if passed else 1


def _cpus() -> int | None:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    sys.exit(main())
