"""Monitoring: data and prediction drift against a reference frame or a version's stored profile,
drift over time in the prediction log, and concept drift (live metrics from feedback labels,
river's detectors on the error stream).

The rules (test choice, thresholds, bins, epsilon, the effect-size rule, the dataset verdict and
the JSON shape) are written in the docstrings of :mod:`~mlship.monitoring.options`,
:mod:`~mlship.monitoring.statistics`, :mod:`~mlship.monitoring.quantile_cdf` and
:mod:`~mlship.monitoring.report`, and gathered in ``docs/drift.md``.
"""

from __future__ import annotations

from mlship.monitoring.concept import DetectorName, ErrorStreamMonitor
from mlship.monitoring.drift import detect_drift, feature_drift
from mlship.monitoring.feature_drift import FeatureDrift
from mlship.monitoring.figures import Counts, NewCategories
from mlship.monitoring.live_metric import Detection, LiveMetric, MetricWindow, live_metrics
from mlship.monitoring.options import DriftOptions, FeatureOptions, choose_test
from mlship.monitoring.quantile_cdf import QuantileCdf
from mlship.monitoring.reference import CategoricalReference, NumericReference, Reference
from mlship.monitoring.report import DatasetVerdict, DriftReport
from mlship.monitoring.statistics import (
    Significance,
    benjamini_hochberg,
    chi2_counts,
    js_distance,
    ks_2samp_sorted,
    psi,
    wasserstein_sorted,
    z_test_proportions,
)
from mlship.monitoring.timeline import DriftTimeline, drift_over_time
from mlship.monitoring.windows import PredictionWindow, read_window

__all__ = [
    "CategoricalReference",
    "Counts",
    "DatasetVerdict",
    "Detection",
    "DetectorName",
    "DriftOptions",
    "DriftReport",
    "DriftTimeline",
    "ErrorStreamMonitor",
    "FeatureDrift",
    "FeatureOptions",
    "LiveMetric",
    "MetricWindow",
    "NewCategories",
    "NumericReference",
    "PredictionWindow",
    "QuantileCdf",
    "Reference",
    "Significance",
    "benjamini_hochberg",
    "chi2_counts",
    "choose_test",
    "detect_drift",
    "drift_over_time",
    "feature_drift",
    "js_distance",
    "ks_2samp_sorted",
    "live_metrics",
    "psi",
    "read_window",
    "wasserstein_sorted",
    "z_test_proportions",
]
