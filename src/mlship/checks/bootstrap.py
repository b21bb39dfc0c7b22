"""The paired bootstrap: is the candidate's metric better than the baseline's beyond noise?

Both models are scored on the same resampled rows, so the interval is of the difference on the
same data, much narrower than two separate intervals. A resample is a vector of counts (how often
each row was drawn); a block of resamples is a count matrix, and every built-in metric scores a
whole block with a few array passes (:class:`~mlship.checks.metrics.Scorer.weights`). Blocks are
small enough to stay in the CPU cache and are spread over threads (numpy releases the GIL for much
of the work). A user metric falls back to a plain loop over the same resamples: correct, slower.
The interval is the percentile interval of the differences (``numpy.quantile``, linear).

Resample ``r`` is drawn by its own generator, seeded by ``SeedSequence(seed, spawn_key=(r,))``, so
the rows of each resample depend only on ``(n, seed, r)``: not on blocks, threads or the number of
resamples. :func:`resample_indices` yields them, so that anyone can recompute the interval.

Example:

>>> import numpy as np
>>> from mlship.checks.metrics import Predictions, get_metric
>>> y = np.array([0, 1] * 50)
>>> better, worse = Predictions(y.copy()), Predictions(np.zeros_like(y))
>>> result = paired_bootstrap(get_metric("accuracy"), y, better, worse, resamples=200)
>>> result.difference, result.low > 0
(0.5, True)
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mlship.checks.kernels import FloatArray, IntArray
from mlship.checks.metrics import Metric, Predictions, Scorer
from mlship.errors import ConfigError, InvalidInput

_BLOCK_CELLS = 1 << 16
"""Count-matrix cells per block (512 KiB of float64): a block and its temporaries stay in cache."""
_MEMORY_BUDGET = 400 << 20
"""Bytes of temporaries all threads may hold at once (about eight block-sized arrays each)."""


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    """A paired bootstrap of ``candidate - baseline`` for one metric.

    ``difference`` and the interval are candidate minus baseline in the metric's raw units; a
    gain is positive when ``greater_is_better``, negative otherwise (e.g. rmse, log_loss).
    """

    metric: str
    greater_is_better: bool
    candidate: float
    baseline: float
    difference: float
    low: float
    """Lower end of the percentile interval of the difference."""
    high: float
    resamples: int
    confidence: float
    seed: int
    n: int
    """Rows in the evaluation set (each resample draws ``n`` of them with replacement)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "greater_is_better": self.greater_is_better,
            "candidate": self.candidate,
            "baseline": self.baseline,
            "difference": self.difference,
            "low": self.low,
            "high": self.high,
            "resamples": self.resamples,
            "confidence": self.confidence,
            "seed": self.seed,
            "n": self.n,
        }


def resample_indices(
    n: int, resamples: int, seed: int = 0, *, chunk: int | None = None
) -> Iterator[IntArray]:
    """Yield the bootstrap resamples as ``(rows, n)`` index matrices, ``chunk`` rows at a time.

    Row ``r`` of the whole sequence holds the ``n`` row indices drawn for resample ``r``; it is
    the same whatever ``chunk`` is, and whatever ``resamples`` is beyond ``r``.
    """
    _check_options(resamples, 0.5, seed)
    if not (isinstance(n, int) and n >= 1):
        raise ConfigError(f"The 'n' argument must be an integer >= 1. Got {n!r} instead.")
    size = chunk if chunk is not None else _block_rows(n)
    if not (isinstance(size, int) and size >= 1):
        raise ConfigError(f"The 'chunk' option must be an integer >= 1. Got {size!r} instead.")
    for start in range(0, resamples, size):
        yield _draw(n, seed, start, min(size, resamples - start))


def paired_bootstrap(
    metric: Metric,
    y_true: npt.ArrayLike,
    candidate: Predictions,
    baseline: Predictions,
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    threads: int | None = None,
) -> BootstrapResult:
    """Percentile interval of ``metric(candidate) - metric(baseline)`` over paired resamples.

    Each resample draws ``n`` rows with replacement; both models are scored on those same rows.
    ``threads`` defaults to the CPUs available (capped by memory for very large ``n``); the
    result does not depend on it. A metric undefined on some resample (e.g. roc_auc on a
    resample with one class) raises :class:`~mlship.errors.InvalidInput` rather than giving NaN.
    """
    _check_options(resamples, confidence, seed)
    if threads is not None and not (isinstance(threads, int) and threads >= 1):
        raise ConfigError(f"The 'threads' option must be an integer >= 1. Got {threads!r} instead.")
    y = np.asarray(y_true)
    cand = metric.bind(y, candidate)
    base = metric.bind(y, baseline)
    cand_value, base_value = cand.rows(None), base.rows(None)
    n = cand.n
    if not (math.isfinite(cand_value) and math.isfinite(base_value)):
        why = f": {metric.undefined_when}" if metric.undefined_when else ""
        raise InvalidInput(f"{metric.name} is undefined on these rows{why}.")
    if cand.weights is not None and base.weights is not None:
        cand_values, base_values = _vectorized(cand, base, n, resamples, seed, threads)
    else:
        cand_values, base_values = _loop(cand, base, n, resamples, seed)
    undefined = ~(np.isfinite(cand_values) & np.isfinite(base_values))
    if undefined.any():
        why = f" ({metric.undefined_when})" if metric.undefined_when else ""
        raise InvalidInput(
            f"{metric.name} is undefined on {int(undefined.sum())} of {resamples} bootstrap "
            f"resamples of the {n} rows{why}. Gate on more rows, or choose another metric."
        )
    differences = cand_values - base_values
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(differences, [tail, 1.0 - tail])
    return BootstrapResult(
        metric=metric.name,
        greater_is_better=metric.greater_is_better,
        candidate=cand_value,
        baseline=base_value,
        difference=cand_value - base_value,
        low=float(low),
        high=float(high),
        resamples=resamples,
        confidence=confidence,
        seed=seed,
        n=n,
    )


def _check_options(resamples: int, confidence: float, seed: int) -> None:
    if not (isinstance(resamples, int) and resamples >= 1):
        raise ConfigError(
            f"The 'resamples' option must be an integer >= 1. Got {resamples!r} instead."
        )
    if not (isinstance(confidence, int | float) and 0 < confidence < 1):
        raise ConfigError(
            f"The 'confidence' option must be a number between 0 and 1 (exclusive). "
            f"Got {confidence!r} instead."
        )
    if not (isinstance(seed, int) and seed >= 0):
        raise ConfigError(f"The 'seed' option must be an integer >= 0. Got {seed!r} instead.")


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _block_rows(n: int) -> int:
    return max(1, _BLOCK_CELLS // n)


def _draw(n: int, seed: int, start: int, count: int) -> IntArray:
    """Rows ``start .. start + count`` of the resample index sequence."""
    rows = [_generator(seed, r).integers(0, n, size=n) for r in range(start, start + count)]
    return rows[0][np.newaxis, :] if count == 1 else np.stack(rows)


def _generator(seed: int, resample: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(resample,))))


def _counts(n: int, seed: int, start: int, count: int) -> FloatArray:
    """The count matrix of a block: ``out[r, i]`` = how often resample ``r`` drew row ``i``."""
    indices = _draw(n, seed, start, count)
    if count > 1:
        indices += (np.arange(count, dtype=np.intp) * n)[:, np.newaxis]
    counts = np.bincount(indices.ravel(), minlength=count * n)
    return counts.reshape(count, n).astype(np.float64)


def _vectorized(
    cand: Scorer, base: Scorer, n: int, resamples: int, seed: int, threads: int | None
) -> tuple[FloatArray, FloatArray]:
    assert cand.weights is not None and base.weights is not None
    score_cand, score_base = cand.weights, base.weights
    rows = _block_rows(n)
    starts = range(0, resamples, rows)

    def block(start: int) -> tuple[FloatArray, FloatArray]:
        counts = _counts(n, seed, start, min(rows, resamples - start))
        return score_cand(counts), score_base(counts)

    per_thread = 8 * 8 * rows * n  # bytes: about eight block-sized float64 arrays in flight
    workers = threads or min(_cpus(), max(1, _MEMORY_BUDGET // per_thread))
    workers = min(workers, len(starts))
    if workers == 1:
        parts = [block(s) for s in starts]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bootstrap") as pool:
            parts = list(pool.map(block, starts))
    return np.concatenate([c for c, _ in parts]), np.concatenate([b for _, b in parts])


def _loop(
    cand: Scorer, base: Scorer, n: int, resamples: int, seed: int
) -> tuple[FloatArray, FloatArray]:
    cand_values = np.empty(resamples)
    base_values = np.empty(resamples)
    r = 0
    for block in resample_indices(n, resamples, seed):
        for idx in block:
            cand_values[r], base_values[r] = cand.rows(idx), base.rows(idx)
            r += 1
    return cand_values, base_values
