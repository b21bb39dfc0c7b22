"""Live performance: each version's metric on the predictions whose labels came back.

:func:`live_metrics` joins the prediction log with the feedback labels, and for each version
computes the metric over consecutive windows of labelled predictions, compares the latest window
with the metric recorded at registration, and runs an :class:`ErrorStreamMonitor` over the
version's errors in time order.

Rules:

- Rows: the prediction log's input rows of ``model`` that have a label, with the join of
  ``mlship logs``: failed predictions are left out; a label list as long as the request's rows is
  matched row by row, any other label applies to every row; a request labelled twice takes its
  latest label. Rows whose prediction or label is null are left out. Every role counts, so a
  shadow version's labelled copies measure it too.
- Windows: ``window`` labelled predictions (an ``int``) or a ``timedelta``, counted back from the
  version's latest labelled prediction, so the last window is the trailing one; the oldest may be
  partial. Time windows are ``(start, end]``; empty ones are left out. A window with fewer than
  ``min_rows`` rows, or on which the metric is undefined, has no value.
- Decay: ``value`` is the metric of the last window; ``delta = value - baseline``; the version
  has ``decayed`` when ``value`` is worse than ``baseline`` (in the metric's direction) by more
  than ``tolerance``, in the metric's own units.
- Errors: 1 for a wrong class and 0 for a right one (classification metrics), the absolute error
  (regression metrics); the monitor sees them in the order of the predictions.

The prediction log holds predicted labels or values, not probabilities: metrics that need
probabilities (``roc_auc``, ``log_loss`` ...) are refused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from mlship.checks.metrics import Metric, Predictions, builtin_metrics
from mlship.errors import ConfigError, InvalidInput
from mlship.monitoring.concept import DetectorName, ErrorStreamMonitor
from mlship.options import invalid
from mlship.store import Store, as_utc
from mlship.store.labelled import labelled_query, row_pairs

if TYPE_CHECKING:
    from mlship.registry import ModelVersion, Registry

__all__ = ["Detection", "LiveMetric", "MetricWindow", "live_metrics"]

_DEFAULT_METRIC = {"classification": "accuracy", "regression": "rmse"}
_SLACK = 1e-12  # absorbs rounding in "worse by more than tolerance"
_CHUNK_ROWS = 10_000


@dataclass(frozen=True, slots=True)
class MetricWindow:
    """The metric on one window of labelled predictions."""

    start: datetime
    """The window's exclusive start (time windows) or its first prediction's time (counts)."""
    end: datetime
    """The window's inclusive end (time windows) or its last prediction's time (counts)."""
    rows: int
    value: float | None
    """None with fewer than ``min_rows`` rows, or where the metric is undefined."""


@dataclass(frozen=True, slots=True)
class Detection:
    """Where the error-stream monitor signalled drift."""

    sample: int
    """0-based index of the labelled prediction, in time order, within the version's rows."""
    at: datetime
    """When that prediction was made."""


@dataclass(frozen=True, slots=True)
class LiveMetric:
    """How one version is doing on the predictions whose labels arrived."""

    model: str
    version: int
    metric: str
    greater_is_better: bool
    rows: int
    """Labelled predictions of the version (since ``since``)."""
    overall: float | None
    """The metric on all of them (None where undefined)."""
    value: float | None
    """The metric on the last window."""
    baseline: float | None
    """The metric recorded at registration; None when the version has none of that name."""
    delta: float | None
    """``value - baseline``."""
    tolerance: float
    decayed: bool
    """``value`` is worse than ``baseline`` by more than ``tolerance``."""
    windows: tuple[MetricWindow, ...]
    detector: DetectorName
    detections: tuple[Detection, ...]
    """Every sample at which the detector signalled drift on the version's error stream."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """The detector's options."""

    @property
    def first_detection(self) -> Detection | None:
        return self.detections[0] if self.detections else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (times in ISO 8601)."""
        return {
            "model": self.model,
            "version": self.version,
            "metric": self.metric,
            "greater_is_better": self.greater_is_better,
            "rows": self.rows,
            "overall": self.overall,
            "value": self.value,
            "baseline": self.baseline,
            "delta": self.delta,
            "tolerance": self.tolerance,
            "decayed": self.decayed,
            "windows": [
                {
                    "start": w.start.isoformat(),
                    "end": w.end.isoformat(),
                    "rows": w.rows,
                    "value": w.value,
                }
                for w in self.windows
            ],
            "detector": self.detector,
            "params": dict(self.params),
            "detections": [{"sample": d.sample, "at": d.at.isoformat()} for d in self.detections],
        }


@dataclass(frozen=True, slots=True)
class _Options:
    """How each version is judged (validated by :func:`live_metrics`)."""

    metric: Metric
    window: int | timedelta
    tolerance: float
    min_rows: int
    detector: DetectorName
    params: Mapping[str, Any]


@dataclass(slots=True)
class _Rows:
    """One version's labelled predictions, in time order."""

    at: list[datetime] = field(default_factory=list)
    predicted: list[Any] = field(default_factory=list)
    label: list[Any] = field(default_factory=list)


def live_metrics(
    registry: Registry,
    model: str,
    *,
    since: datetime | None = None,
    window: int | timedelta = 1000,
    metric: str | None = None,
    tolerance: float = 0.05,
    min_rows: int = 30,
    detector: DetectorName = "adwin",
    detector_params: Mapping[str, Any] | None = None,
) -> list[LiveMetric]:
    """The live metric of each version of ``model`` that has labelled predictions, by version.

    Parameters
    ----------
    registry:
        Holds the versions (their recorded metrics) and the store with the prediction log.
    model:
        The model's name.
    since:
        Only predictions made at or after this time.
    window:
        A number of labelled predictions, or a duration, per window (see the module docstring).
    metric:
        A built-in metric on predicted labels or values (``accuracy``, ``f1``, ``precision``,
        ``recall``, ``rmse``, ``mae``, ``r2``); None takes ``accuracy`` for a classifier and
        ``rmse`` for a regressor, from the newest version's signature. The baseline is the
        version's recorded metric of the same name.
    tolerance:
        How much worse than the baseline the last window may be before the version has decayed,
        in the metric's units (0.05 = five points of accuracy).
    min_rows:
        Labelled predictions a window needs for a value.
    detector, detector_params:
        The :class:`~mlship.monitoring.concept.ErrorStreamMonitor` run over each version's
        errors; ``ddm`` only with a classification metric.

    Example (``registry`` holds ``fraud`` and its labelled predictions)::

        for live in live_metrics(registry, "fraud", window=timedelta(hours=1)):
            print(live.version, live.value, live.baseline, live.decayed, live.first_detection)
    """
    if since is not None and not isinstance(since, datetime):
        raise invalid("since", "a datetime or None", since)
    _check_window(window)
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float):
        raise invalid("tolerance", "a number >= 0", tolerance)
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise invalid("tolerance", "a number >= 0", tolerance)
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 1:
        raise invalid("min_rows", "an integer >= 1", min_rows)
    params = dict(detector_params or {})
    ErrorStreamMonitor(detector, **params)  # validates the detector's options before any I/O

    versions = {v.version: v for v in registry.list_versions(model)}
    chosen = _metric(metric, model, versions[max(versions)])
    if detector == "ddm" and chosen.kind != "classification":
        raise ConfigError(
            f"The 'ddm' detector takes 0/1 errors, and {chosen.name!r} is a regression metric "
            "whose errors are absolute errors: choose 'adwin', 'page_hinkley' or 'kswin'."
        )
    options = _Options(chosen, window, float(tolerance), min_rows, detector, params)
    return [
        _assess(model, number, versions.get(number), rows, options)
        for number, rows in sorted(_labelled(registry.store, model, since).items())
    ]


# ---------------------------------------------------------------- reading the log


def _labelled(store: Store, model: str, since: datetime | None) -> dict[int, _Rows]:
    """Labelled prediction rows of ``model`` by version, in time order (the join of
    :mod:`mlship.store.labelled`, as ``mlship logs`` exports it)."""
    by_version: dict[int, _Rows] = {}

    def add(row: Any) -> None:
        rows = by_version.setdefault(int(row.version), _Rows())
        at = as_utc(row.at)
        for _, predicted, label in row_pairs(row.inputs, row.outputs, row.label):
            if predicted is not None and label is not None:
                rows.at.append(at)
                rows.predicted.append(predicted)
                rows.label.append(label)

    last: Any = None
    with store.read() as conn:
        query = labelled_query(model, since)
        for row in conn.execution_options(yield_per=_CHUNK_ROWS).execute(query):
            # A prediction's labels come together, by feedback id: the last one wins.
            if last is not None and row.id != last.id:
                add(last)
            last = row
    if last is not None:
        add(last)
    return {version: rows for version, rows in by_version.items() if rows.at}


# ---------------------------------------------------------------- one version


def _assess(
    model: str, version: int, registered: ModelVersion | None, rows: _Rows, options: _Options
) -> LiveMetric:
    ref = f"{model}@{version}"
    metric = options.metric
    y = _column(rows.label, ref, "feedback labels")
    predicted = _column(rows.predicted, ref, "predictions")
    classes = None
    if metric.kind == "classification":
        _same_types(ref, y, predicted)
        if registered is not None and registered.signature is not None:
            classes = registered.signature.classes
            if classes is not None:
                _known_classes(ref, y, classes)
        errors = (y != predicted).astype(np.float64)
    else:
        try:
            errors = np.abs(y.astype(np.float64) - predicted.astype(np.float64))
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"The labels and predictions of {ref} must be numbers for {metric.name}: {exc}.",
                field="label",
            ) from exc

    def score(part: slice) -> float | None:
        """The metric on the rows ``part``; None where it is undefined (one class, one row)."""
        try:
            value = metric.score(y[part], Predictions(predicted[part], classes=classes))
        except InvalidInput:
            return None
        return value if math.isfinite(value) else None

    windows = tuple(
        MetricWindow(start, end, part.stop - part.start, None)
        if part.stop - part.start < options.min_rows
        else MetricWindow(start, end, part.stop - part.start, score(part))
        for start, end, part in _windows(rows.at, options.window)
    )
    value = windows[-1].value
    baseline = None if registered is None else _number(registered.metrics.get(metric.name))
    delta = None if value is None or baseline is None else value - baseline
    decayed = False
    if delta is not None:
        worse = -delta if metric.greater_is_better else delta
        decayed = worse > options.tolerance + _SLACK
    monitor = ErrorStreamMonitor(options.detector, **options.params)
    for error in errors.tolist():
        monitor.update(error)
    return LiveMetric(
        model=model,
        version=version,
        metric=metric.name,
        greater_is_better=metric.greater_is_better,
        rows=len(y),
        overall=score(slice(0, len(y))),
        value=value,
        baseline=baseline,
        delta=delta,
        tolerance=options.tolerance,
        decayed=decayed,
        windows=windows,
        detector=monitor.detector,
        detections=tuple(Detection(i, rows.at[i]) for i in monitor.detections),
        params=dict(monitor.params),
    )


def _windows(at: list[datetime], window: int | timedelta) -> list[tuple[datetime, datetime, slice]]:
    """Consecutive windows over ``at`` (sorted), counted back from its end, oldest first."""
    n = len(at)
    out: list[tuple[datetime, datetime, slice]] = []
    if isinstance(window, int):
        stop = n
        while stop > 0:
            start = max(0, stop - window)
            out.append((at[start], at[stop - 1], slice(start, stop)))
            stop = start
        return out[::-1]
    end = at[-1]
    stop = n
    while stop > 0:
        # Window k is (end - (k + 1) w, end - k w]: the one holding the newest row left.
        k = (end - at[stop - 1]) // window
        lower = end - (k + 1) * window
        start = stop
        while start > 0 and at[start - 1] > lower:
            start -= 1
        out.append((lower, end - k * window, slice(start, stop)))
        stop = start
    return out[::-1]


# ---------------------------------------------------------------- helpers


def _check_window(window: object) -> None:
    if isinstance(window, timedelta):
        ok = window > timedelta(0)
    else:
        ok = isinstance(window, int) and not isinstance(window, bool) and window >= 1
    if not ok:
        raise invalid(
            "window", "a number of labelled predictions >= 1 or a positive timedelta", window
        )


def _metric(name: str | None, model: str, newest: ModelVersion) -> Metric:
    usable = {n: m for n, m in builtin_metrics().items() if not m.needs_proba}
    if name is None:
        kind = newest.signature.output_kind if newest.signature is not None else "unknown"
        if kind not in _DEFAULT_METRIC:
            raise ConfigError(
                f"Cannot tell whether {model!r} is a classifier or a regressor (its newest "
                f"version has no output kind): pass metric= one of {', '.join(sorted(usable))}."
            )
        return usable[_DEFAULT_METRIC[kind]]
    if name not in usable:
        raise invalid(
            "metric",
            f"one of {', '.join(sorted(usable))} (the prediction log holds predicted labels "
            "or values, not probabilities)",
            name,
        )
    return usable[name]


def _column(values: list[Any], ref: str, what: str) -> npt.NDArray[Any]:
    """An array of JSON scalars; object dtype when they mix types, so nothing is coerced."""
    kinds = {type(v) for v in values}
    odd = kinds - {str, int, float, bool}
    if odd:
        first = next(v for v in values if type(v) in odd)
        raise InvalidInput(
            f"The {what} of {ref} must be one class or number per input row. Got {first!r} "
            "instead.",
            field="label" if what.startswith("feedback") else "outputs",
        )
    if len(kinds) == 1 or kinds <= {int, float}:
        return np.asarray(values)
    return np.asarray(values, dtype=object)


def _known_classes(ref: str, y: npt.NDArray[Any], classes: tuple[Any, ...]) -> None:
    known = set(classes)
    unknown = sorted({repr(v) for v in y.tolist() if v not in known})
    if unknown:
        shown = ", ".join(unknown[:5]) + (
            f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        )
        raise InvalidInput(
            f"The feedback labels of {ref} hold value(s) its classes never had: {shown}. "
            f"The classes are {', '.join(map(repr, classes))}.",
            field="label",
        )


def _same_types(ref: str, y: npt.NDArray[Any], predicted: npt.NDArray[Any]) -> None:
    """Refuse labels of another type than the predictions (``"1"`` never equals ``1``)."""

    def family(values: npt.NDArray[Any]) -> set[str]:
        return {"text" if isinstance(v, str) else "number" for v in values.tolist()}

    labels, said = family(y), family(predicted)
    if labels != said and not (labels & said):
        raise InvalidInput(
            f"The feedback labels of {ref} are {' and '.join(sorted(labels))} but its "
            f"predictions are {' and '.join(sorted(said))}: send labels of the same type as the "
            f"predictions (e.g. {predicted[0]!r}, not {y[0]!r}).",
            field="label",
        )


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
