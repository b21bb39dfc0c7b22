"""The training-data profile is checked against numpy and pandas computing the same figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mlship.registry.profile import (
    HISTOGRAM_BINS,
    QUANTILES,
    fingerprint_frame,
    profile_column,
    profile_frame,
)

floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(1, 300), elements=floats))
def test_numeric_profile_matches_numpy(values: np.ndarray) -> None:
    p = profile_column(pd.Series(values))
    assert p["min"] == values.min() and p["max"] == values.max()
    np.testing.assert_allclose(
        p["quantiles"], np.quantile(values, QUANTILES), rtol=1e-12, atol=1e-9
    )
    assert sum(p["histogram"]["counts"]) == len(values)
    if values.max() > values.min():
        counts, edges = np.histogram(values, bins=HISTOGRAM_BINS)
        assert p["histogram"]["counts"] == counts.tolist()
        np.testing.assert_allclose(p["histogram"]["edges"], edges)


def test_missing_values_are_counted_and_excluded() -> None:
    series = pd.Series([1.0, np.nan, 3.0, np.nan])
    p = profile_column(series)
    assert (p["count"], p["missing"], p["missing_rate"]) == (4, 2, 0.5)
    assert (p["min"], p["max"], p["mean"]) == (1.0, 3.0, 2.0)


def test_all_missing_and_empty_columns_do_not_crash() -> None:
    p = profile_column(pd.Series([np.nan, np.nan]))
    assert p["missing_rate"] == 1.0 and p["quantiles"] is None
    assert profile_column(pd.Series([], dtype=float))["count"] == 0


def test_categorical_profile_counts_categories() -> None:
    p = profile_column(pd.Series(["DE", "FR", "DE", None, "US", "DE"]))
    assert p["kind"] == "categorical"
    assert p["categories"] == {"DE": 3, "FR": 1, "US": 1}
    assert p["n_unique"] == 3 and p["missing"] == 1


def test_many_categories_keep_the_most_frequent_and_count_the_rest() -> None:
    values = [f"c{i}" for i in range(1500)] + ["c0"] * 10
    p = profile_column(pd.Series(values))
    assert len(p["categories"]) == 1000 and p["categories"]["c0"] == 11
    assert p["other_count"] == 500


def test_bool_and_int_columns() -> None:
    frame = pd.DataFrame({"flag": [True, False, True, True], "n": [1, 2, 3, 4]})
    p = profile_frame(frame)
    assert p["features"]["flag"]["true_rate"] == 0.75
    assert p["features"]["n"]["dtype"] == "int" and p["features"]["n"]["mean"] == 2.5
    assert p["rows"] == 4


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(2, 50), elements=floats), st.randoms())
def test_fingerprint_ignores_column_order_but_not_row_order(
    values: np.ndarray, rnd: object
) -> None:
    frame = pd.DataFrame({"a": values, "b": values * 2, "c": [str(v) for v in values]})
    assert fingerprint_frame(frame) == fingerprint_frame(frame[["c", "a", "b"]])
    assert fingerprint_frame(frame) == fingerprint_frame(frame.copy())
    if not np.array_equal(values, values[::-1]):
        reversed_rows = frame.iloc[::-1].reset_index(drop=True)
        assert fingerprint_frame(reversed_rows) != fingerprint_frame(frame)


def test_fingerprint_sees_one_changed_value_and_nan_patterns() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, np.nan], "s": ["x", None, "z"]})
    changed = frame.copy()
    changed.loc[0, "a"] = 1.0000001
    assert fingerprint_frame(frame) != fingerprint_frame(changed)
    other_nan = frame.copy()
    other_nan["a"] = np.array([1.0, 2.0, -np.nan])
    assert fingerprint_frame(frame) == fingerprint_frame(other_nan)
    renamed = frame.rename(columns={"s": "t"})
    assert fingerprint_frame(frame) != fingerprint_frame(renamed)


@pytest.mark.parametrize("rows", [1, 7])
def test_fingerprint_is_hex_sha256(rows: int) -> None:
    fp = fingerprint_frame(pd.DataFrame({"a": range(rows)}))
    assert len(fp) == 64 and int(fp, 16) >= 0
