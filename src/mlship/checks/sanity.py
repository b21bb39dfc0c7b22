"""Model sanity (CI layer 3): it loads, predicts the right shape and kind, no NaN, valid
probabilities, deterministic, and how fast and how big it is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlship.checks.results import CheckResult
from mlship.checks.sample import sample_from_profile
from mlship.errors import ConfigError, MlshipError

if TYPE_CHECKING:
    import pandas as pd

    from mlship.registry import LoadedModel, ModelVersion, Registry


@dataclass(frozen=True, slots=True)
class SanityConfig:
    """How much work the sanity checks do."""

    batch_rows: int = 1000
    """Rows in the batch that is predicted (and timed)."""
    single_row_calls: int = 100
    """Single-row predictions timed for the latency percentiles."""
    batch_calls: int = 10
    measure_memory: bool = True
    """Measure peak RSS of load + predict in a child process (about 2 s)."""
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("batch_rows", "single_row_calls", "batch_calls"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"The {name!r} option must be an integer >= 1. Got {value!r}.")


@dataclass(frozen=True, slots=True)
class Latency:
    """Latency percentiles in milliseconds."""

    p50: float
    p95: float
    p99: float

    @classmethod
    def of(cls, seconds: list[float]) -> Latency:
        ms = np.asarray(seconds) * 1000
        p50, p95, p99 = np.percentile(ms, [50, 95, 99])
        return cls(float(p50), float(p95), float(p99))

    def to_dict(self) -> dict[str, float]:
        return {"p50_ms": self.p50, "p95_ms": self.p95, "p99_ms": self.p99}


@dataclass(frozen=True, slots=True)
class SanityOutcome:
    """The sanity results plus the measurements gates reuse."""

    results: list[CheckResult]
    single_row: Latency | None
    batch: Latency | None
    peak_rss_mb: float | None


def run_sanity(
    registry: Registry,
    ref: str,
    *,
    data: pd.DataFrame | None = None,
    config: SanityConfig | None = None,
) -> SanityOutcome:
    """Load ``ref`` and run every sanity check on ``data`` (or a sample drawn from its profile)."""
    config = config or SanityConfig()
    version = registry.get(ref)
    results: list[CheckResult] = []
    try:
        model = registry.load(ref)
    except MlshipError as exc:
        results.append(CheckResult("sanity:loads", "sanity", "fail", f"Does not load: {exc}"))
        return SanityOutcome(results, None, None, None)
    results.append(
        CheckResult(
            "sanity:loads",
            "sanity",
            "pass",
            f"Loads; SHA-256 {version.artifact_sha256[:12]} verified.",
            figures={"artifact_bytes": version.artifact_size},
        )
    )
    batch = _batch(version, data, config)
    if batch is None:
        results.append(
            CheckResult(
                "sanity:predicts",
                "sanity",
                "skip",
                "No data and no stored profile to draw a sample from; pass --data.",
            )
        )
        return SanityOutcome(results, None, None, None)
    try:
        labels = np.asarray(model.predict(batch))
        proba = np.asarray(model.predict_proba(batch)) if model.has_proba else None
    except MlshipError as exc:
        results.append(CheckResult("sanity:predicts", "sanity", "fail", str(exc)))
        return SanityOutcome(results, None, None, None)
    except Exception as exc:  # the model's own code failed: that is the finding
        results.append(
            CheckResult(
                "sanity:predicts",
                "sanity",
                "fail",
                f"predict raised {type(exc).__name__}: {exc}",
            )
        )
        return SanityOutcome(results, None, None, None)
    results.append(
        CheckResult(
            "sanity:predicts",
            "sanity",
            "pass",
            f"Predicted {len(batch)} rows.",
            figures={"rows": len(batch)},
        )
    )
    results += _output_checks(version, batch, labels, proba)
    results.append(_determinism(model, batch, labels, proba))
    single, many = _latency(model, batch, config)
    results.append(
        CheckResult(
            "sanity:latency",
            "sanity",
            "pass",
            f"1 row: p50 {single.p50:.2f} ms, p95 {single.p95:.2f} ms, p99 {single.p99:.2f} ms; "
            f"{len(batch)} rows: p50 {many.p50:.1f} ms.",
            figures={
                "single_row": single.to_dict(),
                "batch": many.to_dict(),
                "batch_rows": len(batch),
            },
        )
    )
    peak = None
    if config.measure_memory:
        peak_result, peak = _memory(registry, version, config)
        results.append(peak_result)
    return SanityOutcome(results, single, many, peak)


def _batch(
    version: ModelVersion, data: pd.DataFrame | None, config: SanityConfig
) -> pd.DataFrame | None:
    if data is not None:
        return data.head(config.batch_rows)
    if version.signature is None or version.data_profile is None:
        return None
    return sample_from_profile(
        version.data_profile, version.signature, config.batch_rows, seed=config.seed
    )


def _output_checks(
    version: ModelVersion, batch: pd.DataFrame, labels: np.ndarray, proba: np.ndarray | None
) -> list[CheckResult]:
    results = []
    n = len(batch)
    shape_ok = labels.shape[0] == n and labels.ndim in (1, 2)
    results.append(
        CheckResult(
            "sanity:output_shape",
            "sanity",
            "pass" if shape_ok else "fail",
            f"Output shape {labels.shape} for {n} rows"
            + ("." if shape_ok else f"; expected ({n},)."),
            figures={"shape": list(labels.shape), "rows": n},
        )
    )
    sig = version.signature
    if sig is not None and sig.output_kind == "classification" and sig.classes is not None:
        known = {str(c) for c in sig.classes}
        unknown = sorted({str(v) for v in np.unique(labels.astype(object))} - known)
        results.append(
            CheckResult(
                "sanity:output_kind",
                "sanity",
                "fail" if unknown else "pass",
                f"Predicted labels outside the classes {sorted(known)}: {unknown[:5]}."
                if unknown
                else "Every predicted label is one of the model's classes.",
            )
        )
    non_finite = 0
    if labels.dtype.kind in "fc":
        non_finite = int((~np.isfinite(labels)).sum())
    if proba is not None:
        non_finite += int((~np.isfinite(proba)).sum())
    results.append(
        CheckResult(
            "sanity:no_nan",
            "sanity",
            "fail" if non_finite else "pass",
            f"{non_finite} NaN or infinite output value(s) in {n} rows."
            if non_finite
            else "No NaN or infinite outputs.",
            figures={"non_finite": non_finite},
        )
    )
    if proba is not None and non_finite == 0:
        out_of_range = int(((proba < -1e-9) | (proba > 1 + 1e-9)).sum())
        worst_sum = float(np.abs(proba.sum(axis=1) - 1).max()) if len(proba) else 0.0
        ok = out_of_range == 0 and worst_sum <= 1e-6
        results.append(
            CheckResult(
                "sanity:probabilities",
                "sanity",
                "pass" if ok else "fail",
                "Probabilities lie in [0, 1] and sum to 1."
                if ok
                else f"{out_of_range} probabilities outside [0, 1]; rows sum to 1 within "
                f"{worst_sum:.2g} (needs 1e-6).",
                figures={"out_of_range": out_of_range, "max_sum_error": worst_sum},
            )
        )
    return results


def _determinism(
    model: LoadedModel, batch: pd.DataFrame, labels: np.ndarray, proba: np.ndarray | None
) -> CheckResult:
    again = np.asarray(model.predict(batch))
    same = np.array_equal(again, labels, equal_nan=labels.dtype.kind == "f")
    if proba is not None:
        same = same and np.array_equal(
            np.asarray(model.predict_proba(batch)), proba, equal_nan=True
        )
    return CheckResult(
        "sanity:deterministic",
        "sanity",
        "pass" if same else "fail",
        "The same input gives the same output."
        if same
        else "The same input gave different outputs on a second call.",
    )


def _latency(
    model: LoadedModel, batch: pd.DataFrame, config: SanityConfig
) -> tuple[Latency, Latency]:
    predict = model.predict_proba if model.has_proba else model.predict
    one = batch.head(1)
    predict(one)  # warm-up
    single = []
    for _ in range(config.single_row_calls):
        start = time.perf_counter()
        predict(one)
        single.append(time.perf_counter() - start)
    many = []
    for _ in range(config.batch_calls):
        start = time.perf_counter()
        predict(batch)
        many.append(time.perf_counter() - start)
    return Latency.of(single), Latency.of(many)


def _memory(
    registry: Registry, version: ModelVersion, config: SanityConfig
) -> tuple[CheckResult, float | None]:
    env = {
        **os.environ,
        "MLSHIP_DB_URL": registry.store.engine.url.render_as_string(hide_password=False),
        "MLSHIP_ARTIFACTS": registry.artifacts.root,
    }
    if registry.artifacts.s3_endpoint_url:
        env["MLSHIP_S3_ENDPOINT_URL"] = registry.artifacts.s3_endpoint_url
    proc = subprocess.run(
        [sys.executable, "-m", "mlship.checks.memory_probe", version.ref, str(config.batch_rows)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return CheckResult(
            "sanity:memory", "sanity", "fail", f"The memory probe failed: {last}"
        ), None
    figures: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    peak = float(figures["peak_rss_mb"])
    return (
        CheckResult(
            "sanity:memory",
            "sanity",
            "pass",
            f"Peak RSS of load + predict: {peak:.0f} MB (child process); artifact "
            f"{version.artifact_size / 1e6:.2f} MB.",
            figures={**figures, "artifact_mb": version.artifact_size / 1e6},
        ),
        peak,
    )
