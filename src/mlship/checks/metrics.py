"""The metrics model gates compare: built-ins that equal scikit-learn's, and user functions.

A built-in scores weighted rows, so that a bootstrap resample is a vector of counts and a block of
resamples is one weight matrix. :meth:`Metric.bind` validates and encodes the data once (classes,
sort orders, per-row losses) and returns a :class:`Scorer`, whose ``weights`` maps an ``(r, n)``
weight matrix to ``r`` values with a few array passes. Each built-in equals scikit-learn's function
with ``sample_weight`` to 1e-9; where scikit-learn only warns (a class never predicted), the value
is 0 as scikit-learn returns, and where it would return NaN, :class:`~mlship.errors.InvalidInput`
says why.

Classification: ``classes`` are the model's, in the order of the ``proba`` columns. With two
classes the positive one is the second (label 1 when the classes are inferred from 0/1 labels);
with more, precision, recall and f1 are macro averages over the labels that occur in ``y_true`` or
the predictions (as scikit-learn), roc_auc and pr_auc macro averages of one-vs-rest scores.

Example:

>>> import numpy as np
>>> f1 = get_metric("f1")
>>> round(f1.score(np.array([0, 1, 1, 0]), Predictions(np.array([0, 1, 0, 0]))), 4)
0.6667
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from mlship.checks.kernels import (
    FloatArray,
    IntArray,
    WeightedScore,
    ap_kernel,
    auc_kernel,
    divide,
    group_sums,
    mean_kernel,
    weighted_mean,
)
from mlship.errors import ConfigError, InvalidInput

MetricKind = Literal["classification", "regression"]


@dataclass(frozen=True, slots=True, eq=False)
class Predictions:
    """What a model predicted for the evaluation rows."""

    labels: npt.NDArray[Any]
    """Predicted labels (classifiers) or values (regressors), one per row."""
    proba: npt.NDArray[Any] | None = None
    """``(n, k)`` class probabilities in the order of ``classes`` (a 1-d array is the positive
    class's probability of a binary model), or None."""
    classes: tuple[Any, ...] | None = None
    """The model's classes; None infers them from the sorted labels of ``y_true`` and ``labels``."""


@dataclass(frozen=True, slots=True)
class Scorer:
    """A metric bound to one evaluation set, validated and encoded once."""

    name: str
    n: int
    rows: Callable[[IntArray | None], float]
    """The metric on the rows ``idx`` (repeats allowed), or on every row for None."""
    weights: WeightedScore | None = None
    """The metric for each row of an ``(r, n)`` weight matrix; None for a user function."""


@dataclass(frozen=True, slots=True)
class Metric:
    """A named metric: its direction, its task, and how to compute it on weighted rows."""

    name: str
    greater_is_better: bool
    kind: MetricKind
    needs_proba: bool
    bind: Callable[[npt.NDArray[Any], Predictions], Scorer]
    """Validates ``(y_true, predictions)`` and returns the :class:`Scorer` over those rows."""
    undefined_when: str = ""
    """When the metric has no value (said in the error raised instead of returning NaN)."""

    def score(
        self,
        y_true: npt.ArrayLike,
        predictions: Predictions,
        sample_weight: npt.ArrayLike | None = None,
    ) -> float:
        """The metric of ``predictions`` against ``y_true``, optionally with per-row weights."""
        scorer = self.bind(np.asarray(y_true), predictions)
        if sample_weight is None:
            value = scorer.rows(None)
        elif scorer.weights is None:
            raise InvalidInput(
                f"The metric {self.name!r} is a user function and takes no sample weights."
            )
        else:
            weights = np.asarray(sample_weight, dtype=np.float64)
            if weights.shape != (scorer.n,):
                raise InvalidInput(
                    f"sample_weight must have one value per row ({scorer.n}). "
                    f"Got shape {weights.shape} instead."
                )
            if not np.all(np.isfinite(weights)) or np.any(weights < 0) or not weights.sum() > 0:
                raise InvalidInput("sample_weight must be finite, >= 0 and not all 0.")
            value = float(scorer.weights(weights[np.newaxis, :])[0])
        if math.isnan(value):
            why = f": {self.undefined_when}" if self.undefined_when else ""
            raise InvalidInput(f"{self.name} is undefined on these rows{why}.")
        return value


# ---------------------------------------------------------------- validation and encoding


@dataclass(frozen=True, slots=True)
class _Encoded:
    classes: tuple[Any, ...]
    y: IntArray
    """Index into ``classes`` of each true label."""
    pred: IntArray | None
    proba: FloatArray | None


def _describe(values: Any, limit: int = 5) -> str:
    items = [repr(v.item() if isinstance(v, np.generic) else v) for v in values]
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _column(values: Any, what: str) -> npt.NDArray[Any]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise InvalidInput(f"{what} must be one-dimensional. Got shape {array.shape} instead.")
    return array


def _rows(y_true: npt.NDArray[Any], predictions: Predictions) -> tuple[npt.NDArray[Any], Any]:
    y = _column(y_true, "y_true")
    if len(y) == 0:
        raise InvalidInput("y_true is empty: a metric needs at least one row.")
    labels = _column(predictions.labels, "The predicted labels")
    if len(labels) != len(y):
        raise InvalidInput(
            f"y_true has {len(y)} rows but the predictions have {len(labels)}; "
            "they must be predictions for the same rows."
        )
    return y, labels


def _encode(values: npt.NDArray[Any], classes: tuple[Any, ...], what: str) -> IntArray:
    try:
        known = np.asarray(classes)
        order = np.argsort(known, kind="stable")
        ordered = known[order]
        at = np.minimum(np.searchsorted(ordered, values), len(ordered) - 1)
        found = np.asarray(ordered[at] == values, dtype=bool)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"{what} ({values.dtype}) cannot be compared with the model's classes "
            f"({_describe(classes)})."
        ) from exc
    if not found.all():
        unknown = np.unique(values[~found])
        raise InvalidInput(
            f"{what} has value(s) the model's classes never had: {_describe(unknown)}. "
            f"The classes are {_describe(classes, limit=20)}."
        )
    return np.asarray(order[at], dtype=np.intp)


def _infer_classes(y: npt.NDArray[Any], labels: npt.NDArray[Any]) -> tuple[Any, ...]:
    try:
        found = np.unique(np.concatenate([y, labels]))
    except TypeError as exc:
        raise InvalidInput(
            "y_true and the predicted labels mix types that cannot be sorted; "
            "pass the model's classes in Predictions(classes=...)."
        ) from exc
    classes = tuple(v.item() if isinstance(v, np.generic) else v for v in found)
    if len(classes) == 1 and classes[0] in (0, 1):
        # Every row has one 0/1 label: still a binary task whose positive class is 1.
        return (0, 1)
    return classes


def _classification(
    y_true: npt.NDArray[Any],
    predictions: Predictions,
    name: str,
    *,
    labels: bool = False,
    proba: bool = False,
    proba_sums: bool = False,
) -> _Encoded:
    """Validate and encode; ``proba_sums`` requires rows of probabilities that sum to 1."""
    y, predicted = _rows(y_true, predictions)
    if predictions.classes is not None:
        classes = tuple(predictions.classes)
        if len(set(map(repr, classes))) != len(classes):
            raise InvalidInput(f"The model's classes repeat a value: {_describe(classes, 20)}.")
    else:
        classes = _infer_classes(y, predicted)
    encoded_proba = (
        _probabilities(predictions, name, len(y), classes, proba_sums) if proba else None
    )
    return _Encoded(
        classes=classes,
        y=_encode(y, classes, "y_true"),
        pred=_encode(predicted, classes, "The predicted labels") if labels else None,
        proba=encoded_proba,
    )


def _probabilities(
    predictions: Predictions, name: str, n: int, classes: tuple[Any, ...], sums: bool
) -> FloatArray:
    if predictions.proba is None:
        raise InvalidInput(
            f"The metric {name!r} needs predicted probabilities, and these predictions have "
            "none (does the model have predict_proba?). Choose a metric on labels, e.g. f1."
        )
    raw = np.asarray(predictions.proba)
    if not np.issubdtype(raw.dtype, np.number):
        raise InvalidInput(f"The probabilities must be numbers. Got dtype {raw.dtype} instead.")
    proba = raw.astype(np.float64)
    if proba.ndim == 1:
        proba = np.column_stack([1.0 - proba, proba])
    if proba.ndim != 2 or proba.shape[0] != n:
        raise InvalidInput(
            f"The probabilities must have shape ({n}, {len(classes)}): one row per row of "
            f"y_true, one column per class. Got shape {raw.shape} instead."
        )
    if proba.shape[1] != len(classes):
        raise InvalidInput(
            f"The probabilities have {proba.shape[1]} columns but there are {len(classes)} "
            f"classes ({_describe(classes, 20)}); pass the model's classes in "
            "Predictions(classes=...)."
        )
    if not np.all(np.isfinite(proba)):
        raise InvalidInput("The probabilities contain NaN or infinite values.")
    if proba.min() < 0 or proba.max() > 1:
        raise InvalidInput(
            f"The probabilities must lie in [0, 1]. Got values from {proba.min():g} to "
            f"{proba.max():g} instead."
        )
    if sums:
        tolerance = math.sqrt(float(np.finfo(raw.dtype).eps)) if raw.dtype.kind == "f" else 1e-8
        off = np.abs(proba.sum(axis=1) - 1.0) > tolerance
        if off.any():
            raise InvalidInput(
                f"The probabilities of {int(off.sum())} row(s) do not sum to 1 (first: row "
                f"{int(np.argmax(off))}); {name} needs probabilities, not scores."
            )
    return proba


def _regression(
    y_true: npt.NDArray[Any], predictions: Predictions
) -> tuple[FloatArray, FloatArray]:
    y, predicted = _rows(y_true, predictions)
    out = []
    for values, what in ((y, "y_true"), (predicted, "The predicted values")):
        if not np.issubdtype(values.dtype, np.number) and values.dtype != np.bool_:
            raise InvalidInput(f"{what} must be numbers. Got dtype {values.dtype} instead.")
        numbers = values.astype(np.float64)
        if not np.all(np.isfinite(numbers)):
            raise InvalidInput(f"{what} contains NaN or infinite values.")
        out.append(numbers)
    return out[0], out[1]


def _present(encoded: _Encoded, counts: IntArray, name: str, undefined: str) -> None:
    """Raise unless every class occurs in y_true (a one-vs-rest score per class needs it)."""
    absent = [c for c, k in zip(encoded.classes, counts, strict=True) if k == 0]
    if len(absent) == len(encoded.classes) - 1:
        only = encoded.classes[int(np.argmax(counts))]
        raise InvalidInput(
            f"{name} is undefined with one class: every row of y_true is {only!r}. {undefined}"
        )
    if absent:
        raise InvalidInput(
            f"{name} (one-vs-rest) is undefined for class(es) {_describe(absent)}, absent from "
            f"y_true. {undefined}"
        )


# ---------------------------------------------------------------- weighted kernels


def _scorer(name: str, n: int, weighted: WeightedScore) -> Scorer:
    def rows(idx: IntArray | None) -> float:
        if idx is None:
            weights = np.ones((1, n))
        else:
            weights = np.bincount(idx, minlength=n).astype(np.float64)[np.newaxis, :]
        return float(weighted(weights)[0])

    return Scorer(name=name, n=n, rows=rows, weights=weighted)


# ---------------------------------------------------------------- the built-ins


_ONE_CLASS = "Gate on more rows with both outcomes, or choose a metric on labels such as f1."


def _bind_accuracy(y_true: npt.NDArray[Any], predictions: Predictions) -> Scorer:
    enc = _classification(y_true, predictions, "accuracy", labels=True)
    correct = (enc.y == enc.pred).astype(np.float64)
    return _scorer("accuracy", len(enc.y), lambda w: weighted_mean(w, correct))


def _confusion_binder(name: str) -> Callable[[npt.NDArray[Any], Predictions], Scorer]:
    def bind(y_true: npt.NDArray[Any], predictions: Predictions) -> Scorer:
        enc = _classification(y_true, predictions, name, labels=True)
        assert enc.pred is not None
        k = len(enc.classes)
        if k < 2:
            raise InvalidInput(
                f"{name} needs two classes or more; the model has one: {_describe(enc.classes)}."
            )
        if k == 2:
            # The positive class only: three sums (hits, actual and predicted positives).
            hit, real, said = enc.y == 1, enc.y == 1, enc.pred == 1
            hit &= said
            columns = np.stack([hit, real, said]).astype(np.float64)

            def counts(weights: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
                sums: FloatArray = np.einsum("rn,kn->kr", weights, columns)
                return sums[0][:, np.newaxis], sums[1][:, np.newaxis], sums[2][:, np.newaxis]

        else:
            # A macro average over the labels that occur in y_true or the predictions.
            cells = enc.y * k + enc.pred
            labels = np.unique(np.concatenate([enc.y, enc.pred]))

            def counts(weights: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
                matrix = group_sums(weights, cells, k * k).reshape(-1, k, k)
                hits = np.diagonal(matrix, axis1=1, axis2=2)[:, labels]
                return hits, matrix.sum(axis=2)[:, labels], matrix.sum(axis=1)[:, labels]

        def confusion(weights: FloatArray) -> FloatArray:
            hits, actual, predicted = counts(weights)
            if name == "precision":
                per_label = divide(hits, predicted, 0.0)
            elif name == "recall":
                per_label = divide(hits, actual, 0.0)
            else:
                per_label = divide(2.0 * hits, actual + predicted, 0.0)
            values: FloatArray = per_label.mean(axis=1)
            return values

        return _scorer(name, len(enc.y), confusion)

    return bind


def _ranking_binder(
    name: str, kernel: Callable[[npt.NDArray[np.bool_], FloatArray], WeightedScore]
) -> Callable[[npt.NDArray[Any], Predictions], Scorer]:
    def bind(y_true: npt.NDArray[Any], predictions: Predictions) -> Scorer:
        # One-vs-rest needs probabilities; a binary score only needs an order.
        shape = np.shape(predictions.proba) if predictions.proba is not None else ()
        many = len(shape) == 2 and shape[1] > 2
        enc = _classification(y_true, predictions, name, proba=True, proba_sums=many)
        assert enc.proba is not None
        k = len(enc.classes)
        if k < 2:
            raise InvalidInput(f"{name} is undefined with one class: the model knows only one.")
        _present(enc, np.bincount(enc.y, minlength=k), name, _ONE_CLASS)
        columns = [1] if k == 2 else list(range(k))
        kernels = [kernel(enc.y == c, enc.proba[:, c]) for c in columns]
        return _scorer(name, len(enc.y), mean_kernel(kernels))

    return bind


def _bind_log_loss(y_true: npt.NDArray[Any], predictions: Predictions) -> Scorer:
    enc = _classification(y_true, predictions, "log_loss", proba=True, proba_sums=True)
    assert enc.proba is not None
    raw = np.asarray(predictions.proba)
    eps = float(np.finfo(raw.dtype if raw.dtype.kind == "f" else np.float64).eps)
    chosen = enc.proba[np.arange(len(enc.y)), enc.y]
    loss = -np.log(np.clip(chosen, eps, 1.0 - eps))
    return _scorer("log_loss", len(enc.y), lambda w: weighted_mean(w, loss))


def _bind_brier(y_true: npt.NDArray[Any], predictions: Predictions) -> Scorer:
    enc = _classification(y_true, predictions, "brier", proba=True, proba_sums=True)
    assert enc.proba is not None
    k = len(enc.classes)
    onehot = np.zeros_like(enc.proba)
    onehot[np.arange(len(enc.y)), enc.y] = 1.0
    # sklearn halves the sum over classes for binary models: then it is (p_positive - y)**2.
    loss = ((onehot - enc.proba) ** 2).sum(axis=1) * (0.5 if k <= 2 else 1.0)
    return _scorer("brier", len(enc.y), lambda w: weighted_mean(w, loss))


def _bind_rmse(y_true: npt.NDArray[Any], predictions: Predictions) -> Scorer:
    y, p = _regression(y_true, predictions)
    squared = (y - p) ** 2
    return _scorer("rmse", len(y), lambda w: np.sqrt(weighted_mean(w, squared)))


def _bind_mae(y_true: npt.NDArray[Any], predictions: Predictions) -> Scorer:
    y, p = _regression(y_true, predictions)
    absolute = np.abs(y - p)
    return _scorer("mae", len(y), lambda w: weighted_mean(w, absolute))


def _bind_r2(y_true: npt.NDArray[Any], predictions: Predictions) -> Scorer:
    y, p = _regression(y_true, predictions)
    if len(y) < 2:
        raise InvalidInput("r2 is undefined on fewer than two rows.")
    squared = (y - p) ** 2
    # Centred once on the plain mean, so that the weighted variance below cancels little.
    centred = y - y.mean()
    columns = np.column_stack([np.ones_like(y), centred, centred**2, squared])

    def r2(weights: FloatArray) -> FloatArray:
        s0, s1, s2, residual = np.einsum("rn,nk->kr", weights, columns)
        spread = s2 - s1 * s1 / s0
        # As sklearn (force_finite): a constant y_true scores 1 if predicted exactly, else 0.
        constant = spread <= 1e-14 * s2
        value = 1.0 - divide(residual, np.where(constant, 0.0, spread), 0.0)
        return np.where(constant, np.where(residual == 0, 1.0, 0.0), value)

    return _scorer("r2", len(y), r2)


def builtin_metrics() -> Mapping[str, Metric]:
    """The built-in metrics by name (a fresh read-only table)."""
    no_auc = "AUC is undefined when the rows hold one class only"
    no_ap = "average precision is undefined when the rows hold no positive"
    c: MetricKind = "classification"
    r: MetricKind = "regression"
    metrics = [
        Metric("accuracy", True, c, False, _bind_accuracy),
        Metric("precision", True, c, False, _confusion_binder("precision")),
        Metric("recall", True, c, False, _confusion_binder("recall")),
        Metric("f1", True, c, False, _confusion_binder("f1")),
        Metric("roc_auc", True, c, True, _ranking_binder("roc_auc", auc_kernel), no_auc),
        Metric("pr_auc", True, c, True, _ranking_binder("pr_auc", ap_kernel), no_ap),
        Metric("log_loss", False, c, True, _bind_log_loss),
        Metric("brier", False, c, True, _bind_brier),
        Metric("rmse", False, r, False, _bind_rmse),
        Metric("mae", False, r, False, _bind_mae),
        Metric("r2", True, r, False, _bind_r2),
    ]
    return MappingProxyType({m.name: m for m in metrics})


# ---------------------------------------------------------------- lookup and user metrics


def get_metric(
    name: str,
    *,
    greater_is_better: bool | None = None,
    needs_proba: bool = False,
    kind: MetricKind | None = None,
) -> Metric:
    """A built-in metric by name, or a user function given as ``package.module:function``.

    A user function is called as ``fn(y_true, y_pred)`` on the predicted labels (or values), or
    on the probabilities when ``needs_proba``; it must return a number. ``greater_is_better`` is
    required for it and ignored for built-ins, which know their direction. ``kind`` defaults to
    classification when ``needs_proba``, else regression.

    >>> get_metric("rmse").greater_is_better
    False
    """
    builtins = builtin_metrics()
    if name in builtins:
        return builtins[name]
    if ":" not in name:
        raise ConfigError(
            f"Unknown metric {name!r}. Valid names: {', '.join(sorted(builtins))}, or "
            "'package.module:function' for your own."
        )
    if greater_is_better is None:
        raise ConfigError(
            f"The metric {name!r} is a user function: say whether greater is better "
            "(greater_is_better=True or False)."
        )
    function = _import_function(name)
    task: MetricKind = kind or ("classification" if needs_proba else "regression")
    binder = _user_binder(name, function, needs_proba)
    return Metric(name, greater_is_better, task, needs_proba, binder)


def _import_function(name: str) -> Callable[..., Any]:
    module_name, _, attribute = name.partition(":")
    if not module_name or not attribute or ":" in attribute:
        raise ConfigError(
            f"The metric {name!r} must be written 'package.module:function'. Got {name!r} instead."
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any failure while importing user code is a configuration error
        raise ConfigError(
            f"Cannot import module {module_name!r} for the metric {name!r}: "
            f"{type(exc).__name__}: {exc}. Is it installed, or on PYTHONPATH?"
        ) from exc
    function = getattr(module, attribute, None)
    if function is None:
        raise ConfigError(f"The module {module_name!r} has no function {attribute!r} ({name!r}).")
    if not callable(function):
        raise ConfigError(f"{name!r} is not a function: it is a {type(function).__name__}.")
    return function  # type: ignore[no-any-return]


def _user_binder(
    name: str, function: Callable[..., Any], needs_proba: bool
) -> Callable[[npt.NDArray[Any], Predictions], Scorer]:
    def bind(y_true: npt.NDArray[Any], predictions: Predictions) -> Scorer:
        y, labels = _rows(y_true, predictions)
        if predictions.classes is not None:
            _encode(y, tuple(predictions.classes), "y_true")
        predicted = labels
        if needs_proba:
            if predictions.proba is None:
                raise InvalidInput(
                    f"The metric {name!r} needs predicted probabilities, and these predictions "
                    "have none (does the model have predict_proba?)."
                )
            predicted = np.asarray(predictions.proba)
            if len(predicted) != len(y):
                raise InvalidInput(
                    f"y_true has {len(y)} rows but the probabilities have {len(predicted)}."
                )

        def rows(idx: IntArray | None) -> float:
            args = (y, predicted) if idx is None else (y[idx], predicted[idx])
            try:
                value = function(*args)
            except Exception as exc:  # the user's code: report it as an input problem
                raise InvalidInput(
                    f"The metric {name!r} raised {type(exc).__name__}: {exc}"
                ) from exc
            try:
                number = float(value)
            except (TypeError, ValueError) as exc:
                raise InvalidInput(
                    f"The metric {name!r} must return a number. Got {value!r} instead."
                ) from exc
            if not math.isfinite(number):
                raise InvalidInput(f"The metric {name!r} returned {number} on these rows.")
            return number

        return Scorer(name=name, n=len(y), rows=rows)

    return bind
