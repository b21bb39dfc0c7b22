"""The verdicts of one evaluation: what is wrong, by kind, and the figures behind them.

:func:`judge` turns the figures :func:`~mlship.monitoring.monitor.evaluate` gathers (the drift
report, the prediction drift, the missing rates, the live metric) into :class:`Verdict` objects;
the rules are in the docstring of :mod:`mlship.monitoring.monitor`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from mlship.errors import MlshipError
from mlship.monitoring.alerts import Finding
from mlship.store import Store, as_utc
from mlship.store.schema import predictions

if TYPE_CHECKING:
    import pandas as pd

    from mlship.monitoring.feature_drift import FeatureDrift
    from mlship.monitoring.live_metric import LiveMetric
    from mlship.monitoring.monitor import MonitorConfig
    from mlship.monitoring.report import DriftReport
    from mlship.monitoring.windows import PredictionWindow
    from mlship.registry import ModelVersion, Registry

VerdictKind = Literal["data_drift", "prediction_drift", "missingness", "metric_decay"]
KINDS: tuple[VerdictKind, ...] = ("data_drift", "prediction_drift", "missingness", "metric_decay")


@dataclass(frozen=True, slots=True)
class Verdict:
    """One problem found: its kind, what is wrong, and a sentence about it."""

    kind: VerdictKind
    findings: tuple[Finding, ...]
    message: str

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "findings": [f.to_dict() for f in self.findings],
        }


def missing_rates(version: ModelVersion, frame: pd.DataFrame) -> tuple[Finding, ...]:
    """Every profiled input's missing rate in ``frame`` (1 when absent) and in training."""
    features = (version.data_profile or {}).get("features", {})
    found = []
    for name, entry in features.items():
        if name == version.label or not isinstance(entry, Mapping):
            continue
        count = entry.get("count") or 0
        baseline = float(entry.get("missing", 0)) / count if count else 0.0
        current = float(frame[name].isna().mean()) if name in frame.columns else 1.0
        found.append(Finding(str(name), "missing_rate", current, baseline=baseline))
    return tuple(found)


def prediction_drift(
    store: Store,
    version: ModelVersion,
    window: PredictionWindow,
    before: datetime,
    config: MonitorConfig,
) -> tuple[FeatureDrift | None, str | None]:
    """The serving version's outputs in ``window`` against its baseline window (its first
    window of traffic, ending at the latest at ``before``); or None and why not."""
    from mlship.monitoring.drift import feature_drift
    from mlship.monitoring.windows import read_window

    if window.prediction is None:
        return None, "Prediction drift not judged: the logged outputs are not single values."
    current = window
    if window.versions != (version.version,):
        current = read_window(
            store, window.model, window.since, window.until, version=version.version,
            max_requests=config.max_requests,
        )  # fmt: skip
    baseline = baseline_span(store, window.model, version.version, config.window, before)
    if baseline is None or current.prediction is None:
        return None, (
            f"Prediction drift not judged: no baseline yet (the first window of traffic "
            f"{version.ref} answered, before the current window)."
        )
    base = read_window(
        store, window.model, *baseline, version=version.version, max_requests=config.max_requests
    )
    if base.prediction is None:
        return None, f"Prediction drift not judged: the baseline of {version.ref} is empty."
    judged = feature_drift(
        base.frame[base.prediction],
        current.frame[current.prediction],
        config.drift,
        name="prediction",
    )
    return judged, None


def live_metric(
    registry: Registry, version: ModelVersion, config: MonitorConfig, now: datetime
) -> tuple[LiveMetric | None, str | None]:
    """The serving version's live metric, if labels came back; or None and why not."""
    from mlship.monitoring.live_metric import live_metrics

    try:
        found = live_metrics(
            registry,
            version.name,
            since=now - config.label_lookback,
            window=config.window,
            metric=config.metric,
            tolerance=config.metric_tolerance,
            min_rows=config.drift.min_rows,
        )
    except MlshipError as exc:
        return None, f"Live metric not computed: {exc.message}"
    live = next((m for m in found if m.version == version.version), None)
    if live is None:
        return None, None  # no labels came back: nothing to say every tick
    return live, None


def judge(
    drift: DriftReport | None,
    prediction: FeatureDrift | None,
    missing: tuple[Finding, ...],
    live: LiveMetric | None,
    config: MonitorConfig,
    rows: int,
) -> tuple[Verdict, ...]:
    """The verdicts of one evaluation (see :mod:`mlship.monitoring.monitor`)."""
    found: list[Verdict] = []
    if drift is not None and drift.dataset_drift:
        d = drift.dataset
        names = d.bh_drifted if d.rule == "bh" else d.share_drifted
        findings = tuple(_drift_finding(drift.features[n]) for n in names)
        found.append(
            Verdict(
                "data_drift",
                findings,
                f"Data drift in {len(names)} of {d.judged} judged features "
                f"({'Benjamini-Hochberg' if d.rule == 'bh' else 'share'} rule).",
            )
        )
    if prediction is not None and prediction.drift:
        found.append(
            Verdict(
                "prediction_drift",
                (_drift_finding(prediction),),
                "The predictions drifted from the serving version's first window of traffic.",
            )
        )
    if rows >= config.drift.min_rows:
        risen = tuple(
            f
            for f in missing
            if f.value is not None
            and f.baseline is not None
            and f.value - f.baseline > config.missing_tolerance + 1e-12
        )
        if risen:
            found.append(
                Verdict(
                    "missingness",
                    tuple(replace(f, threshold=config.missing_tolerance) for f in risen),
                    f"Missing values rose by more than {config.missing_tolerance:.0%} "
                    f"in {len(risen)} feature(s).",
                )
            )
    if live is not None and live.decayed:
        found.append(
            Verdict(
                "metric_decay",
                (
                    Finding(
                        live.metric,
                        live.metric,
                        live.value,
                        threshold=live.tolerance,
                        baseline=live.baseline,
                    ),
                ),
                f"Live {live.metric} {_fmt(live.value)} is worse than at registration "
                f"({_fmt(live.baseline)}) by more than {live.tolerance:g}.",
            )
        )
    return tuple(found)


def _drift_finding(f: FeatureDrift) -> Finding:
    """The feature's finding, by the first reason it drifts for: its distribution (the effect
    size), its new categories (their share) or its missing values (their rate)."""
    new = f.new_categories
    names = tuple(str(v) for v in new.values) if new is not None else ()
    reasons = f.drift_reasons or ("distribution",)
    rise = f.new_category_rise if "new_categories" in reasons else f.missing_rise
    if "distribution" in reasons or rise is None:
        return Finding(
            name=f.name,
            measure=f.effect_name,
            value=f.effect,
            threshold=f.threshold,
            test=f.test,
            statistic=f.statistic,
            p_value=f.p_value,
            new_categories=names,
        )
    by_new = "new_categories" in reasons
    return Finding(
        name=f.name,
        measure="new_category_share" if by_new else "missing_rate",
        value=rise.current,
        threshold=rise.threshold,
        baseline=rise.reference,
        test="fisher",
        statistic=rise.change,
        p_value=rise.p_value,
        new_categories=names,
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def baseline_span(
    store: Store, model: str, version: int, window: int | timedelta, before: datetime
) -> tuple[datetime, datetime] | None:
    """The first window of traffic ``version`` answered, cut at ``before``; None if empty."""
    t = predictions.c
    ordered = (
        sa.select(t.at)
        .where(t.model == model, t.version == version, t.error.is_(None))
        .order_by(t.at, t.id)
    )
    with store.read() as conn:
        first = conn.execute(ordered.limit(1)).scalar()
        last = None
        if first is not None and isinstance(window, int):
            last = conn.execute(ordered.offset(window - 1).limit(1)).scalar()
    if first is None:
        return None
    start = as_utc(first)
    if isinstance(window, timedelta):
        end = start + window
    else:
        end = as_utc(last) + timedelta(microseconds=1) if last is not None else before
    end = min(end, before)
    return (start, end) if end > start else None
