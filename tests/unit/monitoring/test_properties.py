"""Invariants of the drift verdict, checked on generated data (hypothesis)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mlship.monitoring import DriftOptions, detect_drift, feature_drift
from tests.unit.monitoring.conftest import FrameFactory

ANY_SIZE = DriftOptions(min_rows=1)
FAST = settings(max_examples=60, deadline=None)

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
with_missing = st.one_of(finite, st.just(float("nan")))
numeric = arrays(np.float64, st.integers(1, 120), elements=with_missing)
texts = st.lists(st.one_of(st.sampled_from(["a", "b", "c", "d"]), st.none()), min_size=1)


@FAST
@given(numeric)
def test_identical_numeric_samples_never_drift(values: np.ndarray) -> None:
    result = feature_drift(values, values.copy(), ANY_SIZE)
    assert not result.drift
    if result.judged:
        assert result.statistic == 0.0
        assert result.p_value == 1.0
        assert result.wasserstein == 0.0 and result.psi == 0.0 and result.js == 0.0


@FAST
@given(texts)
def test_identical_categorical_samples_never_drift(values: list[str | None]) -> None:
    series = pd.Series(values, dtype="str")
    result = feature_drift(series, series.copy(), ANY_SIZE)
    assert not result.drift
    if result.judged:
        assert result.p_value == 1.0 and result.js == 0.0 and result.psi == 0.0
        assert result.new_categories is not None and result.new_categories.count == 0


@FAST
@given(numeric, numeric)
def test_row_order_does_not_matter(ref: np.ndarray, cur: np.ndarray) -> None:
    rng = np.random.default_rng(len(ref) * 1000 + len(cur))
    texts_ref = np.array(["x", "y", "z"])[rng.integers(0, 3, len(ref))]
    texts_cur = np.array(["x", "y", "w"])[rng.integers(0, 3, len(cur))]
    reference = pd.DataFrame({"n": ref, "c": texts_ref})
    current = pd.DataFrame({"n": cur, "c": texts_cur})
    first = detect_drift(reference, current, ANY_SIZE).to_dict()
    shuffled = detect_drift(
        reference.sample(frac=1.0, random_state=1),
        current.sample(frac=1.0, random_state=2),
        ANY_SIZE,
    ).to_dict()
    assert shuffled == first


@FAST
@given(finite, finite, st.integers(1, 80), st.integers(1, 80))
def test_constant_columns_give_a_clear_result(a: float, b: float, n1: int, n2: int) -> None:
    result = feature_drift(np.full(n1, a), np.full(n2, b), ANY_SIZE)
    json.dumps(result.to_dict(), allow_nan=False)
    if a == b:
        assert not result.drift
        assert result.statistic == 0.0
    else:
        assert result.ks is not None and result.ks.statistic == 1.0
        assert result.effect is not None and result.effect > 0


def test_all_missing_columns_give_a_reason_not_a_crash() -> None:
    """Check that an empty side leaves the distribution unjudged, while the missing values are
    judged: all missing in the current data is the largest rise there is."""
    reference = pd.DataFrame({"n": [np.nan] * 50, "c": pd.Series([None] * 50, dtype="str")})
    current = pd.DataFrame({"n": np.arange(50.0), "c": ["a"] * 50})
    for ref, cur, emptied in ((reference, current, False), (current, reference, True)):
        report = detect_drift(ref, cur)
        for feature in report.features.values():
            assert feature.drift is emptied
            assert feature.drift_reasons == (("missing",) if emptied else ())
            assert feature.reason is not None and "no values" in feature.reason
            assert feature.p_value is None and feature.statistic is None
            assert feature.new_category_rise is None or not feature.new_category_rise.judged
        json.loads(report.to_json())
        assert report.dataset.judged == 2 and report.dataset_drift is emptied


def test_one_row_windows_give_a_reason_not_a_crash(make_frame: FrameFactory) -> None:
    reference = make_frame(2000, seed=1)
    current = make_frame(1, seed=2, shift=10.0)
    report = detect_drift(reference, current)
    for feature in report.features.values():
        assert not feature.drift
        assert feature.reason == (
            "too few values to judge: 1 in the current data, at least 30 needed"
        )
        assert feature.statistic is not None  # the statistics are still computed and shown
    assert not report.dataset_drift
    json.loads(report.to_json())
    single = feature_drift(np.array([1.0]), np.array([5.0]), ANY_SIZE)
    assert single.judged and single.ks is not None and single.ks.p_value == 1.0


def test_infinite_values_count_as_missing() -> None:
    ref = np.concatenate((np.arange(100.0), [np.inf, -np.inf]))
    result = feature_drift(ref, np.arange(100.0))
    assert result.counts.reference_missing == 2
    assert result.statistic == 0.0 and not result.drift


@FAST
@given(st.integers(0, 400), st.integers(0, 400), st.integers(0, 400), st.integers(0, 400))
def test_fisher_rise_is_scipys_and_falls_as_the_current_share_rises(
    a: int, b: int, c: int, d: int
) -> None:
    from scipy.stats import fisher_exact

    from mlship.monitoring.statistics import fisher_rise

    k1, n1, k2, n2 = min(a, b), max(a, b, 1), min(c, d), max(c, d, 1)
    p = fisher_rise(k1, n1, k2, n2).p_value
    expected = fisher_exact([[k2, n2 - k2], [k1, n1 - k1]], alternative="greater").pvalue
    assert 0.0 <= p <= 1.0 and abs(p - min(expected, 1.0)) <= 1e-9 * max(expected, 1e-300) + 1e-15
    if k2 < n2:
        assert fisher_rise(k1, n1, k2 + 1, n2).p_value <= p + 1e-12
