"""The shadow report against hand computations on small seeded cases."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from mlship.errors import InvalidInput
from mlship.rollout.shadow_html import render_html
from mlship.rollout.shadow_report import LoggedPrediction, ShadowReport, compare

T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)
T1 = datetime(2024, 5, 1, 13, tzinfo=UTC)


def stable(rid: str, rows: list[dict], outputs: list | None, ms: float, error: str | None = None):
    return LoggedPrediction(rid, "stable", rows, outputs, ms, error)


def shadow(rid: str, outputs: list | None, ms: float, error: str | None = None):
    return LoggedPrediction(rid, "shadow", None, outputs, ms, error)


def classification_report(**options: object) -> ShadowReport:
    stables = [
        stable("r1", [{"country": "DE", "amount": 10}], [0], 1.0),
        stable(
            "r2", [{"country": "DE", "amount": 20}, {"country": "US", "amount": 30}], [1, 0], 2.0
        ),
        stable("r3", [{"country": "US", "amount": 40}], [1], 3.0),
        stable("r4", [{"country": "FR", "amount": 50}], [0], 4.0),
        stable("r5", [{"country": "US", "amount": 60}], None, 5.0, "ValueError: boom"),
        stable("r6", [{"country": "DE", "amount": 70}], [1], 6.0),  # not mirrored
    ]
    shadows = [
        shadow("r1", [0], 10.0),
        shadow("r2", [1, 1], 20.0),
        shadow("r3", [0], 30.0),
        shadow("r4", None, 40.0, "RuntimeError: shadow"),
        shadow("r7", [1], 70.0),  # stable's row is not in the window
    ]
    return compare(
        stables,
        shadows,
        model="fraud",
        stable_version=1,
        shadow_version=2,
        output_kind="classification",
        since=T0,
        until=T1,
        **options,  # type: ignore[arg-type]
    )


def test_classification_agreement_latency_and_errors_match_a_hand_computation() -> None:
    report = classification_report(bins=2)
    # Pairs: r1..r4; compared rows (neither side failed): r1, r2 (two rows), r3.
    assert (report.paired_requests, report.rows_compared) == (4, 4)
    assert report.agreement == 0.5  # r1 0=0, r2a 1=1, r2b 0≠1, r3 1≠0
    assert {(a, b): n for a, b, n in report.class_pairs} == {
        (0, 0): 1,
        (1, 1): 1,
        (0, 1): 1,
        (1, 0): 1,
    }
    assert report.score_differences is None  # classes have no scores
    # Latency over the three requests both answered; numpy's linear percentiles.
    assert report.stable.latency_ms == pytest.approx(
        {"p50": 2.0, "p95": 2.9, "p99": 2.98, "mean": 2.0}
    )
    assert report.shadow.latency_ms == pytest.approx(
        {"p50": 20.0, "p95": 29.0, "p99": 29.8, "mean": 20.0}
    )
    # Errors over every request of each role.
    assert (report.stable.requests, report.stable.errors) == (6, 1)
    assert (report.shadow.requests, report.shadow.errors) == (5, 1)
    assert report.shadow.error_rate == pytest.approx(0.2)


def test_slices_by_category_and_by_quantile_bin() -> None:
    report = classification_report(bins=2)
    slices = {f.feature: f for f in report.slices}
    country = slices["country"]
    assert country.kind == "categorical"
    assert [(s.label, s.rows, s.disagreement) for s in country.slices] == [
        ("DE", 2, 0.0),
        ("US", 2, 1.0),
    ]
    amount = slices["amount"]
    # Compared amounts 10, 20, 30, 40: the median 25 splits them.
    assert amount.kind == "numeric"
    assert [(s.label, s.rows, s.disagreement) for s in amount.slices] == [
        ("[10, 25)", 2, 0.0),
        ("[25, 40]", 2, 1.0),
    ]
    assert country.spread == amount.spread == 1.0
    only = classification_report(bins=2, features=["country"])
    assert [f.feature for f in only.slices] == ["country"]
    with pytest.raises(InvalidInput, match="'slice' option names colour"):
        classification_report(features=["colour"])


def test_regression_score_differences_match_numpy() -> None:
    outputs = [(1.0, 1.0), (2.0, 2.5), (3.0, 2.0), (4.0, 4.0 + 1e-9)]
    stables = [
        stable(f"r{i}", [{"segment": "a" if i < 2 else "b"}], [a], 1.0)
        for i, (a, _) in enumerate(outputs)
    ]
    shadows = [shadow(f"r{i}", [b], 2.0) for i, (_, b) in enumerate(outputs)]
    report = compare(
        stables,
        shadows,
        model="price",
        stable_version=3,
        shadow_version=4,
        output_kind="regression",
        since=T0,
        until=T1,
    )
    diffs = np.array([b - a for a, b in outputs])
    assert report.agreement == 0.5  # equal within a relative 1e-6: rows 0 and 3
    found = report.score_differences
    assert found is not None
    assert found.count == 4
    assert found.mean == pytest.approx(diffs.mean())
    assert found.mean_abs == pytest.approx(0.375, abs=1e-9)
    assert found.quantiles["min"] == -1.0 and found.quantiles["max"] == 0.5
    assert found.quantiles["p25"] == pytest.approx(-0.25)
    assert found.quantiles["p50"] == pytest.approx(5e-10)
    assert sum(found.counts) == 4 and len(found.edges) == len(found.counts) + 1
    (segment,) = report.slices
    assert [(s.label, s.disagreement, s.mean_abs_diff) for s in segment.slices] == [
        ("a", 0.5, pytest.approx(0.25)),
        ("b", 0.5, pytest.approx(0.5, abs=1e-9)),
    ]
    data = report.to_dict()
    assert data["score_differences"]["histogram"]["counts"] == list(found.counts)
    assert data["roles"]["shadow"]["version"] == 4


def test_nothing_to_compare_gives_an_empty_report() -> None:
    report = compare(
        [],
        [],
        model="fraud",
        stable_version=1,
        shadow_version=2,
        output_kind="classification",
        since=T0,
        until=T1,
    )
    assert (report.paired_requests, report.agreement, report.stable.error_rate) == (0, None, None)
    assert "No rows were answered by both versions yet" in render_html(report)


def test_html_page_is_self_contained_and_escaped() -> None:
    report = classification_report(bins=2)
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") >= 3  # class pairs, latency, slices
    for external in ("<script", "src=", "href=", "<link"):
        assert external not in page
    hostile = compare(
        [stable("r1", [{"country": "<b>x</b>"}], ["<i>"], 1.0)],
        [shadow("r1", ["<i>"], 1.0)],
        model="m<1>",
        stable_version=1,
        shadow_version=2,
        output_kind="classification",
        since=T0,
        until=T1,
    )
    page = render_html(hostile)
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page and "m&lt;1&gt;" in page


def test_classifier_score_differences_use_the_logged_probabilities() -> None:
    """Check that logged probabilities give score differences: the positive class's probability
    for two classes, the probability of stable's class for more."""
    binary = compare(
        [
            LoggedPrediction("a", "stable", [{"x": 1}], [0], 1.0, scores=[[0.8, 0.2]]),
            LoggedPrediction(
                "b", "stable", [{"x": 2}, {"x": 3}], [1, 1], 1.0, scores=[[0.4, 0.6], [0.1, 0.9]]
            ),
        ],
        [
            LoggedPrediction("a", "shadow", None, [0], 1.0, scores=[[0.7, 0.3]]),
            LoggedPrediction("b", "shadow", None, [0, 1], 1.0, scores=[[0.55, 0.45], [0.2, 0.8]]),
        ],
        model="fraud",
        stable_version=1,
        shadow_version=2,
        output_kind="classification",
        since=T0,
        until=T1,
    )
    found = binary.score_differences
    assert found is not None and found.count == 3
    assert found.mean == pytest.approx(((0.3 - 0.2) + (0.45 - 0.6) + (0.8 - 0.9)) / 3)
    assert binary.agreement == pytest.approx(2 / 3)
    three = compare(
        [LoggedPrediction("a", "stable", [{"x": 1}], ["b"], 1.0, scores=[[0.2, 0.5, 0.3]])],
        [LoggedPrediction("a", "shadow", None, ["c"], 1.0, scores=[[0.1, 0.4, 0.5]])],
        model="m",
        stable_version=1,
        shadow_version=2,
        output_kind="classification",
        since=T0,
        until=T1,
    )
    assert three.score_differences is not None
    assert three.score_differences.mean == pytest.approx(0.4 - 0.5)
