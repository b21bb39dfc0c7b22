"""What one version did in one time window of the prediction log: the input of the canary analysis.

:class:`WindowStats` holds each version's request and error counts, latencies and predictions;
:func:`mlship.rollout.analysis.analyze` compares two of them. Build it from plain sequences with
:meth:`WindowStats.of`, or from a prediction-log window with :meth:`WindowStats.from_frame` (the
controller's query, see :meth:`mlship.rollout.controller.Controller.window`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Number
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from mlship.checks.metrics import Predictions
from mlship.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

    from mlship.checks.metrics import Metric

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class WindowStats:
    """What one version did in one time window.

    Build it from plain sequences with :meth:`of`, or from the joined prediction log with
    :meth:`from_frame`. Predictions (``scores`` and/or ``predicted``) are one per answered request;
    ``labels`` are aligned with them.
    """

    requests: int
    """Requests routed to this version in the window, errors included."""
    errors: int
    """Requests that raised (a candidate's were answered by stable instead)."""
    latency_ms: FloatArray
    """The latency of each request, in milliseconds."""
    scores: FloatArray | None = None
    """The positive-class probability (binary classifiers) or the predicted value (regressors)."""
    predicted: npt.NDArray[Any] | None = None
    """The predicted class (classifiers)."""
    labels: npt.NDArray[Any] | None = None
    """True labels from feedback: ``labels[i]`` belongs to prediction ``i``. Shorter than the
    predictions when the later rows have no feedback yet; NaN or None where a row has none."""

    def __post_init__(self) -> None:
        for name in ("requests", "errors"):
            count = getattr(self, name)
            if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 0:
                raise InvalidInput(f"{name} must be an integer >= 0. Got {count!r} instead.")
        if self.errors > self.requests:
            raise InvalidInput(f"errors ({self.errors}) cannot exceed requests ({self.requests}).")
        for name in ("latency_ms", "scores", "predicted", "labels"):
            values = getattr(self, name)
            if values is not None and np.ndim(values) != 1:
                raise InvalidInput(
                    f"{name} must be one-dimensional. Got shape {np.shape(values)} instead."
                )
        rows = {len(a) for a in (self.scores, self.predicted) if a is not None}
        if len(rows) > 1:
            raise InvalidInput(
                f"scores and predicted must have one value per answered request each. Got "
                f"{sorted(rows)} values instead."
            )
        if self.labels is not None:
            if not rows:
                raise InvalidInput("labels need scores or predicted to be aligned with.")
            if len(self.labels) > max(rows):
                raise InvalidInput(
                    f"labels ({len(self.labels)}) cannot outnumber the predictions ({max(rows)})."
                )

    @classmethod
    def of(
        cls,
        requests: int,
        errors: int,
        latency_ms: npt.ArrayLike = (),
        *,
        scores: npt.ArrayLike | None = None,
        predicted: npt.ArrayLike | None = None,
        labels: npt.ArrayLike | None = None,
    ) -> WindowStats:
        """Build from plain sequences (copied into read-only arrays).

        >>> WindowStats.of(3, 1, [12.0, 15.5, 40.1], predicted=["a", "b"]).predicted.tolist()
        ['a', 'b']
        """
        return cls(
            requests=requests,
            errors=errors,
            latency_ms=_frozen(float_array(latency_ms, "latency_ms")),
            scores=None if scores is None else _frozen(float_array(scores, "scores")),
            predicted=None if predicted is None else _frozen(np.array(predicted)),
            labels=None if labels is None else _frozen(np.array(labels)),
        )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, role: str) -> WindowStats:
        """The rows of ``role`` in a prediction-log window joined with feedback.

        Columns: ``role``, ``latency_ms``, ``error`` (true, or an error message, for a request
        that raised), and optionally ``score``, ``predicted`` and ``label`` (missing where a row
        has none). Missing latencies are left out; the predictions are those of the rows without
        an error, and a column missing on every such row gives None.
        """
        absent = sorted({"role", "latency_ms", "error"} - set(frame.columns))
        if absent:
            raise InvalidInput(
                f"The window has no column(s) {', '.join(absent)}; it needs role, latency_ms, "
                "error and optionally score, predicted, label."
            )
        rows = frame[frame["role"] == role]
        error = rows["error"]
        failed = error.notna().to_numpy() & error.astype(bool).to_numpy()
        try:
            latency = rows["latency_ms"].to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"latency_ms must be numbers: {exc}") from exc
        answered = rows[~failed]

        def column(name: str) -> npt.NDArray[Any] | None:
            if name not in answered.columns or not answered[name].notna().any():
                return None
            values = answered[name]
            if values.notna().all():
                return values.to_numpy()
            out = values.to_numpy(dtype=object)
            out[values.isna().to_numpy()] = None  # NaN, pd.NA and NaT alike
            return out

        return cls.of(
            len(rows),
            int(failed.sum()),
            latency[~np.isnan(latency)],
            scores=column("score"),
            predicted=column("predicted"),
            labels=column("label"),
        )

    def labelled(self, metric: Metric) -> tuple[npt.NDArray[Any], Predictions] | str:
        """The labels and predictions of the rows whose label arrived, or why there are none."""
        if self.labels is None:
            return "no feedback labels yet."
        n = len(self.labels)
        keep = ~missing(self.labels)
        y = _plain(self.labels[keep])
        if metric.kind == "regression":
            values = self.scores if self.scores is not None else self.predicted
            assert values is not None  # labels come with predictions (WindowStats checks it)
            return y, Predictions(_plain(values[:n][keep]))
        if metric.needs_proba:
            if self.scores is None:
                return f"{metric.name} needs prediction scores, and none were logged."
            proba = self.scores[:n][keep]
            # The labels stand in for missing predicted classes: a score-based metric reads only
            # the classes they hold, never the predicted labels themselves.
            labels = y if self.predicted is None else _plain(self.predicted[:n][keep])
            return y, Predictions(labels, proba)
        if self.predicted is None:
            return f"{metric.name} needs predicted classes, and none were logged."
        return y, Predictions(_plain(self.predicted[:n][keep]))


def float_array(values: npt.ArrayLike, what: str) -> FloatArray:
    """``values`` as a new float64 array; InvalidInput names ``what`` if they are not numbers."""
    try:
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} must be numbers: {exc}") from exc


def _frozen(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    values.setflags(write=False)
    return values


def missing(values: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """Where ``values`` hold no value: NaN, or None in an object array."""
    if values.dtype.kind == "f":
        return np.asarray(np.isnan(values), dtype=np.bool_)
    if values.dtype.kind == "O":
        gone = (v is None or (isinstance(v, float) and math.isnan(v)) for v in values)
        return np.fromiter(gone, dtype=np.bool_, count=len(values))
    return np.zeros(len(values), dtype=np.bool_)


def _plain(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """An object array of numbers as a numeric array (what the metrics expect of numbers)."""
    if values.dtype.kind == "O" and all(isinstance(v, Number) for v in values):
        return np.asarray(values.tolist())
    return values
