"""Missing values and new categories are drift when their share rises significantly and enough."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlship.errors import ConfigError
from mlship.monitoring import (
    CategoricalReference,
    Counts,
    DriftOptions,
    DriftReport,
    FeatureDrift,
    Reference,
    detect_drift,
    feature_drift,
)
from mlship.monitoring.share_rise import ShareRise
from mlship.registry.profile import profile_frame


def _with_missing(rows: int, missing: int, seed: int) -> pd.Series:
    values = pd.Series(np.random.default_rng(seed).normal(50, 10, rows))
    values.iloc[:missing] = np.nan
    return values


def _with_new(rows: int, new: int, seed: int) -> pd.Series:
    values = pd.Series(np.random.default_rng(seed).choice(["DE", "FR", "US"], rows), dtype="str")
    values.iloc[:new] = "BR"
    return values


def test_a_spike_of_missing_values_drifts() -> None:
    """Check 1 % -> 25 % missing, the other values drawn from the same distribution."""
    result = feature_drift(_with_missing(10_000, 100, 1), _with_missing(10_000, 2_500, 2))
    assert result.drift and result.drift_reasons == ("missing",)
    assert result.effect is not None and result.effect < result.threshold  # values unchanged
    rise = result.missing_rise
    assert rise is not None and (rise.reference, rise.current) == (0.01, 0.25)
    assert rise.p_value is not None and rise.p_value < 1e-300
    assert result.details() == ("missing 1 % → 25 %",)


def test_a_small_significant_rise_of_missing_values_is_not_drift() -> None:
    """Check 1 % -> 2 % on 10,000 rows: significant (p about 3e-9) but below five points."""
    result = feature_drift(_with_missing(10_000, 100, 1), _with_missing(10_000, 200, 2))
    rise = result.missing_rise
    assert rise is not None and rise.p_value == pytest.approx(3.1025e-9, rel=1e-4)
    assert not rise.material and not result.drift and result.details() == ()


def test_the_missing_threshold_is_reached_at_equality_and_settable() -> None:
    reference, current = _with_missing(10_000, 100, 1), _with_missing(10_000, 600, 2)
    assert feature_drift(reference, current).drift_reasons == ("missing",)  # 1 % -> 6 %
    higher = DriftOptions(missing_threshold=0.06)
    assert not feature_drift(reference, current, higher).drift


@pytest.mark.parametrize(("new", "drifts"), [(5_000, True), (3_750, True), (1_250, False)])
def test_new_categories_drift_from_one_percent_of_the_values(new: int, drifts: bool) -> None:
    """Check 2 % and 1.5 % (whose Jensen-Shannon distance, 0.087, is below its threshold) of
    250,000 values in a category training never saw; 0.5 % is not drift."""
    result = feature_drift(_with_new(250_000, 0, 1), _with_new(250_000, new, 2))
    assert result.new_categories is not None and result.new_categories.values == ("BR",)
    rise = result.new_category_rise
    assert rise is not None and rise.current == new / 250_000 and rise.reference == 0.0
    assert rise.p_value is not None and rise.p_value < 1e-300
    assert ("new_categories" in result.drift_reasons) is drifts
    if new == 3_750:
        assert result.drift_reasons == ("new_categories",)
        assert result.details() == ("new categories 1.5 % (BR)",)
    if not drifts:
        assert not result.drift and result.details() == ()
    settable = DriftOptions(new_category_threshold=0.02)
    assert (
        "new_categories"
        not in feature_drift(
            _with_new(250_000, 0, 1), _with_new(250_000, 3_750, 2), settable
        ).drift_reasons
    )


def test_new_categories_against_a_lumped_profile_compare_with_its_other_share() -> None:
    """Check that a profile which lumped 10 % of its values into 'other' takes unseen current
    categories to be among them: 10 % of unseen values is no rise, 20 % is."""
    reference = CategoricalReference(1000, 0, ("a", "b"), np.array([450, 450]), other=100)
    same = pd.Series(["a"] * 450 + ["b"] * 450 + ["zz"] * 100)
    more = pd.Series(["a"] * 400 + ["b"] * 400 + ["zz"] * 150 + ["yy"] * 50)
    assert "new_categories" not in feature_drift(reference, same).drift_reasons
    risen = feature_drift(reference, more)
    assert "new_categories" in risen.drift_reasons
    assert risen.details() == ("new categories 10 % → 20 % (zz, yy)",)
    out = risen.to_dict()["new_categories"]
    assert out["reference_share"] == 0.1 and out["share"] == 0.2 and out["approximate"]


def test_a_profile_reference_judges_the_same_counts_as_its_frame() -> None:
    """Check that the stored counts (``count``, ``missing``, categories) give the frame's
    p-values for missing values and new categories."""
    reference = pd.DataFrame({"x": _with_missing(10_000, 100, 1), "c": _with_new(10_000, 0, 3)})
    current = pd.DataFrame({"x": _with_missing(10_000, 2_500, 2), "c": _with_new(10_000, 200, 4)})
    exact = detect_drift(reference, current)
    profiled = detect_drift(Reference.from_profile(profile_frame(reference)), current)
    for name, reason in (("x", "missing"), ("c", "new_categories")):
        a, b = exact.features[name], profiled.features[name]
        assert reason in a.drift_reasons and reason in b.drift_reasons
        unadjusted = [replace(f.rises[reason], p_value_adjusted=None) for f in (a, b)]
        assert unadjusted[0] == unadjusted[1]
    assert profiled.features["x"].details() == ("missing 1 % → 25 %",)


def test_rises_join_the_benjamini_hochberg_family_and_clean_columns_stay_out() -> None:
    """Check the adjusted p-values by hand: one distribution test (p 0.01) and one missing test
    (p 0.02) make m = 2; a column without any missing value adds no test."""

    def feature(name: str, p: float, missing: int, missing_p: float) -> FeatureDrift:
        rise = ShareRise(0, 100, missing, 100, 0.05, missing_p, missing_p < 0.05)
        return FeatureDrift(
            name=name,
            kind="numeric",
            test="ks",
            statistic=0.5,
            p_value=p,
            effect=0.01,  # below the threshold: not drift by distribution
            effect_name="wasserstein_norm",
            threshold=0.1,
            drift=bool(rise.drift),
            reason=None,
            approximate=False,
            counts=Counts(100, 0, 100, missing),
            missing_rise=rise,
            drift_reasons=("missing",) if rise.drift else (),
        )

    features = {"a": feature("a", 0.01, 0, 1.0), "b": feature("b", 0.9, 10, 0.02)}
    assert features["a"].missing_rise is not None and not features["a"].missing_rise.in_family
    report = DriftReport.from_features(features)
    a, b = report.features["a"], report.features["b"]
    # Sorted p: 0.01, 0.02, 0.9 (m = 3) -> 0.03, 0.03, 0.9.
    assert a.p_value_adjusted == pytest.approx(0.03) and b.p_value_adjusted == pytest.approx(0.9)
    assert b.missing_rise is not None and b.missing_rise.p_value_adjusted == pytest.approx(0.03)
    assert a.missing_rise is not None and a.missing_rise.p_value_adjusted is None
    expected = stats.false_discovery_control([0.01, 0.9, 0.02], method="bh")
    assert expected.tolist() == pytest.approx([0.03, 0.9, 0.03])
    assert report.dataset.bh_drifted == ("b",) and report.dataset_drift
    assert report.dataset.judged == 2 and report.dataset.share_drifted == ("b",)


def test_a_frame_without_missing_values_keeps_its_distribution_p_values() -> None:
    """Check that clean columns do not dilute the others: the adjusted p-values are those of
    the distribution tests alone."""
    rng = np.random.default_rng(5)
    reference = pd.DataFrame({f"n{i}": rng.normal(size=500) for i in range(4)})
    current = pd.DataFrame({f"n{i}": rng.normal(0.1 * i, 1, 500) for i in range(4)})
    report = detect_drift(reference, current)
    raw = [f.p_value for f in report.features.values()]
    expected = stats.false_discovery_control(raw, method="bh")
    adjusted = [f.p_value_adjusted for f in report.features.values()]
    assert adjusted == pytest.approx(expected.tolist(), rel=1e-12)


def test_too_few_rows_give_no_verdict_on_missing_values() -> None:
    result = feature_drift(_with_missing(1000, 0, 1), _with_missing(20, 10, 2))
    assert result.missing_rise is not None and not result.missing_rise.judged
    assert not result.drift and result.reason is not None


@pytest.mark.parametrize("option", ["missing_threshold", "new_category_threshold"])
@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), True])
def test_invalid_share_thresholds_are_named(option: str, value: object) -> None:
    with pytest.raises(ConfigError) as caught:
        DriftOptions(**{option: value})  # type: ignore[arg-type]
    assert str(caught.value.message) == (
        f"The {option!r} option must be a share between 0 and 1. Got {value!r} instead."
    )
    defaults = {"missing_threshold": 0.05, "new_category_threshold": 0.01}
    assert DriftOptions().to_dict()[option] == defaults[option]
