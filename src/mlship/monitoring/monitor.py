"""One evaluation of one deployed model over a window of its prediction log.

:func:`evaluate` judges what the serving version (the deployment's stable version, else
``@production``, else the latest) answered over the current window, and returns a
:class:`MonitorResult` with a :class:`Verdict` per problem found:

- ``data_drift``: the window's inputs against the serving version's training profile
  (:func:`~mlship.monitoring.detect_drift`: distributions, missing values and new categories);
  the verdict names the features the deciding dataset rule counts (Benjamini-Hochberg by
  default);
- ``prediction_drift``: the serving version's outputs in the window against its outputs in its
  *baseline window*, the first window of traffic it answered (the profile holds no
  predictions); judged only when the outputs are single values and the baseline exists;
- ``missingness``: a feature whose missing rate rose by more than ``missing_tolerance``
  (absolute) over the training profile's (a coarser alarm than data drift's
  ``missing_threshold``, which needs significance; a feature absent from the inputs counts);
- ``metric_decay``: the live metric (:func:`~mlship.monitoring.live_metric.live_metrics`) of
  the serving version is worse than at registration by more than ``metric_tolerance``.

**Windows** are a duration (``timedelta``: the log from ``now - window`` to ``now``) or a count
(``int``: the most recent ``window`` requests). Example::

    result = evaluate(registry, "fraud", MonitorConfig(window=timedelta(hours=1)))
    [v.kind for v in result.verdicts], result.drift.dataset_drift
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlship.errors import ConfigError
from mlship.monitoring.alerts import Finding
from mlship.monitoring.options import DriftOptions
from mlship.monitoring.verdicts import (
    KINDS,
    Verdict,
    VerdictKind,
    judge,
    live_metric,
    missing_rates,
    prediction_drift,
)
from mlship.options import invalid
from mlship.rollout.deployments import serving_version
from mlship.store import Store, as_utc, utcnow

if TYPE_CHECKING:
    import pandas as pd

    from mlship.monitoring.feature_drift import FeatureDrift
    from mlship.monitoring.live_metric import LiveMetric
    from mlship.monitoring.reference import Reference
    from mlship.monitoring.report import DriftReport
    from mlship.monitoring.statistics import FloatArray
    from mlship.monitoring.windows import PredictionWindow
    from mlship.registry import Registry

__all__ = [
    "KINDS",
    "MonitorConfig",
    "MonitorResult",
    "Verdict",
    "VerdictKind",
    "WindowSpan",
    "evaluate",
    "serving_version",
    "write_report",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    """How each model is judged.

    Parameters
    ----------
    window:
        A duration, or a number of the most recent requests.
    drift:
        Tests, thresholds and the dataset rule of data and prediction drift.
    prediction_drift:
        Judge the outputs against the serving version's baseline window.
    missing_tolerance:
        Largest rise of a feature's missing rate over the profile's (0.1 = ten points).
    metric, metric_tolerance:
        The live metric (None: accuracy or rmse) and how much worse than at registration it
        may be, in its own units.
    label_lookback:
        Labelled predictions older than this are not read for the live metric.
    max_requests:
        Most requests read for a time window (the most recent).
    workers:
        Threads measuring drift (None: the CPUs, at most 4); a server passes 1.
    """

    window: int | timedelta = timedelta(hours=1)
    drift: DriftOptions = field(default_factory=DriftOptions)
    prediction_drift: bool = True
    missing_tolerance: float = 0.1
    metric: str | None = None
    metric_tolerance: float = 0.05
    label_lookback: timedelta = timedelta(days=7)
    max_requests: int = 100_000
    workers: int | None = None

    def __post_init__(self) -> None:
        window = self.window
        if isinstance(window, bool) or not (
            (isinstance(window, int) and window >= 1)
            or (isinstance(window, timedelta) and window > timedelta(0))
        ):
            raise ConfigError(_must("window", "a positive duration or a count >= 1", window))
        if not isinstance(self.drift, DriftOptions):
            raise ConfigError(_must("drift", "a DriftOptions", self.drift))
        for name, value in (
            ("missing_tolerance", self.missing_tolerance),
            ("metric_tolerance", self.metric_tolerance),
        ):
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ConfigError(_must(name, "a number >= 0", value))
        if not isinstance(self.max_requests, int) or self.max_requests < 1:
            raise ConfigError(_must("max_requests", "an integer >= 1", self.max_requests))
        if self.label_lookback <= timedelta(0):
            raise ConfigError(_must("label_lookback", "a positive duration", self.label_lookback))


@dataclass(frozen=True, slots=True)
class WindowSpan:
    """What was judged: the window's bounds, its requests and rows, and the versions in it."""

    since: datetime
    until: datetime
    requests: int
    rows: int
    versions: tuple[int, ...]
    truncated: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "requests": self.requests,
            "rows": self.rows,
            "versions": list(self.versions),
            "truncated": self.truncated,
        }


@dataclass(frozen=True, slots=True)
class MonitorResult:
    """The evaluation of one model: every figure, and the verdicts (empty: healthy)."""

    model: str
    version: int | None
    at: datetime
    window: WindowSpan | None
    drift: DriftReport | None = None
    prediction: FeatureDrift | None = None
    missing: tuple[Finding, ...] = ()
    """Every profiled feature's missing rate (``value``) against the profile's (``baseline``)."""
    live: LiveMetric | None = None
    verdicts: tuple[Verdict, ...] = ()
    notes: tuple[str, ...] = ()
    error: str | None = None
    # What write_report draws; not part of the result's value.
    reference: Reference | None = field(default=None, compare=False, repr=False)
    current: pd.DataFrame | None = field(default=None, compare=False, repr=False)
    times: FloatArray | None = field(default=None, compare=False, repr=False)

    def verdict(self, kind: str) -> Verdict | None:
        return next((v for v in self.verdicts if v.kind == kind), None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (what ``mlship monitor --json`` prints per model)."""
        return {
            "model": self.model,
            "version": self.version,
            "at": self.at.isoformat(),
            "window": None if self.window is None else self.window.to_dict(),
            "verdicts": [v.to_dict() for v in self.verdicts],
            "data_drift": None if self.drift is None else self.drift.to_dict(),
            "prediction_drift": None if self.prediction is None else self.prediction.to_dict(),
            "missing": [f.to_dict() for f in self.missing],
            "live_metric": None if self.live is None else self.live.to_dict(),
            "notes": list(self.notes),
            "error": self.error,
        }


def evaluate(
    registry: Registry,
    model: str,
    config: MonitorConfig | None = None,
    *,
    now: datetime | None = None,
) -> MonitorResult:
    """Judge ``model`` over the current window (see the module docstring).

    Raises :class:`~mlship.errors.NotFound` for an unknown model; everything the data cannot
    support (no traffic, no profile, no labels) is a note, not an error.
    """
    from mlship.monitoring.drift import detect_drift
    from mlship.monitoring.reference import Reference

    config = config or MonitorConfig()
    now = as_utc(now) if now is not None else utcnow()
    version = serving_version(registry, model)
    window = _read_current(registry.store, model, config, now)
    span = _span(window, now)
    notes: list[str] = []
    drift = prediction = reference = None
    missing: tuple[Finding, ...] = ()
    if window.rows == 0:
        notes.append(f"No predictions of {model} in the window: nothing to judge.")
    elif not version.data_profile:
        notes.append(
            f"{version.ref} was registered without training data: no profile to judge data "
            "drift and missingness against."
        )
    else:
        reference = Reference.from_profile(version.data_profile)
        known = set(reference.columns) | set(reference.skipped)
        columns = [c for c in window.features if c in known]
        if columns:
            drift = detect_drift(
                reference, window.frame, config.drift, columns=columns, workers=config.workers
            )
        else:
            notes.append(f"The logged inputs share no feature with the profile of {version.ref}.")
        missing = missing_rates(version, window.frame)
    if window.rows and config.prediction_drift:
        prediction, note = prediction_drift(registry.store, version, window, span.since, config)
        if note:
            notes.append(note)
    live, note = live_metric(registry, version, config, now)
    if note:
        notes.append(note)
    verdicts = judge(drift, prediction, missing, live, config, window.rows)
    return MonitorResult(
        model=model,
        version=version.version,
        at=now,
        window=span,
        drift=drift,
        prediction=prediction,
        missing=missing,
        live=live,
        verdicts=verdicts,
        notes=tuple(notes),
        reference=reference,
        current=window.frame if drift is not None else None,
        times=window.times if drift is not None else None,
    )


def write_report(
    result: MonitorResult, folder: Path, *, base_url: str | None = None, slices: int = 8
) -> str | None:
    """Write the HTML drift report of ``result`` to ``folder/<model>/<time>.html``.

    Returns the link an alert carries: ``base_url/<model>/<file>`` when given, else the file's
    path; None when the result has no data drift report.
    """
    import numpy as np

    from mlship.monitoring.histograms import histogram
    from mlship.monitoring.html_report import render_html
    from mlship.monitoring.timeline import drift_over_time

    drift, reference, current = result.drift, result.reference, result.current
    if drift is None or reference is None or current is None:
        return None
    columns = list(drift.features)
    charts = {n: histogram(n, reference.columns[n], current[n]) for n in columns}
    timeline = None
    if result.times is not None and len(result.times):
        keep = np.isfinite(result.times)
        timeline = drift_over_time(
            reference, current.loc[keep], result.times[keep], drift.options,
            columns=columns, slices=slices,
        )  # fmt: skip
    span = result.window
    subtitle = f"Prediction log of {result.model}, served by version {result.version}"
    if span is not None:
        subtitle += f", {span.since:%Y-%m-%d %H:%M} to {span.until:%Y-%m-%d %H:%M} UTC: "
        subtitle += f"{span.requests:,} requests, {span.rows:,} rows"
    page = render_html(
        drift,
        charts,
        title=f"Drift report: {result.model}@{result.version}",
        subtitle=subtitle + "; against its training profile.",
        timeline=timeline,
        timeline_note=None if timeline is not None else "No request times in the window.",
    )
    name = f"{result.at:%Y%m%dT%H%M%SZ}.html"
    target = folder / result.model / name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot write the drift report to {target}: {exc.strerror}.") from None
    if base_url:
        return f"{base_url.rstrip('/')}/{result.model}/{name}"
    return str(target)


# ---------------------------------------------------------------- reading


def _read_current(
    store: Store, model: str, config: MonitorConfig, now: datetime
) -> PredictionWindow:
    from mlship.monitoring.windows import read_window

    if isinstance(config.window, timedelta):
        return read_window(store, model, now - config.window, now, max_requests=config.max_requests)
    return read_window(store, model, _EPOCH, now, max_requests=config.window)


def _span(window: PredictionWindow, now: datetime) -> WindowSpan:
    since = window.since
    if since == _EPOCH:  # a count window starts at its oldest request
        since = datetime.fromtimestamp(float(window.times.min()), UTC) if window.rows else now
    return WindowSpan(
        since, window.until, window.requests, window.rows, window.versions, window.truncated
    )


def _must(option: str, expected: str, got: object) -> str:
    return invalid(option, expected, got).message
