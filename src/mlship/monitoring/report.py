"""The drift report: per-feature verdicts, the dataset verdict, and its stable JSON shape.

**Dataset verdict.** Two rules are computed and both reported; ``DriftOptions.dataset_rule`` says
which one decides ``dataset_drift``:

- ``bh`` (the default): Benjamini-Hochberg at false discovery rate ``alpha`` across one family
  of tests: every judged feature's distribution test, and the tests of its missing values and
  new categories (:mod:`mlship.monitoring.share_rise`; those that cannot reject are left out);
  the dataset drifts when at least one feature has a test both rejected (adjusted p-value at
  most ``alpha``: the textbook ``p_(k) <= k alpha / m``) and large enough (at or above its
  threshold). A feature's own verdict uses ``p < alpha``, as Evidently.
- ``share``: the dataset drifts when at least ``drift_share`` (0.5, Evidently's default) of the
  judged features drift.

Features without any verdict (too few rows) count in neither rule. The model's predictions are
judged like a feature but kept out of both rules: ``prediction_drift`` reports them.

**JSON shape** (``DriftReport.to_dict()``; ``schema_version`` changes only when a key is removed
or changes meaning)::

    {"schema_version": 1,
     "dataset_drift": bool, "prediction_drift": bool | null,
     "dataset": {"rule": "bh" | "share", "alpha": float, "judged": int,
                 "bh": {"drift": bool, "drifted": [name, ...]},
                 "share": {"drift": bool, "drifted": [name, ...], "share": float,
                           "threshold": float}},
     "reference": {"source": "frame" | "profile", "rows": int}, "current": {"rows": int},
     "features": {name: FEATURE, ...}, "prediction": FEATURE | null,
     "skipped": {name: reason, ...}, "options": {...}}

where ``FEATURE`` is ``FeatureDrift.to_dict()``: ``kind``, ``test``, ``statistic``, ``p_value``,
``p_value_adjusted``, ``effect``, ``effect_name``, ``threshold``, ``drift``, ``drift_reasons``,
``reason``, ``approximate``, ``count``, ``missing`` (``reference``, ``current``, ``change``,
``threshold``, ``p_value``, ``p_value_adjusted``, ``drift``), ``new_categories`` (``count``,
``share``, ``values``, ``approximate``, ``reference_share``, ``threshold``, ``p_value``,
``p_value_adjusted``, ``drift``) and ``stats`` (``ks``/``chi2``/``z`` as
``{statistic, p_value}``, and ``wasserstein``, ``wasserstein_norm``, ``psi``, ``js``). Numbers
that do not exist are ``null``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mlship.monitoring.feature_drift import FeatureDrift
from mlship.monitoring.options import DriftOptions, DriftReason
from mlship.monitoring.share_rise import ShareRise
from mlship.monitoring.statistics import benjamini_hochberg

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class DatasetVerdict:
    """Both dataset rules, and which one decides."""

    rule: Literal["bh", "share"]
    alpha: float
    judged: int
    bh_drifted: tuple[str, ...]
    share_drifted: tuple[str, ...]
    drift_share: float

    @property
    def bh_drift(self) -> bool:
        """At least one feature drifts after Benjamini-Hochberg."""
        return bool(self.bh_drifted)

    @property
    def share(self) -> float:
        """The share of judged features that drift."""
        return len(self.share_drifted) / self.judged if self.judged else 0.0

    @property
    def share_drift(self) -> bool:
        """The share of drifted features reaches ``drift_share``."""
        return self.judged > 0 and self.share >= self.drift_share

    @property
    def drift(self) -> bool:
        """The verdict of the deciding rule."""
        return self.bh_drift if self.rule == "bh" else self.share_drift

    def to_dict(self) -> dict[str, Any]:
        """The ``dataset`` block of the JSON report."""
        return {
            "rule": self.rule,
            "alpha": self.alpha,
            "judged": self.judged,
            "bh": {"drift": self.bh_drift, "drifted": list(self.bh_drifted)},
            "share": {
                "drift": self.share_drift,
                "drifted": list(self.share_drifted),
                "share": self.share,
                "threshold": self.drift_share,
            },
        }


@dataclass(frozen=True, slots=True)
class DriftReport:
    """Drift of a current window against a reference, feature by feature and as a whole.

    Build it with ``detect_drift`` or, from features judged one by one (e.g. column by column
    out of a Parquet file), with :meth:`from_features`.
    """

    features: Mapping[str, FeatureDrift]
    dataset: DatasetVerdict
    options: DriftOptions
    reference_source: str
    reference_rows: int
    current_rows: int
    prediction: FeatureDrift | None = None
    skipped: Mapping[str, str] = field(default_factory=dict)

    @property
    def dataset_drift(self) -> bool:
        """The dataset verdict (by ``options.dataset_rule``)."""
        return self.dataset.drift

    @property
    def prediction_drift(self) -> bool | None:
        """The predictions' verdict, ``None`` when predictions were not compared."""
        return None if self.prediction is None else self.prediction.drift

    @classmethod
    def from_features(
        cls,
        features: Mapping[str, FeatureDrift],
        options: DriftOptions | None = None,
        *,
        reference_source: str = "frame",
        reference_rows: int = 0,
        current_rows: int = 0,
        prediction: FeatureDrift | None = None,
        skipped: Mapping[str, str] | None = None,
    ) -> DriftReport:
        """The report of features judged one by one: adds the BH p-values and the verdict."""
        options = options or DriftOptions()
        family = [(f.name, test, p) for f in features.values() for test, p in _tests(f)]
        adjusted = benjamini_hochberg(np.array([p for *_, p in family], dtype=np.float64))
        by_test = {(n, t): float(a) for (n, t, _), a in zip(family, adjusted, strict=True)}
        updated = {name: _adjusted(f, by_test) for name, f in features.items()}
        judged = [f for f in updated.values() if (f.judged and f.p_value is not None) or f.rises]
        bh = tuple(f.name for f in judged if _rejected(f, options.alpha))
        verdict = DatasetVerdict(
            rule=options.dataset_rule,
            alpha=options.alpha,
            judged=len(judged),
            bh_drifted=bh,
            share_drifted=tuple(f.name for f in judged if f.drift),
            drift_share=options.drift_share,
        )
        return cls(
            features=updated,
            dataset=verdict,
            options=options,
            reference_source=reference_source,
            reference_rows=reference_rows,
            current_rows=current_rows,
            prediction=prediction,
            skipped=dict(skipped or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON values, in the documented shape (module docstring)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "dataset_drift": self.dataset_drift,
            "prediction_drift": self.prediction_drift,
            "dataset": self.dataset.to_dict(),
            "reference": {"source": self.reference_source, "rows": self.reference_rows},
            "current": {"rows": self.current_rows},
            "features": {name: f.to_dict() for name, f in self.features.items()},
            "prediction": None if self.prediction is None else self.prediction.to_dict(),
            "skipped": dict(self.skipped),
            "options": self.options.to_dict(),
        }

    def to_json(self, *, indent: int | None = None) -> str:
        """:meth:`to_dict` as JSON text (strict: no NaN or infinity)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)


def _tests(feature: FeatureDrift) -> list[tuple[DriftReason, float]]:
    """The feature's tests in the Benjamini-Hochberg family, with their p-values."""
    found: list[tuple[DriftReason, float]] = []
    if feature.judged and feature.p_value is not None:
        found.append(("distribution", feature.p_value))
    for reason, rise in feature.rises.items():
        if rise.in_family and rise.p_value is not None:
            found.append((reason, rise.p_value))
    return found


def _adjusted(
    feature: FeatureDrift, by_test: Mapping[tuple[str, DriftReason], float]
) -> FeatureDrift:
    def rise(found: ShareRise | None, reason: DriftReason) -> ShareRise | None:
        if found is None:
            return None
        return dataclasses.replace(found, p_value_adjusted=by_test.get((feature.name, reason)))

    return dataclasses.replace(
        feature,
        p_value_adjusted=by_test.get((feature.name, "distribution")),
        missing_rise=rise(feature.missing_rise, "missing"),
        new_category_rise=rise(feature.new_category_rise, "new_categories"),
    )


def _rejected(feature: FeatureDrift, alpha: float) -> bool:
    """Whether one of the feature's tests is rejected by Benjamini-Hochberg and large enough."""
    adjusted = feature.p_value_adjusted
    if adjusted is not None and adjusted <= alpha and feature.material:
        return True
    return any(
        r.p_value_adjusted is not None and r.p_value_adjusted <= alpha and r.material
        for r in feature.rises.values()
    )
