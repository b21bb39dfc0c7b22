"""Canary analysis: compare the candidate with stable on one time window and give a verdict.

A controller calls :func:`analyze` at each canary step with what each version did in the *same*
window (:class:`~mlship.rollout.window.WindowStats`). It runs four checks
(:mod:`mlship.rollout.canary_checks`, where their rules are): ``error_rate``, ``latency_p95``,
``divergence`` of the predictions and ``live_metric``, each ``pass``, ``fail``, ``inconclusive``
or ``skip`` against the thresholds of an :class:`~mlship.rollout.analysis_config.AnalysisConfig`.

Windows of different times: when stable's sample does not come from the candidate's window
(``concurrent=False``: at 100 % stable answers nobody, and the controller compares with its
traffic of the earlier steps), latency and divergence are skipped. Latency depends on the load of
the machine and on each version's share of the traffic at the time, and predictions on the inputs
of the time; both were compared on shared windows at the earlier steps. Error rate and live
metric are still compared.

Verdict: any ``fail`` fails the step, even when other checks are inconclusive (a clear failure is
decided at once); else any ``inconclusive`` makes it inconclusive; else it passes. Low traffic never
fails a canary: with fewer than ``min_requests`` requests on either side, every check is
inconclusive. Missing, empty or non-finite data make a check inconclusive, never an exception.

These are pure functions: no I/O, no clock, no globals.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> def window(errors: int) -> WindowStats:
...     return WindowStats.of(1000, errors, rng.gamma(4, 5, 1000), scores=rng.beta(2, 5, 1000))
>>> analyze(window(3), window(4)).verdict
'pass'
>>> result = analyze(window(3), window(100))
>>> result.verdict, result.failed
('fail', ('error_rate',))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from mlship.rollout.analysis_config import AnalysisConfig
from mlship.rollout.canary_checks import (
    CanaryCheck,
    CheckName,
    divergence_check,
    error_rate_check,
    latency_check,
    live_metric_check,
    psi,
)
from mlship.rollout.window import WindowStats

# psi is not used here: mlship.rollout and tests/unit/test_analysis.py import it from this module.
__all__ = ["Analysis", "AnalysisConfig", "CanaryCheck", "WindowStats", "analyze", "psi"]

Verdict = Literal["pass", "fail", "inconclusive"]


# ---------------------------------------------------------------- the verdict


@dataclass(frozen=True, slots=True)
class Analysis:
    """The outcome of one canary step: its checks, and the verdict they give."""

    checks: tuple[CanaryCheck, ...]

    @property
    def verdict(self) -> Verdict:
        statuses = {c.status for c in self.checks}
        if "fail" in statuses:
            return "fail"
        return "inconclusive" if "inconclusive" in statuses else "pass"

    @property
    def failed(self) -> tuple[CheckName, ...]:
        """The names of the failing checks."""
        return tuple(c.name for c in self.checks if c.status == "fail")

    @property
    def reason(self) -> str:
        """The reasons of the checks that decided the verdict."""
        verdict = self.verdict
        if verdict == "pass":
            skipped = [c.name for c in self.checks if c.status == "skip"]
            return "Every check passed" + (f" ({', '.join(skipped)} skipped)." if skipped else ".")
        return " ".join(c.reason for c in self.checks if c.status == verdict)

    def check(self, name: CheckName) -> CanaryCheck:
        """The check called ``name``."""
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (no NaN or infinity), for the event ledger and ``status``."""
        return {
            "verdict": self.verdict,
            "reason": self.reason,
            "failed": list(self.failed),
            "checks": [c.to_dict() for c in self.checks],
        }


# ---------------------------------------------------------------- the analysis


def analyze(
    stable: WindowStats,
    candidate: WindowStats,
    config: AnalysisConfig | None = None,
    *,
    concurrent: bool = True,
) -> Analysis:
    """Compare ``candidate`` with ``stable`` (the checks are in
    :mod:`~mlship.rollout.canary_checks`, the verdict in the module's docstring).

    Parameters:
        stable, candidate: what each version did; with ``concurrent``, in the same window.
        config: the thresholds; :class:`AnalysisConfig` defaults when None.
        concurrent: False when stable's sample comes from another time than the candidate's
            (the controller's 100 % step): latency and divergence are then skipped.

    The p95 is numpy's percentile (linear interpolation); every p-value, and the level it was
    held against (``alpha``), is in the figures of its check.

    >>> import numpy as np
    >>> fast = WindowStats.of(300, 0, np.full(300, 0.3))
    >>> analyze(fast, WindowStats.of(300, 0, np.full(300, 0.9))).check("latency_p95").status
    'pass'
    """
    config = config or AnalysisConfig()
    low = _low_traffic(stable, candidate, config.min_requests)
    # Arbitrary inputs (huge values, NaN) may overflow on the way: such figures come out
    # non-finite and make their check inconclusive, instead of warning or raising.
    with np.errstate(all="ignore"):
        if concurrent:
            latency = latency_check(stable, candidate, config, low)
            divergence = divergence_check(stable, candidate, config, low)
        else:
            latency = CanaryCheck("latency_p95", "skip", _NOT_CONCURRENT + _LATENCY_LATER)
            divergence = CanaryCheck("divergence", "skip", _NOT_CONCURRENT + _OUTPUTS_LATER)
        checks = (
            error_rate_check(stable, candidate, config, low),
            latency,
            divergence,
            live_metric_check(stable, candidate, config, low),
        )
    return Analysis(checks)


_NOT_CONCURRENT = "Stable's requests come from another time than the candidate's: "
_LATENCY_LATER = (
    "latency depends on the load and on each version's share of traffic at the time, so it was "
    "compared at the earlier steps only."
)
_OUTPUTS_LATER = (
    "predictions depend on the inputs of the time, so they were compared at the earlier steps only."
)


def _low_traffic(stable: WindowStats, candidate: WindowStats, need: int) -> str | None:
    for role, window in (("candidate", candidate), ("stable", stable)):
        if window.requests < need:
            return (
                f"Only {window.requests} {role} requests in the window (at least {need} needed "
                "per version): wait for more traffic."
            )
    return None
