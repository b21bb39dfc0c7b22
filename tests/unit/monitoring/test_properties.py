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
    reference = pd.DataFrame({"n": [np.nan] * 50, "c": pd.Series([None] * 50, dtype="str")})
    current = pd.DataFrame({"n": np.arange(50.0), "c": ["a"] * 50})
    for ref, cur in ((reference, current), (current, reference)):
        report = detect_drift(ref, cur)
        for feature in report.features.values():
            assert not feature.drift
            assert feature.reason is not None and "no values" in feature.reason
            assert feature.p_value is None and feature.statistic is None
        json.loads(report.to_json())
        assert report.dataset.judged == 0 and not report.dataset_drift


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
