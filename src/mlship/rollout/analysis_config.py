"""The thresholds of a canary analysis (:func:`mlship.rollout.analysis.analyze`).

One frozen :class:`AnalysisConfig`, validated when it is built, with the option's name in the
message; what each threshold decides is in :mod:`mlship.rollout.canary_checks`.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlship.checks.metrics import builtin_metrics
from mlship.options import Rule, check_number, invalid

__all__ = ["AnalysisConfig"]


_RULES: dict[str, Rule] = {
    "max_error_rate_increase": ("a number in [0, 1]", lambda v: 0 <= v <= 1),
    "max_latency_ratio": ("a number >= 1", lambda v: v >= 1),
    "latency_margin_ms": ("a number >= 0", lambda v: v >= 0),
    "max_divergence_psi": ("a number > 0", lambda v: v > 0),
    "max_class_share_diff": ("a number in (0, 1]", lambda v: 0 < v <= 1),
    "live_metric_tolerance": ("a number >= 0", lambda v: v >= 0),
    "significance": ("a number in (0, 1)", lambda v: 0 < v < 1),
}


@dataclass(frozen=True, slots=True)
class AnalysisConfig:
    """The thresholds of a canary analysis.

    >>> from mlship.errors import ConfigError
    >>> try:
    ...     AnalysisConfig(max_latency_ratio=0.5)
    ... except ConfigError as exc:
    ...     print(exc)
    The 'max_latency_ratio' option must be a number >= 1. Got 0.5 instead.
    """

    max_error_rate_increase: float = 0.01
    """How far the candidate's error rate may exceed stable's (0.01 = 1 point)."""
    max_latency_ratio: float = 1.5
    """The candidate's p95 latency may be this multiple of stable's (see the margin below)."""
    latency_margin_ms: float = 2.0
    """The candidate's p95 latency may also be this many milliseconds above stable's, whatever
    the ratio: it is slower only beyond both (1.5x of a 0.3 ms p95 is scheduling noise)."""
    max_divergence_psi: float = 0.2
    """The largest PSI of the candidate's scores against stable's, on 10 quantile bins of
    stable's scores, an empty bin's share counted as 1e-4 (see
    :func:`~mlship.rollout.canary_checks.psi`)."""
    max_class_share_diff: float = 0.1
    """Without scores: the largest difference of a class's share of the predictions (0.1 = 10
    points)."""
    live_metric: str | None = None
    """A built-in metric (e.g. ``f1``, ``roc_auc``, ``rmse``) on the labelled rows; None skips."""
    live_metric_tolerance: float = 0.01
    """How much worse than stable's the candidate's live metric may be."""
    require_live_metric: bool = False
    """Make a live metric without enough labels inconclusive rather than skipped."""
    min_requests: int = 200
    """Requests each version needs in the window (and latencies, scores or classes each check
    needs) before anything is judged."""
    min_labels: int = 100
    """Labelled predictions each version needs before the live metric is compared."""
    significance: float = 0.01
    """The chance that one analysis of an equally good candidate fails on noise: each of the
    three tests (Fisher for the error rate and class shares, Mann-Whitney for latency,
    chi-square for the PSI) counts a difference as real below ``significance / 3``."""

    def __post_init__(self) -> None:
        for option, rule in _RULES.items():
            check_number(option, getattr(self, option), rule)
        for option in ("min_requests", "min_labels"):
            value = getattr(self, option)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise invalid(option, "an integer >= 1", value)
        names = sorted(builtin_metrics())
        if self.live_metric is not None and self.live_metric not in names:
            raise invalid("live_metric", f"None or one of {', '.join(names)}", self.live_metric)
        if not isinstance(self.require_live_metric, bool):
            raise invalid("require_live_metric", "true or false", self.require_live_metric)
        if self.require_live_metric and self.live_metric is None:
            raise invalid("live_metric", "a metric name when 'require_live_metric' is set", None)
