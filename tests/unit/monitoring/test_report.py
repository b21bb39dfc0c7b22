"""The JSON report has the documented, stable shape; the package surface is explicit."""

from __future__ import annotations

import json

import numpy as np

import mlship.monitoring
from mlship.monitoring import DriftOptions, FeatureOptions, detect_drift
from tests.unit.monitoring.conftest import FrameFactory

FEATURE_KEYS = {
    "kind",
    "test",
    "statistic",
    "p_value",
    "p_value_adjusted",
    "effect",
    "effect_name",
    "threshold",
    "drift",
    "drift_reasons",
    "reason",
    "approximate",
    "count",
    "missing",
    "new_categories",
    "stats",
}


def test_json_report_shape(make_frame: FrameFactory) -> None:
    reference, current = make_frame(3000, seed=1), make_frame(3000, seed=2, shift=0.3)
    reference["score"] = np.linspace(0, 1, 3000)
    current["score"] = np.linspace(0, 1, 3000)
    options = DriftOptions(features={"n0": FeatureOptions(test="ks")})
    out = json.loads(detect_drift(reference, current, options, prediction="score").to_json())
    assert set(out) == {
        "schema_version",
        "dataset_drift",
        "prediction_drift",
        "dataset",
        "reference",
        "current",
        "features",
        "prediction",
        "skipped",
        "options",
    }
    assert out["schema_version"] == 1
    assert out["dataset_drift"] is True and out["prediction_drift"] is False
    assert set(out["dataset"]) == {"rule", "alpha", "judged", "bh", "share"}
    assert out["dataset"]["share"]["threshold"] == 0.5
    assert out["reference"] == {"source": "frame", "rows": 3000}
    assert out["options"]["features"] == {"n0": {"test": "ks"}}
    numeric, categorical = out["features"]["n1"], out["features"]["c0"]
    for feature in (numeric, categorical, out["prediction"]):
        assert set(feature) == FEATURE_KEYS
        assert isinstance(feature["drift"], bool)
        assert set(feature["missing"]) == {
            *("reference", "current", "change"),
            *("threshold", "p_value", "p_value_adjusted", "drift"),
        }
        assert feature["drift_reasons"] == (["distribution"] if feature["drift"] else [])
    assert set(numeric["stats"]) == {"ks", "wasserstein", "wasserstein_norm", "psi", "js"}
    assert set(numeric["stats"]["ks"]) == {"statistic", "p_value"}
    assert numeric["statistic"] == numeric["stats"]["wasserstein_norm"] == numeric["effect"]
    assert numeric["p_value"] == numeric["stats"]["ks"]["p_value"]
    assert out["features"]["n0"]["statistic"] == out["features"]["n0"]["stats"]["ks"]["statistic"]
    assert set(categorical["stats"]) == {"chi2", "psi", "js"}
    assert set(categorical["stats"]["chi2"]) == {"statistic", "p_value", "dof"}
    assert set(categorical["new_categories"]) == {
        *("count", "share", "values", "approximate", "reference_share"),
        *("threshold", "p_value", "p_value_adjusted", "drift"),
    }
    assert numeric["new_categories"] is None


def test_public_surface_is_sorted_and_resolves() -> None:
    exported = mlship.monitoring.__all__
    assert exported == sorted(exported)
    for name in exported:
        assert getattr(mlship.monitoring, name) is not None
