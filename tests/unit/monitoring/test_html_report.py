"""The HTML drift report and what it draws: histograms, drift over time, the page itself."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from mlship.monitoring import DriftOptions, Reference, detect_drift
from mlship.monitoring.histograms import histogram
from mlship.monitoring.html_report import render_html
from mlship.monitoring.timeline import drift_over_time
from mlship.registry.profile import profile_frame
from tests.unit.monitoring.conftest import FrameFactory


def _page(reference: pd.DataFrame, current: pd.DataFrame, **extra: object) -> str:
    built = Reference.from_frame(reference)
    report = detect_drift(built, current)
    charts = {n: histogram(n, built.columns[n], current[n]) for n in report.features}
    return render_html(report, charts, title="Drift report: test", **extra)  # type: ignore[arg-type]


def test_numeric_histogram_shares_sum_to_one_and_keep_the_tails() -> None:
    """Check that values beyond the plotted range land in the end bins, not nowhere."""
    rng = np.random.default_rng(3)
    reference = Reference.from_frame(pd.DataFrame({"x": rng.normal(size=5000)}))
    current = pd.Series(np.concatenate([rng.normal(size=990), np.full(10, 1e6)]))
    h = histogram("x", reference.columns["x"], current, bins=20)
    assert h.kind == "numeric" and len(h.edges) == 21 and len(h.reference) == 20
    assert sum(h.reference) == pytest.approx(1.0)
    assert sum(h.current) == pytest.approx(1.0)
    assert h.current[-1] >= 0.01  # the ten outliers
    assert h.edges[-1] < 10  # ... did not stretch the grid
    assert h.current_count == 1000 and h.reference_count == 5000


def test_profile_histogram_is_close_to_the_frame_one() -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"x": rng.lognormal(size=20_000)})
    current = pd.Series(rng.lognormal(size=2000))
    exact = histogram("x", Reference.from_frame(frame).columns["x"], current)
    approx = histogram("x", Reference.from_profile(profile_frame(frame)).columns["x"], current)
    assert approx.edges == pytest.approx(exact.edges, abs=0.05)
    assert np.abs(np.subtract(approx.reference, exact.reference)).max() < 0.01


def test_categorical_histogram_lumps_the_rest_and_marks_new_categories() -> None:
    reference = Reference.from_frame(pd.DataFrame({"c": [f"k{i % 15}" for i in range(1500)]}))
    current = pd.Series(["new"] * 500 + [f"k{i % 15}" for i in range(1000)] + [None] * 7)
    h = histogram("c", reference.columns["c"], current, top=5)
    assert h.labels[0] == "new" and h.new[0] and not any(h.new[1:])
    assert h.labels[-1] == "other (11)"
    assert sum(h.reference) == pytest.approx(1.0) and sum(h.current) == pytest.approx(1.0)
    assert h.current_count == 1500


def test_drift_over_time_judges_each_slice(make_frame: FrameFactory) -> None:
    reference = Reference.from_frame(make_frame(4000, seed=1))
    calm, shifted = make_frame(600, seed=2), make_frame(600, seed=3, shift=1.0)
    current = pd.concat([calm, shifted], ignore_index=True)
    times = np.concatenate([np.linspace(0, 99, 600), np.linspace(300, 399, 600)])
    timeline = drift_over_time(reference, current, times, slices=4)
    assert timeline.rows == (600, 0, 0, 600)
    assert timeline.starts[0] == 0 and timeline.ends[-1] == 399
    assert timeline.drift["n0"] == (False, False, False, True)
    assert timeline.effects["n0"][1] is None and timeline.effects["n0"][2] is None
    assert timeline.thresholds["n0"] == 0.1 and timeline.effect_names["c0"] == "js"
    assert set(timeline.to_dict()["features"]) == {"n0", "n1", "n2", "c0", "c1"}


def test_page_is_self_contained_with_one_chart_per_feature(make_frame: FrameFactory) -> None:
    reference, current = make_frame(3000, seed=1), make_frame(3000, seed=2, shift=0.5)
    page = _page(reference, current, subtitle="files")
    charts = re.findall(r'<svg class="feature-chart" data-feature="([^"]+)"', page)
    assert sorted(charts) == ["c0", "c1", "n0", "n1", "n2"]
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page and "<img" not in page
    # The verdict comes first, before the table and the charts.
    assert page.index('id="verdict"') < page.index("<table") < page.index("feature-chart")
    assert "Dataset drift detected" in page
    assert "Benjamini-Hochberg at a false discovery rate of 0.05 (decides): 3 of 5" in page
    assert "Share of drifted features: 60% of 5 (threshold 50%)" in page


def test_page_escapes_names_categories_and_titles() -> None:
    rng = np.random.default_rng(5)
    evil = '<img src=x onerror="alert(1)">'
    reference = pd.DataFrame({evil: rng.normal(size=500), "c": rng.choice(["a", evil], 500)})
    current = pd.DataFrame({evil: rng.normal(size=500), "c": rng.choice(["a", evil], 500)})
    page = _page(reference, current, subtitle=f"subtitle {evil}")
    assert evil not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page


def test_timeline_chart_draws_a_line_per_feature(make_frame: FrameFactory) -> None:
    reference, current = make_frame(2000, seed=1), make_frame(2000, seed=2, shift=0.5)
    built = Reference.from_frame(reference)
    timeline = drift_over_time(built, current, np.arange(2000.0), slices=5)
    page = _page(reference, current, timeline=timeline)
    chart = page[page.index('<svg class="timeline"') :]
    chart = chart[: chart.index("</svg>")]
    assert chart.count("<path ") == 5
    assert chart.count("<circle ") == 25
    assert "threshold 0.1" in chart
    without = _page(reference, current, timeline_note="No times to slice by.")
    assert 'class="timeline"' not in without and "No times to slice by." in without


def test_page_shows_no_drift_and_the_prediction(make_frame: FrameFactory) -> None:
    reference, current = make_frame(3000, seed=1), make_frame(3000, seed=2)
    reference["score"] = np.linspace(0, 1, 3000)
    current["score"] = np.linspace(0.5, 1.5, 3000)
    built = Reference.from_frame(reference)
    report = detect_drift(built, current, DriftOptions(), prediction="score")
    charts = {n: histogram(n, built.columns[n], current[n]) for n in [*report.features, "score"]}
    page = render_html(report, charts, title="t")
    assert "No dataset drift" in page and 'class="verdict ok"' in page
    assert "Predictions (kept out of the dataset verdict): drift." in page
    assert "score (model output)" in page
    assert page.count('class="feature-chart"') == 6


def test_the_page_says_why_a_feature_drifts_by_missing_values_or_new_categories() -> None:
    rng = np.random.default_rng(9)
    reference = pd.DataFrame(
        {"x": rng.normal(size=4000), "c": pd.Series(rng.choice(["a", "b"], 4000), dtype="str")}
    )
    current = pd.DataFrame(
        {"x": rng.normal(size=4000), "c": pd.Series(rng.choice(["a", "b"], 4000), dtype="str")}
    )
    reference.loc[:39, "x"] = np.nan  # 1 %
    current.loc[:999, "x"] = np.nan  # 25 %
    current.loc[:59, "c"] = "zz"  # 1.5 %
    page = _page(reference, current)
    assert '<td class="yes">DRIFT: missing 1 % → 25 %</td>' in page
    assert '<td class="yes">DRIFT: new categories 1.5 % (zz)</td>' in page
    assert "DRIFT: missing 1 % → 25 %</span>" in page  # the chart's caption
