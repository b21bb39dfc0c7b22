"""A reference distribution known only by its profile (a registered version's stored summary).

The profile keeps, per numeric feature, 101 quantiles (every percentile, numpy's linear
interpolation) and a 20-bin equal-width histogram over [min, max], not the data.
:class:`QuantileCdf` is the CDF through every point the profile knows exactly: each percentile
``(q_k, k/100)`` and each histogram edge ``(e, share of values below e)``, linear between them,
0 below the minimum and 1 above the maximum. A value that fills several percentiles (ties,
discrete columns) is a vertical jump. The histogram edges matter in the tails: the top and bottom
percent of the data lie between one percentile and the extreme, where the edges are the only
other points known (without them the Wasserstein distance of a log-normal column is off by a
fifth of a standard deviation; with them by about a hundredth).

Against it the statistics are *approximations*:

- **KS**: the one-sample KS statistic of the current sample against this CDF. Between two known
  points both this CDF and the reference's empirical CDF lie between the points' levels, at most
  a percent apart, so the statistic is within ``0.01 + 1/n_ref`` of the two-sample statistic
  against the full reference. The p-value is Smirnov's asymptotic one with the reference's count
  (scipy's rule for large samples), also for small samples.
- **Wasserstein**: the area between this CDF and the current empirical CDF, computed exactly
  piece by piece. Its error is the area between this CDF and the reference's empirical CDF.
- **PSI and Jensen-Shannon**: the cut points are interpolated from the stored percentiles (with
  the default 10 bins they *are* stored percentiles, the same numbers a frame gives) and the
  reference's share of each bin is read off this CDF: exact up to ties.

``docs/drift.md`` lists the measured differences (the tests hold them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from mlship.monitoring.statistics import FloatArray


@dataclass(frozen=True, slots=True)
class QuantileCdf:
    """The piecewise-linear CDF through ``(knots[i], levels[i])``.

    ``knots`` are non-decreasing finite values, ``levels`` increasing probabilities from 0 to 1.

    >>> import numpy as np
    >>> cdf = QuantileCdf(np.array([0.0, 1.0]), np.array([0.0, 1.0]))
    >>> cdf.at(np.array([-1.0, 0.25, 2.0])).tolist()
    [0.0, 0.25, 1.0]
    """

    knots: FloatArray
    levels: FloatArray

    def at(self, x: FloatArray, side: Literal["right", "left"] = "right") -> FloatArray:
        """``F(x)`` (``side="right"``) or its left limit ``F(x-)`` (``side="left"``)."""
        q, lv = self.knots, self.levels
        j = np.searchsorted(q, x, side=side) - 1
        inside = np.clip(j, 0, len(q) - 2)
        q0 = q[inside]
        width = q[inside + 1] - q0
        frac = np.divide(x - q0, width, out=np.ones_like(x), where=width > 0)
        out: FloatArray = lv[inside] + (lv[inside + 1] - lv[inside]) * np.clip(frac, 0.0, 1.0)
        out[j < 0] = 0.0
        out[j >= len(q) - 1] = 1.0
        return out

    def shares(self, cuts: FloatArray) -> FloatArray:
        """The reference's share of each bin ``(-inf, c1), [c1, c2), ..., [c_last, inf)``."""
        inner = self.at(np.asarray(cuts, dtype=np.float64), side="left")
        return np.diff(np.concatenate(([0.0], inner, [1.0])))

    def ks_statistic(self, sorted_values: FloatArray) -> float:
        """The largest gap between this CDF and the empirical CDF of a sorted, finite sample."""
        n = len(sorted_values)
        index = np.arange(n, dtype=np.float64)
        ends = np.empty(n, dtype=bool)
        np.not_equal(sorted_values[1:], sorted_values[:-1], out=ends[:-1])
        ends[-1] = True
        starts = np.empty(n, dtype=bool)
        starts[0] = True
        starts[1:] = ends[:-1]
        above = np.abs(self.at(sorted_values[ends]) - (index[ends] + 1) / n)
        below = np.abs(self.at(sorted_values[starts], side="left") - index[starts] / n)
        return float(max(above.max(), below.max()))

    def wasserstein(self, sorted_values: FloatArray) -> float:
        """The area between this CDF and the empirical CDF of a sorted, finite sample."""
        n = len(sorted_values)
        both = np.concatenate((sorted_values, self.knots))
        order = np.argsort(both, kind="stable")
        grid = both[order]
        current = np.cumsum(order < n)[:-1] / n  # the sample's CDF on [grid[t], grid[t + 1])
        del order, both
        start = self.at(grid[:-1]) - current
        end = self.at(grid[1:], side="left") - current
        width = np.diff(grid)
        same_side = start * end >= 0
        span = np.abs(start) + np.abs(end)
        crossing = np.divide(start**2 + end**2, span, out=np.zeros_like(span), where=span > 0)
        area = np.where(same_side, np.abs(start + end), crossing) * width / 2
        return float(area.sum())


def cdf_from_profile(
    quantiles: list[float | None], levels: FloatArray, histogram: Mapping[str, Any] | None
) -> QuantileCdf | None:
    """The CDF through a profile's percentiles and histogram edges (non-finite ones left out).

    ``None`` when fewer than two finite percentiles are stored.
    """
    values = np.array([np.nan if v is None else v for v in quantiles], dtype=np.float64)
    keep = np.isfinite(values)
    if keep.sum() < 2:
        return None
    knots, known = values[keep], np.asarray(levels, dtype=np.float64)[keep]
    if histogram:
        edges = np.asarray(histogram.get("edges") or [], dtype=np.float64)
        counts = np.asarray(histogram.get("counts") or [], dtype=np.float64)
        if len(edges) == len(counts) + 1 and counts.sum() > 0:
            below = np.concatenate(([0.0], np.cumsum(counts))) / counts.sum()
            inside = np.isfinite(edges) & (edges > knots[0]) & (edges < knots[-1])
            knots = np.concatenate((knots, edges[inside]))
            known = np.concatenate((known, below[inside]))
    order = np.lexsort((known, knots))
    # The two sources agree to 1/n; keep the levels non-decreasing where they do not quite.
    return QuantileCdf(knots[order], np.maximum.accumulate(known[order]))


def profile_cuts(quantiles: FloatArray, levels: FloatArray, bins: int) -> FloatArray:
    """The interior cut points of ``bins`` quantile bins, from stored quantiles.

    With ``bins`` dividing 100 the cuts are stored percentiles: the numbers
    :func:`~mlship.monitoring.statistics.quantile_cuts` gives for the full reference.
    """
    wanted = np.array([i / bins for i in range(1, bins)])
    return np.unique(np.interp(wanted, levels, quantiles))
