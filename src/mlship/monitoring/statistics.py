"""Drift statistics: pure functions over sorted numeric samples and category counts.

Every function takes what a column was reduced to (a sorted array of its finite values, or a
vector of counts) and returns plain floats; none does I/O or keeps state. Each equals its scipy
counterpart to 1e-9 on the same inputs (the tests hold them to it):

- :func:`ks_2samp_sorted`: the two-sample Kolmogorov-Smirnov test, two-sided, as
  ``scipy.stats.ks_2samp(a, b, method="auto")``: up to 10,000 values in the larger sample the
  p-value is exact (scipy computes it), above it Smirnov's asymptotic distribution,
  ``scipy.stats.kstwo.sf(d, round(n1 * n2 / (n1 + n2)))``. The statistic comes from one stable
  merge of the two sorted samples, which also gives the Wasserstein distance.
- :func:`wasserstein_sorted`: the 1-Wasserstein (earth mover's) distance,
  ``scipy.stats.wasserstein_distance``; :func:`normalised_wasserstein` divides it by the
  reference's standard deviation (``ddof=0``) floored at ``1e-3``, as Evidently does, so that a
  constant reference column gives a finite figure.
- :func:`js_distance`: the Jensen-Shannon *distance* (the square root of the divergence), base 2,
  so it lies in [0, 1]: ``scipy.spatial.distance.jensenshannon(p, q, base=2)``.
- :func:`chi2_counts`: Pearson's chi-square on the 2 x k contingency table of the two frequency
  vectors, with Yates' correction when there is one degree of freedom:
  ``scipy.stats.chi2_contingency([ref, cur])``. Categories empty in both are dropped first.
- :func:`psi`: the population stability index ``sum((q - p) * ln(q / p))`` over shares ``p``
  (reference) and ``q`` (current); a share of 0 is replaced by :data:`PSI_EPSILON` (1e-4) so empty
  bins give a finite figure. There is no scipy counterpart; the tests compute it by hand.
- :func:`z_test_proportions`: the two-proportion z-test with pooled variance (Evidently's test for
  binary columns); two-sided p-value from the normal distribution.
- :func:`fisher_rise`: one-sided Fisher's exact test that a share (of missing values, of values
  in new categories) is higher in the current sample than in the reference:
  ``scipy.stats.fisher_exact([[k2, n2 - k2], [k1, n1 - k1]], alternative="greater")``. Exact,
  so it holds for a 30-row window and for a reference with no missing value at all.
- :func:`benjamini_hochberg`: Benjamini-Hochberg adjusted p-values,
  ``scipy.stats.false_discovery_control(p, method="bh")``.

Numeric columns are binned for PSI and Jensen-Shannon on the reference's quantiles:
:func:`quantile_cuts` gives the ``bins - 1`` interior cut points (numpy's linear quantiles at
``1/bins, ..., (bins-1)/bins``, duplicates dropped), the outer bins are open so that current values
outside the reference's range are counted, and each bin is closed on the left:
``(-inf, c1), [c1, c2), ..., [c_last, inf)``.
"""

from __future__ import annotations

import math
import threading
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

PSI_EPSILON = 1e-4
"""Share given to an empty bin (in either sample) before PSI takes its logarithm."""
WASSERSTEIN_NORM_FLOOR = 1e-3
"""Smallest reference standard deviation :func:`normalised_wasserstein` divides by."""
EXACT_KS_MAX = 10_000
"""Largest sample for which the KS p-value is exact (scipy's ``method='auto'`` rule)."""
_WARNINGS_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Significance:
    """The outcome of a hypothesis test: its statistic, p-value and degrees of freedom if any."""

    statistic: float
    p_value: float
    dof: int | None = None


def ks_2samp_sorted(a: FloatArray, b: FloatArray) -> Significance:
    """Two-sided two-sample KS test of two sorted, finite, non-empty samples.

    >>> import numpy as np
    >>> r = ks_2samp_sorted(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]))
    >>> r.statistic, r.p_value
    (0.0, 1.0)
    """
    if max(len(a), len(b)) <= EXACT_KS_MAX:
        return _scipy_ks(a, b)
    statistic, _ = ks_wasserstein_sorted(a, b)
    return Significance(statistic, ks_p_value(statistic, len(a), len(b)))


def ks_p_value(statistic: float, n1: int, n2: int) -> float:
    """Smirnov's asymptotic two-sided p-value of a KS statistic, as scipy's ``method='asymp'``."""
    m, n = sorted((float(n1), float(n2)), reverse=True)
    return kstwo_sf(statistic, int(np.round(m * n / (m + n))))


def kstwo_sf(d: float, n: int) -> float:
    """``scipy.stats.kstwo.sf(d, n)``, with its slow branch summed in numpy.

    For ``n > 140`` and ``2.2 <= n d^2 < 370`` scipy evaluates ``2 * smirnov(n, d)`` term by term
    in extended precision: over a second for n = 500,000. The same Birnbaum-Tingey sum in log
    space with numpy takes a few tens of milliseconds and agrees to about 1e-9 relative (the tests
    compare the two); every other case is scipy's own.
    """
    nd = n * d
    if n > 140 and 2.2 <= nd * d < 370.0 and 1.0 < nd < n - 1 and d < 0.5:
        return min(max(2.0 * _smirnov(n, d), 0.0), 1.0)
    from scipy.stats import kstwo

    return float(np.clip(kstwo.sf(d, n), 0.0, 1.0))


def _smirnov(n: int, x: float) -> float:
    """One-sided ``P(D+_n >= x)`` by the Birnbaum-Tingey sum, each term in log space."""
    from scipy.special import betaln

    j = np.arange(0, math.floor(n * (1.0 - x)) + 1, dtype=np.float64)
    log_binom = -math.log(n + 1) - betaln(n - j + 1.0, j + 1.0)
    rest = np.maximum(1.0 - x - j / n, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_terms = log_binom + (n - j) * np.log(rest) + (j - 1.0) * np.log(x + j / n)
    return float(x * np.exp(log_terms).sum())


def _scipy_ks(a: FloatArray, b: FloatArray) -> Significance:
    from scipy.stats import ks_2samp

    # scipy warns when the exact p-value overflows and it falls back to the asymptotic one.
    # catch_warnings swaps process-wide state: one thread at a time.
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = ks_2samp(a, b, method="auto")
    return Significance(float(result.statistic), float(result.pvalue))


def ks_wasserstein_sorted(a: FloatArray, b: FloatArray) -> tuple[float, float]:
    """The KS statistic and the Wasserstein distance of two sorted, finite, non-empty samples.

    One stable merge of the two samples gives both empirical CDFs at every value: the KS
    statistic is their largest gap (taken where a run of equal values ends, so ties count as
    scipy counts them), the Wasserstein distance the area between them.
    """
    n1, n2 = len(a), len(b)
    both = np.concatenate((a, b))
    order = np.argsort(both, kind="stable")  # timsort: two sorted runs merge in linear time
    values = both[order]
    del both
    below_a: IntArray = np.cumsum(order < n1, dtype=np.int64)  # values of ``a`` <= values[k]
    del order
    gap = below_a / n1
    below_a -= np.arange(1, n1 + n2 + 1)  # minus the count of ``b`` values <= values[k]
    gap += below_a / n2
    del below_a
    np.abs(gap, out=gap)
    ends = np.empty(len(values), dtype=bool)
    np.not_equal(values[1:], values[:-1], out=ends[:-1])
    ends[-1] = True
    statistic = float(gap[ends].max())
    widths = np.diff(values)
    distance = float(np.dot(gap[:-1], widths))
    return statistic, distance


def wasserstein_sorted(a: FloatArray, b: FloatArray) -> float:
    """The 1-Wasserstein distance of two sorted, finite, non-empty samples.

    >>> import numpy as np
    >>> wasserstein_sorted(np.array([0.0, 1.0]), np.array([1.0, 2.0]))
    1.0
    """
    return ks_wasserstein_sorted(a, b)[1]


def normalised_wasserstein(distance: float, reference_std: float) -> float:
    """``distance`` in units of the reference's standard deviation (floored at 1e-3)."""
    return distance / max(reference_std, WASSERSTEIN_NORM_FLOOR)


def quantile_cuts(sorted_values: FloatArray, bins: int) -> FloatArray:
    """The distinct interior cut points of ``bins`` quantile bins of a sorted sample.

    >>> import numpy as np
    >>> quantile_cuts(np.arange(11.0), 2).tolist()
    [5.0]
    """
    levels = np.array([i / bins for i in range(1, bins)])
    return np.unique(linear_quantiles(sorted_values, levels))


def linear_quantiles(sorted_values: FloatArray, levels: FloatArray) -> FloatArray:
    """Quantiles of a sorted sample with numpy's default ("linear") interpolation.

    The same arithmetic as the registry's profile (``sorted_quantiles``), so that the cuts from a
    reference frame and from its stored profile are the same numbers.
    """
    n = len(sorted_values)
    pos = levels * (n - 1)
    lower = np.floor(pos).astype(np.int64)
    upper = np.minimum(lower + 1, n - 1)
    low = sorted_values[lower]
    result: FloatArray = low + (sorted_values[upper] - low) * (pos - lower)
    return result


def bin_counts_sorted(sorted_values: FloatArray, cuts: FloatArray) -> IntArray:
    """Counts of a sorted sample in the bins ``(-inf, c1), [c1, c2), ..., [c_last, inf)``."""
    inner = np.searchsorted(sorted_values, cuts, side="left")
    bounds = np.concatenate(([0], inner, [len(sorted_values)]))
    return np.diff(bounds).astype(np.int64)


def psi(reference: FloatArray | IntArray, current: FloatArray | IntArray) -> float:
    """Population stability index of two count (or share) vectors over the same bins.

    >>> import numpy as np
    >>> psi(np.array([50, 50]), np.array([50, 50]))
    0.0
    """
    p = np.asarray(reference, dtype=np.float64)
    q = np.asarray(current, dtype=np.float64)
    p = p / p.sum()
    q = q / q.sum()
    p[p == 0] = PSI_EPSILON
    q[q == 0] = PSI_EPSILON
    return float(np.sum((q - p) * np.log(q / p)))


def js_distance(reference: FloatArray | IntArray, current: FloatArray | IntArray) -> float:
    """Jensen-Shannon distance, base 2, of two count (or share) vectors over the same bins.

    >>> import numpy as np
    >>> js_distance(np.array([1, 0]), np.array([0, 1]))
    1.0
    """
    from scipy.special import rel_entr

    p = np.asarray(reference, dtype=np.float64)
    q = np.asarray(current, dtype=np.float64)
    p = p / p.sum()
    q = q / q.sum()
    m = (p + q) / 2.0
    divergence = (np.sum(rel_entr(p, m)) + np.sum(rel_entr(q, m))) / np.log(2.0)
    return float(np.sqrt(divergence / 2.0))


def chi2_counts(reference: IntArray, current: IntArray) -> Significance:
    """Chi-square test of homogeneity of two frequency vectors over the same categories.

    >>> import numpy as np
    >>> r = chi2_counts(np.array([10, 20, 30]), np.array([10, 20, 30]))
    >>> r.statistic, r.p_value, r.dof
    (0.0, 1.0, 2)
    """
    from scipy.special import chdtrc

    observed = np.vstack((reference, current)).astype(np.float64)
    observed = observed[:, observed.sum(axis=0) > 0]
    dof = observed.shape[1] - 1
    if dof <= 0:
        return Significance(0.0, 1.0, max(dof, 0))
    rows = observed.sum(axis=1, keepdims=True)
    cols = observed.sum(axis=0, keepdims=True)
    expected = rows * cols / observed.sum()
    if dof == 1:
        # Yates' continuity correction, as scipy applies it.
        diff = expected - observed
        observed = observed + np.minimum(0.5, np.abs(diff)) * np.sign(diff)
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    return Significance(statistic, float(chdtrc(dof, statistic)), dof)


def z_test_proportions(k1: int, n1: int, k2: int, n2: int) -> Significance:
    """Two-sided two-proportion z-test (pooled variance) of ``k1/n1`` against ``k2/n2``.

    >>> z_test_proportions(50, 100, 50, 100)
    Significance(statistic=0.0, p_value=1.0, dof=None)
    """
    from scipy.special import ndtr

    pooled = (k1 + k2) / (n1 + n2)
    variance = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)
    if variance <= 0.0:
        return Significance(0.0, 1.0)
    z = (k1 / n1 - k2 / n2) / math.sqrt(variance)
    return Significance(z, float(2.0 * ndtr(-abs(z))))


def fisher_rise(k1: int, n1: int, k2: int, n2: int) -> Significance:
    """One-sided Fisher's exact test that the share ``k2 / n2`` is higher than ``k1 / n1``.

    The p-value is ``P(X >= k2)`` for ``X`` hypergeometric with the margins of the 2 x 2 table
    ``[[k2, n2 - k2], [k1, n1 - k1]]``, as ``scipy.stats.fisher_exact(table,
    alternative="greater")``; the statistic is the rise of the share, ``k2 / n2 - k1 / n1`` (not
    scipy's odds ratio, which is infinite when ``k1`` is 0). A table with an empty margin (no
    sample, nothing counted, or everything counted) has p-value 1: nothing can have risen.

    >>> r = fisher_rise(1, 100, 25, 100)
    >>> round(r.statistic, 2), r.p_value < 1e-6
    (0.24, True)
    """
    if n1 <= 0 or n2 <= 0:
        return Significance(0.0, 1.0)
    statistic = k2 / n2 - k1 / n1
    hits = k1 + k2
    if hits == 0 or hits == n1 + n2:
        return Significance(statistic, 1.0)
    from scipy.stats import hypergeom

    p_value = float(hypergeom.sf(k2 - 1, n1 + n2, hits, n2))
    return Significance(statistic, min(max(p_value, 0.0), 1.0))


def benjamini_hochberg(p_values: FloatArray) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (the false discovery rate at which each is rejected).

    >>> import numpy as np
    >>> benjamini_hochberg(np.array([0.01, 0.04, 0.03])).round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    if m == 0:
        return p.copy()
    order = np.argsort(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted_sorted = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty(m, dtype=np.float64)
    adjusted[order] = np.minimum(adjusted_sorted, 1.0)
    return adjusted
