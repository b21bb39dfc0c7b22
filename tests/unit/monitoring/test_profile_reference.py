"""Against a version's stored profile: how close to the full reference frame (docs/drift.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlship.errors import InvalidInput
from mlship.monitoring import DriftOptions, FeatureOptions, Reference, detect_drift
from mlship.registry.profile import profile_frame
from tests.unit.monitoring.conftest import FrameFactory

N = 100_000


def _draw(kind: str, shift: float, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "normal":
        return rng.normal(shift, 1, n)
    if kind == "lognormal":
        return rng.lognormal(shift, 1, n)
    if kind == "bimodal":
        return np.where(rng.random(n) < 0.5, rng.normal(-2, 0.5, n), rng.normal(2 + shift, 0.5, n))
    return rng.poisson(3 + 1.7 * shift, n).astype(float)  # discrete: many ties


@pytest.mark.parametrize("kind", ["normal", "lognormal", "bimodal", "discrete"])
@pytest.mark.parametrize("shift", [0.0, 0.1, 0.3])
def test_profile_statistics_are_close_to_the_frame_ones(kind: str, shift: float) -> None:
    rng = np.random.default_rng(int(shift * 10) + len(kind))
    reference = pd.DataFrame({"x": _draw(kind, 0.0, N, rng)})
    current = pd.DataFrame({"x": _draw(kind, shift, N // 2, rng)})
    exact = detect_drift(reference, current).features["x"]
    approx = detect_drift(profile_frame(reference), current).features["x"]
    assert approx.approximate and not exact.approximate
    assert exact.ks is not None and approx.ks is not None
    assert abs(approx.ks.statistic - exact.ks.statistic) <= 0.01 + 1 / N
    assert approx.wasserstein_norm == pytest.approx(exact.wasserstein_norm, abs=0.01)
    if kind == "discrete":
        assert approx.psi == pytest.approx(exact.psi, abs=0.03)
        assert approx.js == pytest.approx(exact.js, abs=0.03)
    else:  # the 10 cut points are stored percentiles: exact shares
        assert approx.psi == pytest.approx(exact.psi, abs=1e-9)
        assert approx.js == pytest.approx(exact.js, abs=1e-9)
    assert approx.drift == exact.drift


def test_profile_reference_gives_the_frame_verdicts(make_frame: FrameFactory) -> None:
    reference = make_frame(50_000, seed=1)
    reference.loc[:999, "n1"] = np.nan
    reference["flag"] = np.arange(50_000) % 3 == 0
    current = make_frame(20_000, seed=2, shift=0.3)
    current["flag"] = np.arange(20_000) % 2 == 0
    exact = detect_drift(reference, current)
    approx = detect_drift(profile_frame(reference), current)
    assert approx.reference_source == "profile" and approx.reference_rows == 50_000
    for name, feature in exact.features.items():
        other = approx.features[name]
        assert (other.test, other.drift) == (feature.test, feature.drift), name
        assert other.to_dict()["missing"] == feature.to_dict()["missing"]
        if feature.kind == "categorical":  # categories are stored exactly
            assert other.statistic == pytest.approx(feature.statistic, rel=1e-9), name
            assert other.chi2 is not None and feature.chi2 is not None
            assert other.chi2.p_value == pytest.approx(feature.chi2.p_value, rel=1e-9, abs=1e-300)
            assert not other.approximate
    assert approx.features["flag"].drift
    assert approx.dataset.bh_drifted == exact.dataset.bh_drifted


def test_a_reference_built_once_serves_many_windows(make_frame: FrameFactory) -> None:
    reference = make_frame(5000, seed=1)
    built = Reference.from_frame(reference)
    for seed, shift in ((2, 0.0), (3, 0.5)):
        window = make_frame(2000, seed=seed, shift=shift)
        assert detect_drift(built, window).to_dict() == detect_drift(reference, window).to_dict()


def test_lumped_categories_are_compared_as_other() -> None:
    """Past 1,000 categories the profile keeps a count of the rest: unseen ones join it."""
    rng = np.random.default_rng(0)
    ids = np.arange(1500).astype(str)
    weights = 0.995 ** np.arange(1500)  # a long tail: the stored top 1,000 are clear-cut
    weights /= weights.sum()
    reference = pd.DataFrame({"id": rng.choice(ids, 100_000, p=weights)})
    current = pd.DataFrame({"id": rng.choice(ids, 30_000, p=weights)})
    current.loc[:99, "id"] = "brand-new"
    feature = detect_drift(profile_frame(reference), current).features["id"]
    assert feature.approximate
    assert feature.new_categories is not None and feature.new_categories.approximate
    assert feature.new_categories.values[0] == "brand-new"
    exact = detect_drift(reference, current).features["id"]
    assert exact.new_categories is not None and not exact.new_categories.approximate
    # Rare ids the reference sample happened to miss are new too; 'brand-new' leads them.
    assert exact.new_categories.values[0] == "brand-new"
    assert exact.new_categories.count < feature.new_categories.count


def test_profile_edge_cases_are_clear() -> None:
    reference = pd.DataFrame(
        {
            "empty": [np.nan] * 40,
            "when": pd.date_range("2024-01-01", periods=40),
            "x": np.arange(40.0),
        }
    )
    current = reference.copy()
    report = detect_drift(profile_frame(reference), current)
    assert "no values" in (report.features["empty"].reason or "")
    assert "when" in report.skipped and "when" not in report.features
    same = report.features["x"]  # a one-sample KS of 40 values against a continuous CDF: 1/40
    assert same.statistic == pytest.approx(1 / 40) and same.p_value == 1.0 and not same.drift
    kinds = DriftOptions(features={"x": FeatureOptions(kind="categorical")})
    with pytest.raises(InvalidInput, match="'x' is numeric in the reference"):
        detect_drift(profile_frame(reference), current, kinds)
    with pytest.raises(InvalidInput, match="no 'features' table"):
        detect_drift({"rows": 3}, current)
