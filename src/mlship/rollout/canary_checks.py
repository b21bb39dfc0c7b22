"""The four checks of a canary step, each comparing the candidate with stable on one window.

:func:`mlship.rollout.analysis.analyze` runs them and gives the verdict. Each check is ``pass``,
``fail``, ``inconclusive`` or ``skip``, and its compared ``value`` passes when it is at most its
``threshold`` (:class:`~mlship.rollout.analysis_config.AnalysisConfig`). Windows are small (a 5 %
step may judge 200 requests), so a check fails only on a difference that is both *large* (beyond
its threshold) and *real* (significant, below); a large difference that is not yet significant is
inconclusive, and more traffic settles it:

- ``error_rate``: the candidate's error rate minus stable's, at most ``max_error_rate_increase``.
  Beyond it, the check fails if a one-sided Fisher exact test finds the candidate's rate higher.
- ``latency_p95``: the ratio of the p95 latencies, at most ``max_latency_ratio``; a candidate
  p95 at most ``latency_margin_ms`` above stable's passes whatever the ratio (1.5x of 0.3 ms is
  noise, not a regression). Beyond both, the check fails if a one-sided Mann-Whitney U test finds
  the candidate's latencies above stable's, each raised to its allowance
  ``max(t * max_latency_ratio, t + latency_margin_ms)``.
- ``divergence``: the PSI of the candidate's prediction scores against stable's (:func:`psi`), at
  most ``max_divergence_psi``; beyond it, the check fails if Pearson's chi-square test of
  homogeneity on the same bins finds the two distributions different (a PSI over 10 bins is
  about ``chi2(9) * (1/n + 1/m)`` on equal samples: 0.16 on average with 60 and 1,000 of them).
  For classifiers without scores: the largest absolute difference of a class's share of the
  predictions, at most ``max_class_share_diff``; beyond it, the check fails if a two-sided Fisher
  exact test on that class's counts finds them different (with more than two classes, its p-value
  is multiplied by their number, as the class was picked for being the most different).
- ``live_metric``: how much worse the candidate's metric is on the rows whose labels arrived, at
  most ``live_metric_tolerance`` (no test: it needs ``min_labels`` labels per version instead).

Several tests: the first three checks test a hypothesis at every analysis, so each test runs at
``significance / 3`` (Bonferroni) and ``significance`` bounds the chance that one analysis of an
equally good candidate fails on noise. The level holds per analysis: a controller that analyses
every step, and again while a step is inconclusive, accepts that chance at each of them.

Missing, empty or non-finite data make a check inconclusive, never an exception. Every p-value,
and the level it was held against (``alpha``), is in the figures of its check. Pure functions: no
I/O, no clock, no globals.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from mlship.checks.metrics import get_metric
from mlship.errors import InvalidInput
from mlship.options import check_number, invalid
from mlship.rollout.analysis_config import AnalysisConfig
from mlship.rollout.window import FloatArray, WindowStats, float_array, missing

__all__ = [
    "CanaryCheck",
    "CheckName",
    "CheckStatus",
    "divergence_check",
    "error_rate_check",
    "latency_check",
    "live_metric_check",
    "psi",
]

CheckStatus = Literal["pass", "fail", "inconclusive", "skip"]
CheckName = Literal["error_rate", "latency_p95", "divergence", "live_metric"]
IntArray = npt.NDArray[np.int64]

# Absorbs rounding in "value <= threshold" (3/200 - 1/200 is not exactly 0.01 in floating point).
_SLACK = 1e-12
_MAX_SHARES_SHOWN = 20
# The checks that test a hypothesis (error rate, latency, divergence): each runs at
# significance / _TESTS, so that one analysis fails an equal candidate with at most that chance.
_TESTS = 3
_PSI_BINS = 10
_PSI_EPS = 1e-4


# ---------------------------------------------------------------- the result of a check


@dataclass(frozen=True, slots=True)
class CanaryCheck:
    """One check of a canary step: it passes when ``value`` is at most ``threshold``."""

    name: CheckName
    status: CheckStatus
    reason: str
    """One sentence a person can act on, with the figures."""
    stable: float | None = None
    """Stable's figure: error rate, p95 latency (ms), mean score or class share, metric."""
    candidate: float | None = None
    """The candidate's figure, in the same unit."""
    value: float | None = None
    """What is compared: rate increase, p95 ratio, PSI or share difference, metric loss."""
    threshold: float | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    """The other numbers behind the status (counts, p-value, p99, ...); JSON-ready."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- PSI


def psi(
    reference: npt.ArrayLike, current: npt.ArrayLike, bins: int = 10, eps: float = 1e-4
) -> float:
    """The population stability index of ``current`` against ``reference``.

    The bin edges are the ``1/bins, ..., (bins-1)/bins`` quantiles of ``reference`` (numpy's
    linear interpolation), so each bin holds about ``1/bins`` of it; bins are closed on the right:
    ``(-inf, q1], (q1, q2], ..., (q_last, inf)``. With ``r_i`` and ``c_i`` the shares of each
    sample in bin ``i``, where an empty bin's share of 0 counts as ``eps``::

        PSI = sum_i (c_i - r_i) * ln(c_i / r_i)

    It is 0 for samples that fill the bins alike and grows with the shift; above 0.2 is commonly
    read as a significant change.

    >>> psi([1, 2, 3, 4], [1, 2, 3, 4])
    0.0
    >>> round(psi([1, 2, 3, 4], [3, 4, 4, 4], bins=2), 4)
    4.6043
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise invalid("bins", "an integer >= 2", bins)
    check_number("eps", eps, ("a number in (0, 1)", lambda v: 0 < v < 1))
    ref = _sample(reference, "reference")
    cur = _sample(current, "current")
    return _psi_of_counts(*_bin_counts(ref, cur, bins), eps)


def _sample(values: npt.ArrayLike, what: str) -> FloatArray:
    array = float_array(values, what)
    if array.ndim != 1 or len(array) == 0 or not np.all(np.isfinite(array)):
        raise InvalidInput(f"The {what} sample must be a non-empty list of finite numbers.")
    return array


def _bin_counts(reference: FloatArray, current: FloatArray, bins: int) -> tuple[IntArray, IntArray]:
    """The counts of each sample in the ``bins`` quantile bins of ``reference``."""
    edges = np.quantile(reference, np.arange(1, bins) / bins)

    def count(values: FloatArray) -> IntArray:
        return np.bincount(np.searchsorted(edges, values, side="left"), minlength=bins)

    return count(reference), count(current)


def _psi_of_counts(reference: IntArray, current: IntArray, eps: float) -> float:
    r, c = (np.where(n > 0, n / n.sum(), eps) for n in (reference, current))
    return float(np.sum((c - r) * np.log(c / r)))


# ---------------------------------------------------------------- the four checks


def error_rate_check(
    stable: WindowStats, candidate: WindowStats, config: AnalysisConfig, low: str | None
) -> CanaryCheck:
    """The ``error_rate`` check; ``low`` is why the traffic is too low to judge, or None."""
    threshold = config.max_error_rate_increase
    rates = [w.errors / w.requests if w.requests else None for w in (stable, candidate)]
    figures: dict[str, Any] = {
        "stable_errors": int(stable.errors),
        "stable_requests": int(stable.requests),
        "candidate_errors": int(candidate.errors),
        "candidate_requests": int(candidate.requests),
    }
    check = _partial("error_rate", rates[0], rates[1], threshold, figures)
    if low is not None:
        return check("inconclusive", low, None)
    rate_s, rate_c = float(rates[0] or 0.0), float(rates[1] or 0.0)
    increase = rate_c - rate_s
    p_value = _fisher_greater(candidate.errors, candidate.requests, stable.errors, stable.requests)
    alpha = _alpha(config)
    figures.update(p_value=_num(p_value), alpha=alpha, test="fisher_exact_one_sided")
    versus = f"Candidate error rate {_pct(rate_c)} vs stable {_pct(rate_s)}"
    allowed = f"allowed {_points(threshold)}"
    if increase <= threshold + _SLACK:
        return check("pass", f"{versus} is within the {allowed}.", increase)
    if p_value < alpha:
        return check("fail", f"{versus} ({allowed}, p = {p_value:.2g}): rolled back.", increase)
    return check(
        "inconclusive",
        f"{versus} exceeds the {allowed}, but not significantly (p = {p_value:.2g} on "
        f"{candidate.requests} and {stable.requests} requests): wait for more traffic.",
        increase,
    )


def latency_check(
    stable: WindowStats, candidate: WindowStats, config: AnalysisConfig, low: str | None
) -> CanaryCheck:
    """The ``latency_p95`` check; ``low`` is why the traffic is too low to judge, or None."""
    threshold = config.max_latency_ratio
    margin = config.latency_margin_ms
    problem = low or _unusable(
        (stable.latency_ms, candidate.latency_ms), "latencies", config.min_requests, positive=True
    )
    if problem is not None:
        return CanaryCheck("latency_p95", "inconclusive", problem, threshold=threshold)
    p95_s, p95_c = (float(np.percentile(w.latency_ms, 95)) for w in (stable, candidate))
    allowed_ms = max(p95_s * threshold, p95_s + margin)
    figures: dict[str, Any] = {
        "stable_p99": _num(float(np.percentile(stable.latency_ms, 99))),
        "candidate_p99": _num(float(np.percentile(candidate.latency_ms, 99))),
        "stable_n": len(stable.latency_ms),
        "candidate_n": len(candidate.latency_ms),
        "margin_ms": margin,
        "allowed_ms": _num(allowed_ms),
    }
    check = _partial("latency_p95", p95_s, p95_c, threshold, figures)
    ratio = p95_c / p95_s if p95_s > 0 else math.nan
    shown = f"{ratio:.2f}x" if math.isfinite(ratio) else "no finite multiple of"
    versus = (
        f"Candidate p95 latency {p95_c:.3g} ms is {shown} stable's {p95_s:.3g} ms, "
        f"{p95_c - p95_s:+.3g} ms"
    )
    rule = f"the allowed {threshold:g}x or +{margin:g} ms"
    if p95_c <= p95_s + margin + _SLACK:
        return check("pass", f"{versus}, within {rule}.", _num(ratio))
    if not math.isfinite(ratio):
        return check(
            "inconclusive",
            f"The p95 latencies ({p95_c:g} ms candidate, {p95_s:g} ms stable) give no finite "
            "ratio: check the latencies recorded.",
            None,
        )
    if ratio <= threshold + _SLACK:
        return check("pass", f"{versus}, within {rule}.", ratio)
    # A p95 over few requests is noisy (one CPU hiccup moves it): fail only when the candidate's
    # latencies are significantly above stable's raised to their allowance (one-sided
    # Mann-Whitney U; the allowance is monotonic, so stable's p95 maps onto allowed_ms).
    from scipy.stats import mannwhitneyu

    allowance = np.maximum(stable.latency_ms * threshold, stable.latency_ms + margin)
    p_value = float(mannwhitneyu(candidate.latency_ms, allowance, alternative="greater").pvalue)
    alpha = _alpha(config)
    figures.update(p_value=_num(p_value), alpha=alpha, test="mann_whitney_u_one_sided")
    if not p_value < alpha:
        return check(
            "inconclusive",
            f"{versus} (allowed {threshold:g}x or +{margin:g} ms), but p = {p_value:.3f}: not "
            "yet more than noise; waiting for more requests.",
            ratio,
        )
    return check(
        "fail",
        f"{versus} (allowed {threshold:g}x or +{margin:g} ms, p = {p_value:.3g}): rolled back.",
        ratio,
    )


def divergence_check(
    stable: WindowStats, candidate: WindowStats, config: AnalysisConfig, low: str | None
) -> CanaryCheck:
    """The ``divergence`` check: PSI of the scores, else the class shares; ``low`` is why the
    traffic is too low to judge, or None."""
    if stable.scores is not None and candidate.scores is not None:
        return _score_divergence(stable.scores, candidate.scores, config, low)
    if stable.predicted is not None and candidate.predicted is not None:
        return _class_divergence(stable.predicted, candidate.predicted, config, low)
    if all(w.scores is None and w.predicted is None for w in (stable, candidate)):
        return CanaryCheck(
            "divergence", "skip", "Neither version logged prediction scores or classes."
        )
    return CanaryCheck(
        "divergence",
        "inconclusive",
        "Only one version logged prediction scores or classes in the window: wait for more "
        "traffic, or check that both versions log the same outputs.",
    )


def _score_divergence(
    stable: FloatArray, candidate: FloatArray, config: AnalysisConfig, low: str | None
) -> CanaryCheck:
    threshold = config.max_divergence_psi
    problem = low or _unusable((stable, candidate), "prediction scores", config.min_requests)
    if problem is not None:
        return CanaryCheck("divergence", "inconclusive", problem, threshold=threshold)
    figures: dict[str, Any] = {"method": "psi", "bins": _PSI_BINS, "eps": _PSI_EPS}
    figures.update(stable_n=len(stable), candidate_n=len(candidate))
    mean_s, mean_c = float(np.mean(stable)), float(np.mean(candidate))
    check = _partial("divergence", mean_s, mean_c, threshold, figures)
    counts_s, counts_c = _bin_counts(stable, candidate, _PSI_BINS)
    value = _psi_of_counts(counts_s, counts_c, _PSI_EPS)
    if not math.isfinite(value):
        return check("inconclusive", "The scores give no finite PSI: check them.", None)
    versus = (
        f"PSI of the candidate's prediction scores against stable's is {value:.3f} (mean "
        f"{mean_c:.3g} vs {mean_s:.3g})"
    )
    if value <= threshold + _SLACK:
        return check("pass", f"{versus}, within the allowed {threshold:g}.", value)
    # PSI grows with chance alone on small samples (about chi2(bins - 1) * (1/n + 1/m) on equal
    # ones, and an empty bin alone adds ~0.7): fail only when the binned counts differ for real.
    p_value = _homogeneity(counts_s, counts_c)
    alpha = _alpha(config)
    figures.update(p_value=p_value, alpha=alpha, test="chi2_homogeneity")
    if not p_value < alpha:
        return check(
            "inconclusive",
            f"{versus}, above the allowed {threshold:g}, but p = {p_value:.3f}: not yet more "
            "than noise; waiting for more requests.",
            value,
        )
    return check(
        "fail",
        f"{versus}, above the allowed {threshold:g} (p = {p_value:.3g}): rolled back.",
        value,
    )


def _class_divergence(
    stable: npt.NDArray[Any], candidate: npt.NDArray[Any], config: AnalysisConfig, low: str | None
) -> CanaryCheck:
    threshold = config.max_class_share_diff
    problem = low or _unusable((stable, candidate), "predicted classes", config.min_requests)
    if problem is not None:
        return CanaryCheck("divergence", "inconclusive", problem, threshold=threshold)
    shares_s, shares_c = _class_shares(stable), _class_shares(candidate)
    diffs = {k: abs(shares_c.get(k, 0.0) - shares_s.get(k, 0.0)) for k in shares_s | shares_c}
    ranked = sorted(diffs, key=lambda k: (-diffs[k], repr(k)))
    top = ranked[0]
    value = diffs[top]
    shown = ranked[:_MAX_SHARES_SHOWN]
    figures = {
        "method": "class_share",
        "class": str(top),
        "stable_shares": {str(k): shares_s.get(k, 0.0) for k in shown},
        "candidate_shares": {str(k): shares_c.get(k, 0.0) for k in shown},
        "stable_n": len(stable),
        "candidate_n": len(candidate),
    }
    s, c = shares_s.get(top, 0.0), shares_c.get(top, 0.0)
    check = _partial("divergence", s, c, threshold, figures)
    versus = f"Candidate predicts class {top!r} for {_pct(c)} of requests vs stable {_pct(s)}"
    allowed = f"allowed difference {threshold * 100:.1f} points"
    if value <= threshold + _SLACK:
        return check("pass", f"{versus}, the largest difference, within the {allowed}.", value)
    # As for the error rate: a difference over the threshold fails only when it is more than
    # the noise of small windows (two-sided Fisher exact test on that class's counts). Of more
    # than two classes the most different one was picked: Bonferroni over the classes. (Two
    # classes give one table: the other class's counts are its complement.)
    n_s, n_c = len(stable), len(candidate)
    picked = len(diffs) if len(diffs) > 2 else 1
    p_value = min(1.0, picked * _fisher_two_sided(round(c * n_c), n_c, round(s * n_s), n_s))
    alpha = _alpha(config)
    figures.update(p_value=p_value, alpha=alpha, test="fisher_exact_two_sided", classes=picked)
    if p_value >= alpha:
        return check(
            "inconclusive",
            f"{versus} ({allowed}), but p = {p_value:.3f}: not yet more than noise; waiting "
            "for more requests.",
            value,
        )
    return check("fail", f"{versus} ({allowed}, p = {p_value:.3g}): rolled back.", value)


def live_metric_check(
    stable: WindowStats, candidate: WindowStats, config: AnalysisConfig, low: str | None
) -> CanaryCheck:
    """The ``live_metric`` check; ``low`` is why the traffic is too low to judge, or None."""
    name = config.live_metric
    if name is None:
        return CanaryCheck("live_metric", "skip", "No live metric is configured.")
    threshold = config.live_metric_tolerance
    if low is not None:
        return CanaryCheck("live_metric", "inconclusive", low, threshold=threshold)
    metric = get_metric(name)

    def not_ready(reason: str) -> CanaryCheck:
        status: CheckStatus = "inconclusive" if config.require_live_metric else "skip"
        return CanaryCheck("live_metric", status, reason, threshold=threshold)

    values: list[float] = []
    counts: list[int] = []
    for role, window in (("candidate", candidate), ("stable", stable)):
        rows = window.labelled(metric)
        if isinstance(rows, str):
            return not_ready(f"Live {name} of {role}: {rows}")
        y, predictions = rows
        if len(y) < config.min_labels:
            return not_ready(
                f"Only {len(y)} labelled {role} predictions (at least {config.min_labels} "
                f"needed): live {name} not compared yet."
            )
        try:
            value = metric.score(y, predictions)
        except InvalidInput as exc:
            return not_ready(f"Live {name} of {role}: {exc.message}")
        if not math.isfinite(value):
            return not_ready(f"Live {name} of {role} is {value}: check its predictions and labels.")
        values.append(value)
        counts.append(len(y))
    value_c, value_s = values
    figures: dict[str, Any] = {"metric": name, "greater_is_better": metric.greater_is_better}
    figures.update(candidate_labels=counts[0], stable_labels=counts[1])
    check = _partial("live_metric", value_s, value_c, threshold, figures)
    worse = value_s - value_c if metric.greater_is_better else value_c - value_s
    versus = (
        f"Candidate {name} {value_c:.4g} vs stable {value_s:.4g} on {counts[0]} and {counts[1]} "
        "labelled predictions"
    )
    if worse <= threshold + _SLACK:
        return check("pass", f"{versus}, within the allowed {threshold:g} worse.", worse)
    return check("fail", f"{versus} (allowed {threshold:g} worse): rolled back.", worse)


# ---------------------------------------------------------------- helpers


def _partial(
    name: CheckName,
    stable: float | None,
    candidate: float | None,
    threshold: float,
    figures: dict[str, Any],
) -> Callable[[CheckStatus, str, float | None], CanaryCheck]:
    """A maker of the check ``name`` whose figures are known and only the outcome is left."""

    def make(status: CheckStatus, reason: str, value: float | None) -> CanaryCheck:
        return CanaryCheck(
            name, status, reason, _num(stable), _num(candidate), _num(value), threshold, figures
        )

    return make


def _unusable(
    samples: tuple[npt.NDArray[Any], npt.NDArray[Any]],
    what: str,
    need: int,
    *,
    positive: bool = False,
) -> str | None:
    """Why a pair of samples (stable, candidate) cannot be compared, or None."""
    for role, values in zip(("stable", "candidate"), samples, strict=True):
        if values.dtype.kind == "f":
            bad = ~np.isfinite(values) | (values < 0 if positive else False)
            kinds = "NaN, infinite or negative" if positive else "NaN or infinite"
        else:
            bad = missing(values)
            kinds = "missing"
        if bad.any():
            return (
                f"The {role} {what} hold {int(bad.sum())} {kinds} value(s): check what the "
                "prediction log recorded."
            )
        if len(values) < need:
            return (
                f"Only {len(values)} {role} {what} in the window (at least {need} needed per "
                "version): wait for more traffic."
            )
    return None


def _class_shares(values: npt.NDArray[Any]) -> dict[Any, float]:
    counts = Counter(values.tolist())
    return {k: v / len(values) for k, v in counts.items()}


def _fisher_greater(errors_c: int, requests_c: int, errors_s: int, requests_s: int) -> float:
    """One-sided Fisher exact p-value that the candidate's error rate exceeds stable's."""
    # Imported here: scipy.stats takes a while to import and only this test needs it.
    from scipy.stats import fisher_exact

    table = [[errors_c, requests_c - errors_c], [errors_s, requests_s - errors_s]]
    return float(fisher_exact(table, alternative="greater").pvalue)


def _num(value: float | None) -> float | None:
    """``value`` if it is a finite number, else None (JSON has no NaN or infinity)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _pct(share: float) -> str:
    percent = share * 100
    # One decimal ("10.2 %") unless that would show a small non-zero rate as 0.0 %.
    return f"{percent:.1f} %" if percent >= 1 or percent == 0 else f"{percent:.2g} %"


def _points(share: float) -> str:
    points = share * 100
    return f"+{points:.1f} point{'' if f'{points:.1f}' == '1.0' else 's'}"


def _alpha(config: AnalysisConfig) -> float:
    """The level of each test: Bonferroni over the checks that test a hypothesis."""
    return config.significance / _TESTS


def _homogeneity(counts_s: IntArray, counts_c: IntArray) -> float:
    """Pearson's chi-square p-value that two samples' counts over the same bins differ."""
    from scipy.stats import chi2_contingency

    table = np.vstack([counts_s, counts_c])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:  # every value in one bin on both sides: nothing differs
        return 1.0
    return float(chi2_contingency(table, correction=False).pvalue)


def _fisher_two_sided(hits_c: int, n_c: int, hits_s: int, n_s: int) -> float:
    """Two-sided Fisher exact p-value that a class's share differs between the two versions."""
    from scipy.stats import fisher_exact

    table = [[hits_c, n_c - hits_c], [hits_s, n_s - hits_s]]
    return float(fisher_exact(table, alternative="two-sided").pvalue)
