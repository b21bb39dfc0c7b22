"""Verdicts combine significance with an effect size; the dataset verdict combines features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlship.errors import ConfigError, InvalidInput
from mlship.monitoring import (
    Counts,
    DriftOptions,
    DriftReport,
    FeatureDrift,
    FeatureOptions,
    detect_drift,
    feature_drift,
)
from tests.unit.monitoring.conftest import FrameFactory


def test_large_samples_of_one_distribution_are_not_drift(make_frame: FrameFactory) -> None:
    """Check that 200,000 rows of the same distribution are not drift, whatever the p-values."""
    report = detect_drift(make_frame(200_000, seed=1), make_frame(200_000, seed=2))
    assert not report.dataset_drift
    assert not report.dataset.share_drift
    assert [f.name for f in report.features.values() if f.drift] == []
    assert report.features["n0"].test == "wasserstein"
    assert report.features["c0"].test == "js"


def test_tiny_significant_shifts_are_not_drift() -> None:
    """A 0.02 sd shift on 200,000 rows is highly significant, and too small to matter."""
    rng = np.random.default_rng(0)
    result = feature_drift(rng.normal(size=200_000), rng.normal(0.02, 1, 200_000))
    assert result.p_value is not None and result.p_value < 1e-4
    assert result.effect is not None and result.effect < 0.1
    assert not result.drift


@pytest.mark.parametrize("rows", [200_000, 500])
def test_a_shift_of_a_third_of_a_std_is_drift(make_frame: FrameFactory, rows: int) -> None:
    report = detect_drift(make_frame(rows, seed=1), make_frame(rows, seed=2, shift=0.3))
    numeric = [f for f in report.features.values() if f.kind == "numeric"]
    assert all(f.drift for f in numeric)
    assert all(0.15 < (f.effect or 0) < 0.45 for f in numeric)
    assert not any(f.drift for f in report.features.values() if f.kind == "categorical")
    assert report.dataset_drift
    assert report.dataset.bh_drifted == ("n0", "n1", "n2")
    assert report.dataset.share == pytest.approx(3 / 5) and report.dataset.share_drift


def test_small_samples_use_p_value_tests(make_frame: FrameFactory) -> None:
    report = detect_drift(make_frame(500, seed=1, categorical=3), make_frame(500, 2, categorical=3))
    tests = {name: f.test for name, f in report.features.items()}
    assert tests == {"n0": "ks", "n1": "ks", "n2": "ks", "c0": "chi2", "c1": "chi2", "c2": "chi2"}
    binary = feature_drift(pd.Series(["a", "b"] * 100), pd.Series(["a", "b"] * 100))
    assert binary.test == "z" and binary.z is not None


def _feature(name: str, p: float, effect: float, alpha: float = 0.05) -> FeatureDrift:
    return FeatureDrift(
        name=name,
        kind="numeric",
        test="ks",
        statistic=0.5,
        p_value=p,
        effect=effect,
        effect_name="wasserstein_norm",
        threshold=0.1,
        drift=p < alpha and effect >= 0.1,
        reason=None,
        approximate=False,
        counts=Counts(100, 0, 100, 0),
    )


def test_benjamini_hochberg_dataset_rule_by_hand() -> None:
    """Sorted p: .001 .02 .03 .039 .2 (m = 5): p * 5 / rank = .005 .05 .05 .04875 .2, whose
    running minimum from the end is .005 .04875 .04875 .04875 .2: four rejected at 0.05, and
    'd' (effect below the threshold) does not count."""
    p_values = {"a": (0.02, 0.5), "b": (0.001, 0.5), "c": (0.2, 0.5), "d": (0.039, 0.05)}
    p_values["e"] = (0.03, 0.5)
    features = {n: _feature(n, p, effect) for n, (p, effect) in p_values.items()}
    report = DriftReport.from_features(features, DriftOptions())
    adjusted = {n: f.p_value_adjusted for n, f in report.features.items()}
    assert adjusted == pytest.approx(
        {"a": 0.04875, "b": 0.005, "c": 0.2, "d": 0.04875, "e": 0.04875}
    )
    assert report.dataset.bh_drifted == ("a", "b", "e")
    assert report.dataset_drift
    assert report.dataset.share_drifted == ("a", "b", "e")
    assert report.dataset.share == pytest.approx(0.6)
    at_1 = {n: _feature(n, p, effect, alpha=0.01) for n, (p, effect) in p_values.items()}
    strict = DriftReport.from_features(at_1, DriftOptions(alpha=0.01, dataset_rule="share"))
    assert strict.dataset.bh_drifted == ("b",) and strict.dataset.bh_drift
    assert strict.dataset.share_drifted == ("b",) and strict.dataset.share == pytest.approx(0.2)
    assert not strict.dataset.share_drift and not strict.dataset_drift


def test_prediction_drift_is_reported_apart_from_the_features(make_frame: FrameFactory) -> None:
    reference, current = make_frame(3000, seed=1), make_frame(3000, seed=2)
    rng = np.random.default_rng(0)
    reference["score"] = rng.beta(2, 5, 3000)
    current["score"] = rng.beta(3, 4, 3000)
    report = detect_drift(reference, current, prediction="score")
    assert "score" not in report.features
    assert report.prediction is not None and report.prediction.drift
    assert report.prediction_drift is True and not report.dataset_drift
    alone = feature_drift(reference["score"], current["score"], name="score")
    assert alone.statistic == report.prediction.statistic


def test_per_feature_overrides(make_frame: FrameFactory) -> None:
    options = DriftOptions(
        features={
            "n0": FeatureOptions(test="psi", threshold=0.5),
            "n1": FeatureOptions(test="ks"),
            "c0": FeatureOptions(test="chi2"),
        }
    )
    report = detect_drift(make_frame(5000, seed=1), make_frame(5000, seed=2, shift=0.3), options)
    n0, n1, c0 = (report.features[n] for n in ("n0", "n1", "c0"))
    assert (n0.test, n0.effect_name, n0.threshold) == ("psi", "psi", 0.5)
    assert n0.statistic == n0.psi and not n0.drift  # PSI ~0.1 for a 0.3 sd shift
    assert n1.test == "ks" and n1.ks is not None and n1.statistic == n1.ks.statistic
    assert n1.effect == n1.wasserstein_norm and n1.drift
    assert c0.test == "chi2" and c0.chi2 is not None and c0.statistic == c0.chi2.statistic


def test_integer_codes_can_be_judged_as_categories() -> None:
    ref = pd.DataFrame({"zip": np.repeat([75001, 75002, 75003], 400)})
    cur = pd.DataFrame({"zip": np.repeat([75001, 75002, 99999], 400)})
    options = DriftOptions(features={"zip": FeatureOptions(kind="categorical")})
    feature = detect_drift(ref, cur, options).features["zip"]
    assert feature.kind == "categorical" and feature.drift
    assert feature.new_categories is not None
    assert feature.new_categories.values == ("99999",)
    assert feature.new_categories.share == pytest.approx(1 / 3)


def test_missing_rate_change_is_reported_for_every_column(make_frame: FrameFactory) -> None:
    reference, current = make_frame(2000, seed=1), make_frame(2000, seed=2)
    current.loc[:499, "n0"] = np.nan
    current.loc[:199, "c1"] = None
    out = detect_drift(reference, current).to_dict()["features"]
    missing = {k: out["n0"]["missing"][k] for k in ("reference", "current", "change")}
    assert missing == {"reference": 0.0, "current": 0.25, "change": 0.25}
    assert out["c1"]["missing"]["change"] == pytest.approx(0.1)
    assert all(f["missing"]["change"] == 0.0 for n, f in out.items() if n not in ("n0", "c1"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 1.5}, "The 'alpha' option must be a probability between 0 and 1. Got 1.5"),
        ({"bins": 1}, "The 'bins' option must be a whole number >= 2. Got 1 instead."),
        ({"test": "t-test"}, "The 'test' option must be one of chi2, js, ks, psi"),
        ({"dataset_rule": "any"}, "The 'dataset_rule' option must be 'bh' or 'share'"),
    ],
)
def test_invalid_options_are_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        DriftOptions(**kwargs)  # type: ignore[arg-type]


def test_tests_that_cannot_judge_a_feature_are_refused(make_frame: FrameFactory) -> None:
    reference, current = make_frame(100, seed=1), make_frame(100, seed=2)
    with pytest.raises(ConfigError, match="'c0' must be one of chi2, js, psi, z"):
        detect_drift(reference, current, DriftOptions(features={"c0": FeatureOptions(test="ks")}))
    with pytest.raises(ConfigError, match="'z', which compares two categories"):
        detect_drift(reference, current, DriftOptions(features={"c1": FeatureOptions(test="z")}))


def test_columns_must_exist_and_be_numeric(make_frame: FrameFactory) -> None:
    reference, current = make_frame(100, seed=1), make_frame(100, seed=2)
    with pytest.raises(InvalidInput, match="no column 'nope'"):
        detect_drift(reference, current, columns=["nope"])
    current["n0"] = current["c0"]
    with pytest.raises(InvalidInput, match="Column 'n0' is tested as numeric but holds str"):
        detect_drift(reference, current)
