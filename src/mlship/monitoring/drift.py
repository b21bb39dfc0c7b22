"""Data and prediction drift of a current window against a reference frame or stored profile.

:func:`detect_drift` is the whole report: it measures every column in parallel threads (each
numeric column sorted once, each categorical column counted once), judges each feature by the
rule of :mod:`mlship.monitoring.options`, and the dataset by the rules of
:mod:`mlship.monitoring.report`. :func:`feature_drift` judges one column (or the model's
outputs) on its own.

Example:

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> reference = pd.DataFrame({"x": rng.normal(size=5000), "c": rng.choice(["a", "b"], 5000)})
>>> current = pd.DataFrame({"x": rng.normal(0.5, 1, 5000), "c": rng.choice(["a", "b"], 5000)})
>>> report = detect_drift(reference, current)
>>> report.dataset_drift, report.features["x"].drift, report.features["c"].drift
(True, True, False)
>>> report.to_dict()["features"]["x"]["test"]
'wasserstein'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from mlship.errors import InvalidInput
from mlship.monitoring.feature_drift import FeatureDrift, judge_categorical, judge_numeric
from mlship.monitoring.figures import (
    CategoricalFigures,
    NumericFigures,
    measure_categorical,
    measure_numeric,
)
from mlship.monitoring.options import ColumnKind, DriftOptions
from mlship.monitoring.reference import (
    SKIPPED,
    CategoricalReference,
    NumericReference,
    Reference,
    column_kind,
    reference_column,
    worker_count,
)
from mlship.monitoring.report import DriftReport

if TYPE_CHECKING:
    import pandas as pd

Figures = NumericFigures | CategoricalFigures


def detect_drift(
    reference: pd.DataFrame | Reference | Mapping[str, Any],
    current: pd.DataFrame,
    options: DriftOptions | None = None,
    *,
    columns: Sequence[str] | None = None,
    prediction: str | None = None,
    workers: int | None = None,
) -> DriftReport:
    """Compare ``current`` with ``reference`` feature by feature, and as a whole.

    Parameters
    ----------
    reference:
        A frame (exact statistics), a :class:`Reference`, or a stored profile (the
        ``data_profile`` of a registered version; approximate numeric statistics).
    current:
        The window to judge.
    options:
        Tests, thresholds and rules (:class:`DriftOptions`); defaults when ``None``.
    columns:
        The features to compare; by default every column of ``current`` the reference has.
    prediction:
        The column holding the model's outputs in both: judged the same way, reported as
        ``prediction`` and kept out of the dataset verdict.
    workers:
        Threads measuring columns in parallel (default: the CPUs available, at most 4).
    """
    import pandas as pd

    options = options or DriftOptions()
    known = _reference_names(reference)
    if columns is None:
        names = [str(c) for c in current.columns if str(c) in known and str(c) != prediction]
    else:
        names = list(columns)
        for name in names:
            if name not in known:
                raise InvalidInput(
                    f"The reference has no column {name!r}. Pass only columns it has.", field=name
                )
    wanted = [*names, prediction] if prediction is not None else names
    for name in wanted:
        if name not in current.columns:
            raise InvalidInput(
                f"The current data has no column {name!r}. Pass only columns both sides have.",
                field=name,
            )
    kinds = {n: o.kind for n, o in options.features.items() if o.kind is not None}
    frame: pd.DataFrame | None = None
    built: Reference | None = None
    if isinstance(reference, pd.DataFrame):
        frame = reference
        skipped = {
            name: SKIPPED
            for name in wanted
            if kinds.get(name) is None and column_kind(frame[name]) is None
        }
        source, ref_rows = "frame", len(frame)
    elif isinstance(reference, Reference):
        built = reference
    else:
        built = Reference.from_profile(reference)
    if built is not None:
        skipped = {n: r for n, r in built.skipped.items() if n in wanted}
        source, ref_rows = built.source, built.rows
    todo = [n for n in wanted if n not in skipped]

    def measure(name: str) -> Figures:
        if frame is not None:
            kind = kinds.get(name) or column_kind(frame[name])
            assert kind is not None
            column = reference_column(frame[name], kind)
        else:
            assert built is not None
            column = _prepared_column(built, name, kinds.get(name))
        return _measure(column, current[name], options)

    with ThreadPoolExecutor(max_workers=worker_count(workers)) as pool:
        futures = [pool.submit(measure, name) for name in todo]
        # Judging (scipy's exact KS p-values for small samples) overlaps the columns still measured.
        judged = {
            name: _judge(name, future.result(), options)
            for name, future in zip(todo, futures, strict=True)
        }
    predicted = judged.pop(prediction) if prediction is not None and prediction in judged else None
    return DriftReport.from_features(
        judged,
        options,
        reference_source=source,
        reference_rows=ref_rows,
        current_rows=len(current),
        prediction=predicted,
        skipped=skipped,
    )


def feature_drift(
    reference: Any,
    current: Any,
    options: DriftOptions | None = None,
    *,
    name: str = "value",
    kind: ColumnKind | None = None,
) -> FeatureDrift:
    """Judge one column, e.g. a model's outputs (prediction drift) or one Parquet column.

    ``reference`` is a Series, an array, or a :class:`NumericReference` /
    :class:`CategoricalReference`; ``current`` a Series or an array. ``kind`` defaults to the
    reference's dtype (numbers are numeric; text, booleans and categories categorical).

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> result = feature_drift(rng.normal(size=2000), rng.normal(size=2000), name="score")
    >>> result.test, result.drift
    ('wasserstein', False)
    """
    import pandas as pd

    options = options or DriftOptions()
    kind = kind or options.for_feature(name).kind
    if isinstance(reference, NumericReference | CategoricalReference):
        column = reference
    else:
        series = reference if isinstance(reference, pd.Series) else pd.Series(reference)
        resolved = kind or column_kind(series)
        if resolved is None:
            raise InvalidInput(
                f"Column {name!r} holds {series.dtype} values, which are neither numeric nor "
                "categorical. Pass kind='numeric' or kind='categorical'.",
                field=name,
            )
        column = reference_column(series, resolved)
    return _judge(name, _measure(column, current, options), options)


def _measure(
    column: NumericReference | CategoricalReference, current: Any, options: DriftOptions
) -> Figures:
    if isinstance(column, NumericReference):
        return measure_numeric(column, current, options.bins)
    return measure_categorical(column, current)


def _judge(name: str, figures: Figures, options: DriftOptions) -> FeatureDrift:
    if isinstance(figures, NumericFigures):
        return judge_numeric(name, figures, options)
    return judge_categorical(name, figures, options)


def _prepared_column(
    reference: Reference, name: str, kind: ColumnKind | None
) -> NumericReference | CategoricalReference:
    column = reference.columns[name]
    wanted = "numeric" if isinstance(column, NumericReference) else "categorical"
    if kind is not None and kind != wanted:
        raise InvalidInput(
            f"Feature {name!r} is {wanted} in the reference, so kind={kind!r} cannot apply. "
            "Compare against a reference frame to change a feature's kind.",
            field=name,
        )
    return column


def _reference_names(reference: pd.DataFrame | Reference | Mapping[str, Any]) -> set[str]:
    import pandas as pd

    if isinstance(reference, Reference):
        return set(reference.columns) | set(reference.skipped)
    if isinstance(reference, pd.DataFrame):
        return {str(c) for c in reference.columns}
    features = reference.get("features")
    return {str(n) for n in features} if isinstance(features, Mapping) else set()
