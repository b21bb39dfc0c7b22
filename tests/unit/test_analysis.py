"""Canary analysis: seeded windows with exact verdicts, PSI by hand, and properties."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.stats import chi2, fisher_exact

from mlship.errors import ConfigError, InvalidInput
from mlship.rollout.analysis import (
    Analysis,
    AnalysisConfig,
    CheckName,
    WindowStats,
    analyze,
    psi,
)


def window(
    seed: int,
    n: int = 1000,
    *,
    errors: int = 3,
    slower: float = 1.0,
    shift: float = 0.0,
    flip: float | None = None,
    labelled: int | None = None,
) -> WindowStats:
    """A seeded window of ``n`` requests: gamma latencies (p95 about 40 ms), beta(2, 5) scores.

    With ``flip``, the predicted classes are true labels (``n`` of them, ``labelled`` of which
    are given) with that share flipped: the accuracy is about ``1 - flip``.
    """
    rng = np.random.default_rng(seed)
    latency = rng.gamma(4.0, 5.0, n) * slower
    scores = rng.beta(2.0, 5.0, n - errors) + shift
    if flip is None:
        return WindowStats.of(n, errors, latency, scores=scores)
    truth = rng.integers(0, 2, n - errors)
    predicted = np.where(rng.random(n - errors) < flip, 1 - truth, truth)
    labels = truth[: n if labelled is None else labelled]
    return WindowStats.of(n, errors, latency, scores=scores, predicted=predicted, labels=labels)


def statuses(analysis: Analysis) -> dict[str, str]:
    return {c.name: c.status for c in analysis.checks}


# ---------------------------------------------------------------- the verdicts of the issue


def test_a_good_candidate_passes() -> None:
    result = analyze(window(1), window(2, errors=4))
    assert result.verdict == "pass"
    assert statuses(result) == {
        "error_rate": "pass",
        "latency_p95": "pass",
        "divergence": "pass",
        "live_metric": "skip",
    }
    assert result.failed == ()
    assert result.reason == "Every check passed (live_metric skipped)."


def test_a_candidate_raising_on_ten_percent_fails_on_error_rate() -> None:
    result = analyze(window(1), window(2, errors=100))
    assert result.verdict == "fail" and result.failed == ("error_rate",)
    check = result.check("error_rate")
    assert check.stable == 0.003 and check.candidate == 0.1
    assert check.value == pytest.approx(0.097) and check.threshold == 0.01
    assert check.figures["p_value"] < 1e-20
    assert check.reason.startswith(
        "Candidate error rate 10.0 % vs stable 0.3 % (allowed +1.0 point, p = "
    )
    assert check.reason.endswith("): rolled back.")
    assert result.reason == check.reason


def test_a_candidate_three_times_slower_fails_on_latency() -> None:
    result = analyze(window(1), window(2, slower=3.0))
    assert result.verdict == "fail" and result.failed == ("latency_p95",)
    check = result.check("latency_p95")
    assert check.stable is not None and check.candidate is not None
    assert check.value == pytest.approx(check.candidate / check.stable)
    assert check.value is not None and 2.5 < check.value < 3.5
    assert "p95 latency" in check.reason and "(allowed 1.5x or +2 ms, p = " in check.reason
    assert check.reason.endswith("rolled back.")
    assert check.figures["test"] == "mann_whitney_u_one_sided"
    assert check.figures["p_value"] < check.figures["alpha"] == pytest.approx(0.01 / 3)


def test_latency_uses_the_linear_p95() -> None:
    stable = WindowStats.of(200, 0, np.arange(1.0, 201.0))
    candidate = WindowStats.of(200, 0, np.arange(1.0, 201.0) * 1.4)
    check = analyze(stable, candidate).check("latency_p95")
    # Linear interpolation: rank 0.95 * 199 = 189.05 lies between 190 and 191.
    assert check.stable == np.percentile(np.arange(1.0, 201.0), 95)
    assert check.stable == pytest.approx(190.05, abs=1e-12)
    assert check.status == "pass" and check.value == pytest.approx(1.4)


def test_a_candidate_with_shifted_predictions_fails_on_divergence() -> None:
    result = analyze(window(1), window(2, shift=0.3))
    assert result.verdict == "fail" and result.failed == ("divergence",)
    check = result.check("divergence")
    assert check.value is not None and check.value > 1.0
    assert check.figures["method"] == "psi" and check.figures["test"] == "chi2_homogeneity"
    assert "above the allowed 0.2 (p = " in check.reason and check.reason.endswith("rolled back.")


def test_identical_windows_have_psi_zero_and_pass() -> None:
    same = window(7)
    result = analyze(same, same)
    assert result.verdict == "pass"
    assert result.check("divergence").value == 0.0
    assert result.check("error_rate").value == 0.0
    assert result.check("latency_p95").value == 1.0
    assert psi(same.scores, same.scores) == 0.0  # type: ignore[arg-type]


def test_a_clear_failure_is_decided_even_when_other_checks_are_inconclusive() -> None:
    stable = window(1)
    candidate = WindowStats.of(1000, 200, np.full(1000, np.nan), scores=stable.scores)
    result = analyze(stable, candidate)
    assert statuses(result)["latency_p95"] == "inconclusive"
    assert result.verdict == "fail" and result.failed == ("error_rate",)


# ---------------------------------------------------------------- error rate: the statistical guard


def test_an_error_rate_at_the_allowed_increase_passes() -> None:
    """Check that 3 errors against 1 in 200 (exactly +1 point) passes despite rounding."""
    check = analyze(WindowStats.of(200, 1), WindowStats.of(200, 3)).check("error_rate")
    assert check.status == "pass"
    assert check.reason == (
        "Candidate error rate 1.5 % vs stable 0.5 % is within the allowed +1.0 point."
    )


def test_a_small_sample_increase_that_is_not_significant_is_inconclusive() -> None:
    """Check that 5 errors against 1 in 200 (+2 points, p = 0.108) does not fail."""
    check = analyze(WindowStats.of(200, 1), WindowStats.of(200, 5)).check("error_rate")
    expected = fisher_exact([[5, 195], [1, 199]], alternative="greater").pvalue
    assert check.figures["p_value"] == pytest.approx(expected, rel=1e-12)
    assert check.figures["p_value"] == pytest.approx(0.1076, abs=1e-4)
    assert check.status == "inconclusive"
    assert "not significantly (p = 0.11 on 200 and 200 requests)" in check.reason


def test_a_small_sample_increase_that_is_significant_fails() -> None:
    """Check that 8 errors against 1 in 200 (p = 0.018) waits at the default level (1 % over
    three tests, 0.33 % each: several checks at several steps), and 12 against 1 fails."""
    check = analyze(WindowStats.of(200, 1), WindowStats.of(200, 8)).check("error_rate")
    assert check.figures["p_value"] == pytest.approx(0.0185, abs=1e-4)
    assert check.status == "inconclusive"
    clear = analyze(WindowStats.of(200, 1), WindowStats.of(200, 12)).check("error_rate")
    assert clear.figures["p_value"] == pytest.approx(0.00148, abs=1e-5)
    assert clear.status == "fail"


def test_each_test_runs_at_a_third_of_the_significance() -> None:
    """Check the Bonferroni correction: 10 errors against 1 in 200 (p = 0.0053) is below 1 % but
    not below 1 % / 3, so it waits; at a significance of 3 % (1 % per test) it fails."""
    check = analyze(WindowStats.of(200, 1), WindowStats.of(200, 10)).check("error_rate")
    assert check.figures["p_value"] == pytest.approx(0.00533, abs=1e-5)
    assert check.figures["alpha"] == pytest.approx(0.01 / 3)
    assert check.status == "inconclusive"
    config = AnalysisConfig(significance=0.03)
    check = analyze(WindowStats.of(200, 1), WindowStats.of(200, 10), config).check("error_rate")
    assert check.figures["alpha"] == pytest.approx(0.01) and check.status == "fail"


def test_the_significance_level_is_an_option() -> None:
    config = AnalysisConfig(significance=0.4)  # 0.133 per test; 5 against 1 has p = 0.108
    check = analyze(WindowStats.of(200, 1), WindowStats.of(200, 5), config).check("error_rate")
    assert check.status == "fail"


# ---------------------------------------------------------------- latency: ratio and margin


def flat(latency_ms: float, n: int = 200) -> WindowStats:
    return WindowStats.of(n, 0, np.full(n, latency_ms))


def test_a_tiny_absolute_latency_increase_is_not_a_failure() -> None:
    """Check that 0.9 ms against 0.3 ms (3x, but +0.6 ms) is within the 2 ms margin."""
    check = analyze(flat(0.3), flat(0.9)).check("latency_p95")
    assert check.status == "pass"
    assert check.value == pytest.approx(3.0) and check.threshold == 1.5
    assert check.figures["margin_ms"] == 2.0 and check.figures["allowed_ms"] == 2.3
    assert check.reason == (
        "Candidate p95 latency 0.9 ms is 3.00x stable's 0.3 ms, +0.6 ms, within the allowed "
        "1.5x or +2 ms."
    )


def test_the_latency_margin_is_inclusive_and_an_option() -> None:
    """Check that 1 ms against 3 ms (+2 ms exactly) passes; 3.5 ms (+2.5 ms, 3.5x) is beyond both
    allowances (1.5 ms and 3 ms) on every request, and fails; a 5 ms margin lets it pass."""
    assert analyze(flat(1.0), flat(3.0)).check("latency_p95").status == "pass"
    slower = analyze(flat(1.0), flat(3.5)).check("latency_p95")
    assert slower.status == "fail" and slower.figures["allowed_ms"] == 3.0
    assert slower.figures["p_value"] < 1e-50
    wide = AnalysisConfig(latency_margin_ms=5.0)
    assert analyze(flat(1.0), flat(3.5), wide).check("latency_p95").status == "pass"


def test_a_zero_stable_p95_within_the_margin_passes() -> None:
    """Check that 0 ms against 1 ms has no ratio, but +1 ms is within the margin."""
    check = analyze(flat(0.0), flat(1.0)).check("latency_p95")
    assert check.status == "pass" and check.value is None


def test_the_latency_test_compares_with_stable_raised_to_its_allowance() -> None:
    """Check that Mann-Whitney compares the candidate with max(1.5 t, t + 2) of each stable t:
    latencies 1.6x stable's have a p95 over 1.5x, but are not significantly above 1.5x."""
    from scipy.stats import mannwhitneyu

    base = np.arange(1.0, 201.0)
    check = analyze(WindowStats.of(200, 0, base), WindowStats.of(200, 0, base * 1.6))
    latency = check.check("latency_p95")
    allowance = np.maximum(base * 1.5, base + 2.0)
    expected = mannwhitneyu(base * 1.6, allowance, alternative="greater").pvalue
    assert latency.figures["p_value"] == pytest.approx(expected, rel=1e-12)
    assert latency.value == pytest.approx(1.6)
    assert latency.status == "inconclusive" and latency.figures["p_value"] > 0.01
    assert "(allowed 1.5x or +2 ms), but p = " in latency.reason


# ---------------------------------------------------------------- windows of different times


def test_windows_of_different_times_compare_errors_only() -> None:
    """Check that with concurrent=False (the 100 % step) a 3x slower, shifted candidate is not
    judged on latency or divergence, but its error rate still fails."""
    result = analyze(window(1), window(2, slower=3.0, shift=0.3), concurrent=False)
    assert statuses(result) == {
        "error_rate": "pass",
        "latency_p95": "skip",
        "divergence": "skip",
        "live_metric": "skip",
    }
    assert result.verdict == "pass"
    assert "another time" in result.check("latency_p95").reason
    assert "compared at the earlier steps only" in result.check("divergence").reason
    flaky = analyze(window(1), window(2, errors=100, slower=3.0), concurrent=False)
    assert flaky.verdict == "fail" and flaky.failed == ("error_rate",)


# ---------------------------------------------------------------- low traffic and bad data


@pytest.mark.parametrize("side", ["stable", "candidate"])
def test_low_traffic_is_inconclusive_never_fail(side: str) -> None:
    """Check that a disastrous candidate on 199 requests is not failed: too little traffic."""
    bad = WindowStats.of(199, 199, np.full(199, 1e6), scores=np.full(199, 0.99))
    good = window(1)
    result = analyze(good, bad) if side == "candidate" else analyze(bad, window(2, errors=199))
    assert result.verdict == "inconclusive"
    assert set(statuses(result).values()) == {"inconclusive", "skip"}
    assert "199" in result.check("error_rate").reason
    assert "(at least 200 needed per version): wait for more traffic." in result.reason


def test_min_requests_applies_to_each_compared_sample() -> None:
    candidate = WindowStats.of(1000, 0, np.arange(150.0), scores=np.linspace(0, 1, 1000))
    check = analyze(window(1), candidate).check("latency_p95")
    assert check.status == "inconclusive"
    assert check.reason.startswith("Only 150 candidate latencies in the window")


GOOD = window(1)


@pytest.mark.parametrize(
    ("stable", "candidate", "check", "words"),
    [
        (GOOD, WindowStats.of(1000, 0), "latency_p95", "Only 0 candidate latencies"),
        (GOOD, WindowStats.of(1000, 0, np.full(1000, np.nan)), "latency_p95", "1000 NaN"),
        (GOOD, WindowStats.of(1000, 0, -np.ones(1000)), "latency_p95", "or negative value"),
        (WindowStats.of(1000, 0, np.zeros(1000)), GOOD, "latency_p95", "give no finite ratio"),
        (GOOD, WindowStats.of(1000, 0, np.ones(1000), scores=[]), "divergence", "Only 0"),
        (
            GOOD,
            WindowStats.of(1000, 0, np.ones(1000), scores=np.r_[np.ones(996), np.nan]),
            "divergence",
            "1 NaN or infinite",
        ),
        (GOOD, WindowStats.of(1000, 0, np.ones(1000)), "divergence", "Only one version"),
    ],
)
def test_missing_empty_or_nan_data_is_inconclusive(
    stable: WindowStats, candidate: WindowStats, check: CheckName, words: str
) -> None:
    result = analyze(stable, candidate)
    assert result.check(check).status == "inconclusive"
    assert words in result.check(check).reason
    assert result.verdict == "inconclusive"


def test_windows_without_any_prediction_skip_divergence() -> None:
    result = analyze(WindowStats.of(500, 0, np.ones(500)), WindowStats.of(500, 0, np.ones(500)))
    assert statuses(result) == {
        "error_rate": "pass",
        "latency_p95": "pass",
        "divergence": "skip",
        "live_metric": "skip",
    }
    assert result.verdict == "pass"


# ---------------------------------------------------------------- classifiers without scores


def classes(seed: int, share: float, n: int = 1000) -> WindowStats:
    rng = np.random.default_rng(seed)
    predicted = np.where(rng.random(n) < share, "fraud", "ok")
    return WindowStats.of(n, 0, rng.gamma(4.0, 5.0, n), predicted=predicted)


def test_class_shares_diverging_fail_and_alike_pass() -> None:
    same = analyze(classes(1, 0.05), classes(2, 0.06)).check("divergence")
    assert same.status == "pass" and same.figures["method"] == "class_share"
    moved = analyze(classes(1, 0.05), classes(2, 0.30)).check("divergence")
    assert moved.status == "fail" and moved.figures["class"] in ("fraud", "ok")
    assert moved.value == pytest.approx(abs(moved.candidate - moved.stable))  # type: ignore[operator]
    assert "Candidate predicts class" in moved.reason and "10.0 points" in moved.reason


def counted(n: int, fraud: int, *, classes: tuple[str, ...] = ("fraud", "ok")) -> WindowStats:
    """``n`` predictions, ``fraud`` of them the first class, the rest shared by the others."""
    rest = [classes[1 + i % (len(classes) - 1)] for i in range(n - fraud)]
    return WindowStats.of(n, 0, np.ones(n), predicted=[classes[0]] * fraud + rest)


def test_a_class_share_difference_on_a_small_window_waits_until_significant() -> None:
    """Check 60 candidate predictions against 1,140 of stable (15 % fraud, as in the integration
    test at 5 %): 17 fraud (28.3 %, +13.3 points, p = 0.0098) waits; 20 (33.3 %, p = 0.00078)
    fails. Fisher two-sided on [[17, 43], [171, 969]]."""
    stable = counted(1140, 171)
    check = analyze(stable, counted(60, 17), AnalysisConfig(min_requests=60)).check("divergence")
    assert check.value == pytest.approx(17 / 60 - 0.15)
    assert check.figures["p_value"] == pytest.approx(0.00977, abs=1e-5)
    assert check.status == "inconclusive"
    clear = analyze(stable, counted(60, 20), AnalysisConfig(min_requests=60)).check("divergence")
    assert clear.figures["p_value"] == pytest.approx(0.000778, abs=1e-6)
    assert clear.status == "fail"


def test_of_more_than_two_classes_the_most_different_one_is_corrected() -> None:
    """Check that with three classes the Fisher p-value of the picked class is tripled."""
    three = ("fraud", "ok", "review")
    stable, candidate = counted(1000, 150, classes=three), counted(200, 60, classes=three)
    check = analyze(stable, candidate).check("divergence")
    assert check.figures["class"] == "fraud" and check.figures["classes"] == 3
    single = fisher_exact([[60, 140], [150, 850]]).pvalue
    assert check.figures["p_value"] == pytest.approx(3 * single, rel=1e-9)
    assert check.status == "fail"


def test_a_large_psi_from_an_empty_bin_on_a_small_window_waits() -> None:
    """Check that 60 candidate scores leaving one of stable's deciles empty (PSI 0.705, most of
    it from the empty bin's 1e-4 share) wait: a chi-square test on the counts gives p = 0.64."""
    stable = np.arange(1000) / 1000  # deciles 0.0999, 0.1999, ...: 100 values per bin
    counts = [0, 7, 7, 7, 7, 7, 7, 6, 6, 6]
    candidate = np.repeat(np.arange(10) / 10 + 0.05, counts)
    config = AnalysisConfig(min_requests=60)
    check = analyze(
        WindowStats.of(1000, 0, np.ones(1000), scores=stable),
        WindowStats.of(60, 0, np.ones(60), scores=candidate),
        config,
    ).check("divergence")
    shares = [1e-4] + [c / 60 for c in counts[1:]]
    assert check.value == pytest.approx(sum((c - 0.1) * math.log(c / 0.1) for c in shares))
    assert check.value == pytest.approx(0.7055, abs=1e-4)
    # Pearson's chi-square by hand: expected counts are the column totals split 1000 : 60.
    totals = np.array(counts) + 100
    observed = np.array([[100] * 10, counts])
    expected = np.outer([1000, 60], totals) / 1060
    statistic = float(((observed - expected) ** 2 / expected).sum())
    assert check.figures["p_value"] == pytest.approx(chi2.sf(statistic, 9), rel=1e-9)
    assert check.figures["p_value"] == pytest.approx(0.644, abs=1e-3)
    assert check.status == "inconclusive"
    assert "above the allowed 0.2, but p = 0.644: not yet more than noise" in check.reason


def test_missing_predicted_classes_are_inconclusive() -> None:
    candidate = WindowStats.of(300, 0, np.ones(300), predicted=["ok"] * 299 + [None])
    check = analyze(classes(1, 0.05, 300), candidate).check("divergence")
    assert check.status == "inconclusive" and "1 missing" in check.reason


# ---------------------------------------------------------------- live metric


def live(metric: str = "accuracy", **options: object) -> AnalysisConfig:
    return AnalysisConfig(live_metric=metric, **options)  # type: ignore[arg-type]


def test_a_better_live_metric_passes_and_a_worse_one_fails() -> None:
    stable = window(1, flip=0.20)
    better = analyze(stable, window(2, flip=0.10), live()).check("live_metric")
    assert better.status == "pass"
    assert better.candidate > better.stable  # type: ignore[operator]
    assert better.value == pytest.approx(better.stable - better.candidate)  # type: ignore[operator]
    worse = analyze(stable, window(2, flip=0.35), live())
    assert worse.verdict == "fail" and worse.failed == ("live_metric",)
    check = worse.check("live_metric")
    assert check.figures["candidate_labels"] == check.figures["stable_labels"] == 997
    assert "on 997 and 997 labelled predictions (allowed 0.01 worse): rolled back." in check.reason


def test_the_live_metric_equals_the_metric_library() -> None:
    from mlship.checks.metrics import Predictions, get_metric

    stable, candidate = window(1, flip=0.2, labelled=400), window(2, flip=0.2, labelled=300)
    check = analyze(stable, candidate, live("f1")).check("live_metric")
    assert candidate.predicted is not None and candidate.labels is not None
    f1 = get_metric("f1").score(candidate.labels, Predictions(candidate.predicted[:300]))
    assert check.candidate == f1
    assert check.figures["candidate_labels"] == 300


def test_too_few_labels_skip_the_live_metric_or_wait_when_it_is_required() -> None:
    stable, candidate = window(1, flip=0.2), window(2, flip=0.5, labelled=99)
    check = analyze(stable, candidate, live()).check("live_metric")
    assert check.status == "skip"
    assert check.reason == (
        "Only 99 labelled candidate predictions (at least 100 needed): live accuracy not "
        "compared yet."
    )
    required = analyze(stable, candidate, live(require_live_metric=True))
    assert required.check("live_metric").status == "inconclusive"
    assert required.verdict == "inconclusive"


def test_missing_labels_are_not_counted() -> None:
    stable = window(1, flip=0.2)
    assert stable.labels is not None and stable.predicted is not None
    labels = np.array(stable.labels, dtype=float)
    labels[::2] = np.nan
    partly = WindowStats.of(1000, 3, stable.latency_ms, predicted=stable.predicted, labels=labels)
    check = analyze(partly, window(2, flip=0.2), live()).check("live_metric")
    assert check.figures["stable_labels"] == 498
    assert check.stable == np.mean(stable.predicted[1::2] == stable.labels[1::2])


@pytest.mark.parametrize("metric", ["roc_auc", "log_loss", "rmse"])
def test_score_and_regression_metrics_are_computed(metric: str) -> None:
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, 500)
    scores = np.clip(truth * 0.4 + rng.random(500) * 0.6, 0.0, 1.0)
    one = WindowStats.of(500, 0, rng.gamma(4.0, 5.0, 500), scores=scores, labels=truth)
    check = analyze(one, one, live(metric)).check("live_metric")
    assert check.status == "pass" and check.value == 0.0 and check.stable is not None


def test_a_metric_that_cannot_be_computed_is_skipped_with_the_reason() -> None:
    one = window(1, flip=0.2)
    check = analyze(one, one, live("rmse", min_labels=1)).check("live_metric")
    assert check.status == "pass"  # regression metrics fall back on the predicted values
    scoreless = WindowStats.of(1000, 3, one.latency_ms, predicted=one.predicted, labels=one.labels)
    check = analyze(scoreless, scoreless, live("roc_auc")).check("live_metric")
    assert check.status == "skip"
    assert check.reason == (
        "Live roc_auc of candidate: roc_auc needs prediction scores, and none were logged."
    )


# ---------------------------------------------------------------- PSI


def test_psi_equals_a_hand_computation() -> None:
    """Deciles of 1..20 are 2.9, 4.8, ..., 18.1: two reference values per bin, a share of 0.1."""
    reference = np.arange(1.0, 21.0)
    current = [1, 1, 1, 1, 3, 5, 5, 9, 11, 11, 11, 13, 15, 17, 19, 19, 19, 19, 19, 19]
    # Bins (-inf, 2.9], (2.9, 4.8], ..., (18.1, inf): 4, 1, 2, 0, 1, 3, 1, 1, 1, 6 values of 20.
    shares = [0.20, 0.05, 0.10, 1e-4, 0.05, 0.15, 0.05, 0.05, 0.05, 0.30]
    expected = sum((c - 0.1) * math.log(c / 0.1) for c in shares)
    assert psi(reference, current) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(1.1727, abs=1e-4)


def test_psi_bins_are_closed_on_the_right() -> None:
    """With reference 1..4 and two bins the edge is 2.5; 2.5 itself falls in the first bin."""
    assert psi([1, 2, 3, 4], [2.5, 2.5, 3, 4], bins=2) == 0.0
    expected = (1e-4 - 0.5) * math.log(1e-4 / 0.5) + 0.5 * math.log(2)
    assert psi([1, 2, 3, 4], [3, 4, 4, 4], bins=2) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bins": 1}, "The 'bins' option must be an integer >= 2. Got 1 instead."),
        ({"eps": 0}, "The 'eps' option must be a number in (0, 1). Got 0 instead."),
    ],
)
def test_psi_validates_its_options(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        psi([1.0, 2.0], [1.0, 2.0], **kwargs)  # type: ignore[arg-type]
    assert str(exc.value) == message


@pytest.mark.parametrize("bad", [[], [1.0, np.nan]])
def test_psi_refuses_empty_or_nan_samples(bad: list[float]) -> None:
    with pytest.raises(InvalidInput, match="non-empty list of finite numbers"):
        psi([1.0, 2.0], bad)


# ---------------------------------------------------------------- configuration and inputs


@pytest.mark.parametrize(
    ("option", "value", "must"),
    [
        ("max_latency_ratio", 0.5, "a number >= 1"),
        ("latency_margin_ms", -1.0, "a number >= 0"),
        ("max_error_rate_increase", -0.1, "a number in [0, 1]"),
        ("max_divergence_psi", 0, "a number > 0"),
        ("max_class_share_diff", math.nan, "a number in (0, 1]"),
        ("live_metric_tolerance", "0.1", "a number >= 0"),
        ("significance", 1.0, "a number in (0, 1)"),
        ("min_requests", 0, "an integer >= 1"),
        ("min_labels", 2.5, "an integer >= 1"),
        ("min_requests", True, "an integer >= 1"),
    ],
)
def test_config_errors_name_the_option_and_the_value(option: str, value: object, must: str) -> None:
    shown = repr(value) if isinstance(value, str) else str(value)
    with pytest.raises(ConfigError) as exc:
        AnalysisConfig(**{option: value})  # type: ignore[arg-type]
    assert str(exc.value) == f"The {option!r} option must be {must}. Got {shown} instead."


def test_the_live_metric_must_be_a_builtin_and_set_when_required() -> None:
    with pytest.raises(ConfigError, match="The 'live_metric' option must be None or one of acc"):
        AnalysisConfig(live_metric="f2")
    with pytest.raises(ConfigError, match=r"when 'require_live_metric' is set\. Got None instead"):
        AnalysisConfig(require_live_metric=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"requests": 3, "errors": 4}, "errors (4) cannot exceed requests (3)"),
        ({"requests": -1, "errors": 0}, "requests must be an integer >= 0"),
        ({"requests": 5, "errors": 0, "scores": [0.1], "predicted": [0, 1]}, "one value per"),
        ({"requests": 5, "errors": 0, "scores": [0.1], "labels": [0, 1]}, "cannot outnumber"),
        ({"requests": 5, "errors": 0, "labels": [0]}, "need scores or predicted"),
        ({"requests": 5, "errors": 0, "latency_ms": [[1.0]]}, "one-dimensional"),
        ({"requests": 5, "errors": 0, "latency_ms": ["fast"]}, "latency_ms must be numbers"),
    ],
)
def test_inconsistent_windows_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        WindowStats.of(**kwargs)  # type: ignore[arg-type]


def test_window_arrays_are_read_only() -> None:
    stats = WindowStats.of(2, 0, [1.0, 2.0], scores=[0.1, 0.2])
    with pytest.raises(ValueError, match="read-only"):
        stats.latency_ms[0] = 0.0


def test_windows_from_the_prediction_log_frame() -> None:
    frame = pd.DataFrame(
        {
            "role": ["stable", "candidate", "candidate", "candidate", "stable"],
            "latency_ms": [10.0, 12.0, None, 30.0, 11.0],
            "error": [False, False, True, None, False],
            "score": [0.2, 0.9, None, 0.4, 0.3],
            "predicted": ["ok", "fraud", None, "ok", "ok"],
            "label": [None, "fraud", None, None, "ok"],
        }
    )
    candidate = WindowStats.from_frame(frame, "candidate")
    assert (candidate.requests, candidate.errors) == (3, 1)
    assert candidate.latency_ms.tolist() == [12.0, 30.0]
    assert candidate.scores is not None and candidate.scores.tolist() == [0.9, 0.4]
    assert candidate.predicted is not None and candidate.predicted.tolist() == ["fraud", "ok"]
    assert candidate.labels is not None and candidate.labels.tolist() == ["fraud", None]
    stable = WindowStats.from_frame(frame.drop(columns=["score"]), "stable")
    assert (stable.requests, stable.errors, stable.scores) == (2, 0, None)
    assert stable.labels is not None and stable.labels.tolist() == [None, "ok"]
    result = analyze(stable, candidate, live(min_requests=2, min_labels=1))
    assert result.check("divergence").figures["method"] == "class_share"
    assert result.check("live_metric").status == "pass"  # accuracy 1.0 on each side
    with pytest.raises(InvalidInput, match="no column"):
        WindowStats.from_frame(frame.drop(columns=["error"]), "stable")


def test_to_dict_is_json_ready() -> None:
    stable = window(1, flip=0.2)
    nan_latency = WindowStats.of(1000, 100, np.full(1000, np.nan), scores=np.full(997, np.inf))
    for result in (analyze(stable, window(2, flip=0.3), live()), analyze(stable, nan_latency)):
        data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
        assert data["verdict"] == result.verdict and len(data["checks"]) == 4
        assert [c["name"] for c in data["checks"]] == [
            "error_rate",
            "latency_p95",
            "divergence",
            "live_metric",
        ]


# ---------------------------------------------------------------- properties

FLOATS = st.floats(allow_nan=True, allow_infinity=False)
METRICS = st.sampled_from([None, "accuracy", "f1", "roc_auc", "log_loss", "brier", "rmse", "r2"])


@st.composite
def windows(draw: st.DrawFn) -> WindowStats:
    requests = draw(st.integers(0, 60))
    rows = draw(st.integers(0, 60))
    latency = draw(hnp.arrays(np.float64, st.integers(0, 60), elements=FLOATS))
    scores = draw(st.none() | hnp.arrays(np.float64, rows, elements=FLOATS))
    predicted = draw(st.none() | hnp.arrays(np.int64, rows, elements=st.integers(0, 2)))
    labels = None
    if scores is not None or predicted is not None:
        labels = draw(
            st.none()
            | hnp.arrays(
                np.float64, st.integers(0, rows), elements=st.sampled_from([0.0, 1.0, np.nan])
            )
        )
    return WindowStats.of(
        requests,
        draw(st.integers(0, requests)),
        latency,
        scores=scores,
        predicted=predicted,
        labels=labels,
    )


@st.composite
def configs(draw: st.DrawFn) -> AnalysisConfig:
    metric = draw(METRICS)
    return AnalysisConfig(
        min_requests=draw(st.integers(1, 40)),
        min_labels=draw(st.integers(1, 10)),
        live_metric=metric,
        require_live_metric=metric is not None and draw(st.booleans()),
    )


@settings(max_examples=300, deadline=None)
@given(stable=windows(), candidate=windows(), config=configs())
def test_analysis_never_raises_and_low_traffic_never_fails(
    stable: WindowStats, candidate: WindowStats, config: AnalysisConfig
) -> None:
    result = analyze(stable, candidate, config)
    json.dumps(result.to_dict(), allow_nan=False)
    assert result.verdict in ("pass", "fail", "inconclusive")
    if min(stable.requests, candidate.requests) < config.min_requests:
        assert result.verdict == "inconclusive"
        assert all(c.status in ("inconclusive", "skip") for c in result.checks)


@settings(max_examples=200, deadline=None)
@given(
    reference=hnp.arrays(np.float64, st.integers(1, 50), elements=st.floats(-1e6, 1e6)),
    current=hnp.arrays(np.float64, st.integers(1, 50), elements=st.floats(-1e6, 1e6)),
    bins=st.integers(2, 12),
)
def test_psi_is_non_negative_and_zero_on_itself(
    reference: np.ndarray, current: np.ndarray, bins: int
) -> None:
    assert psi(reference, current, bins) >= 0.0
    assert psi(reference, reference, bins) == 0.0
