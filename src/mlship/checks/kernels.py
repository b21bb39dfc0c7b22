"""Weighted metric kernels: each maps an ``(r, n)`` matrix of row weights to ``r`` values.

A bootstrap resample is a vector of per-row counts, so a block of resamples is one weight matrix and
one kernel call scores the whole block. Sums are ``einsum``/``bincount`` passes; ROC AUC and average
precision sort once (in :func:`auc_kernel` / :func:`ap_kernel`) and then use cumulative weight sums.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
WeightedScore = Callable[[FloatArray], FloatArray]
"""Scores each row of an ``(r, n)`` weight matrix: returns ``r`` values (NaN where undefined)."""


def divide(num: FloatArray, den: FloatArray, fill: float) -> FloatArray:
    out = np.full(np.broadcast(num, den).shape, fill)
    np.divide(num, den, out=out, where=den != 0)
    return out


def weighted_mean(weights: FloatArray, values: FloatArray) -> FloatArray:
    total: FloatArray = np.einsum("rn,n->r", weights, values)
    counts: FloatArray = weights.sum(axis=1)
    return total / counts


def group_sums(weights: FloatArray, groups: IntArray, count: int) -> FloatArray:
    """``out[r, g]`` = the weight of row ``r`` summed over the columns in group ``g``."""
    r = weights.shape[0]
    if r == 1:
        sums = np.bincount(groups, weights=weights[0], minlength=count)[np.newaxis, :]
        return sums.astype(np.float64, copy=False)
    keys = groups + (np.arange(r, dtype=np.intp) * count)[:, np.newaxis]
    sums = np.bincount(keys.ravel(), weights=weights.ravel(), minlength=r * count)
    return sums.reshape(r, count).astype(np.float64, copy=False)


def padded_cumsum(values: FloatArray) -> FloatArray:
    """Cumulative sums along rows with a leading 0: ``out[:, j]`` = sum of the first j."""
    out = np.empty((values.shape[0], values.shape[1] + 1))
    out[:, 0] = 0.0
    np.cumsum(values, axis=1, out=out[:, 1:])
    return out


def _split(
    positive: npt.NDArray[np.bool_], score: FloatArray, descending: bool
) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """Positive and negative rows, each sorted by score, with their sorted scores."""
    key = -score if descending else score
    pos, neg = np.flatnonzero(positive), np.flatnonzero(~positive)
    pos = pos[np.argsort(key[pos], kind="stable")]
    neg = neg[np.argsort(key[neg], kind="stable")]
    return pos, neg, key[pos], key[neg]


def auc_kernel(positive: npt.NDArray[np.bool_], score: FloatArray) -> WeightedScore:
    """Weighted ROC AUC with ties counted half, as sklearn's trapezoid over tie groups.

    The area is the weight of (positive, negative) pairs ordered right, ties counting half,
    over ``P * N``. Only the smaller class is cumulated (sorted by score, ``C``); a row of the
    other class adds ``w * (C[lower] + C[lower_or_equal]) / 2``, the weight below it. With
    positives cumulated, that counts the pairs ordered wrong: the area is then ``P * N`` minus it.
    """
    pos, neg, pos_key, neg_key = _split(positive, score, descending=False)
    flip = len(pos) < len(neg)
    small, large = (pos, neg) if flip else (neg, pos)
    small_key, large_key = (pos_key, neg_key) if flip else (neg_key, pos_key)
    lower = np.searchsorted(small_key, large_key, side="left")
    lower_or_equal = np.searchsorted(small_key, large_key, side="right")
    tied = bool(np.any(lower != lower_or_equal))
    rows, split = np.concatenate([small, large]), len(small)

    def auc(weights: FloatArray) -> FloatArray:
        ordered = weights.take(rows, axis=1)
        cumulated = padded_cumsum(ordered[:, :split])
        large_weights = ordered[:, split:]
        below = cumulated.take(lower, axis=1)
        if tied:
            below += cumulated.take(lower_or_equal, axis=1)
            below *= 0.5
        pairs: FloatArray = np.einsum("rn,rn->r", large_weights, below)
        both = large_weights.sum(axis=1) * cumulated[:, -1]
        return divide(both - pairs if flip else pairs, both, math.nan)

    return auc


def ap_kernel(positive: npt.NDArray[np.bool_], score: FloatArray) -> WeightedScore:
    """Weighted average precision: over the positives by decreasing score, the recall each adds
    times the precision at its score (the weight of positives, of all rows, scoring at least as
    high), as sklearn's step-function sum over thresholds."""
    pos, neg, pos_key, neg_key = _split(positive, score, descending=True)
    hits_through = np.searchsorted(pos_key, pos_key, side="right")
    misses_through = np.searchsorted(neg_key, pos_key, side="right")
    rows, split = np.concatenate([pos, neg]), len(pos)

    def average_precision(weights: FloatArray) -> FloatArray:
        ordered = weights.take(rows, axis=1)
        pos_weights = ordered[:, :split]
        hits = padded_cumsum(pos_weights)
        found = hits.take(hits_through, axis=1)
        seen = padded_cumsum(ordered[:, split:]).take(misses_through, axis=1)
        seen += found
        precision = divide(found, seen, 0.0)
        total = np.einsum("rn,rn->r", pos_weights, precision)
        return divide(total, hits[:, -1], math.nan)

    return average_precision


def mean_kernel(kernels: list[WeightedScore]) -> WeightedScore:
    if len(kernels) == 1:
        return kernels[0]

    def mean(weights: FloatArray) -> FloatArray:
        values: FloatArray = np.mean([k(weights) for k in kernels], axis=0)
        return values

    return mean
