"""The reference a window is compared with: a full frame, or a registered version's profile.

A **frame** reference keeps, per numeric column, its sorted finite values, and per categorical
column its category counts: every statistic is exact. A **profile** reference (the
``data_profile`` stored with every registered version, see ``mlship.registry.profile``) needs no
training data: numeric columns are known by 101 quantiles, the mean and standard deviation, and
the statistics are approximations (:mod:`mlship.monitoring.quantile_cdf` says how close);
categorical columns keep their 1,000 most frequent categories exactly and lump the rest into
``other``, so the categorical statistics are exact up to that lumping; booleans keep their rate
of ``True``. Missing rates are exact either way.

Missing values are NaN, None and ``pd.NA``; infinite values are counted with them (they have no
place on a distance). Datetime columns are left out (``Reference.skipped`` says so).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from mlship.errors import InvalidInput
from mlship.monitoring.options import ColumnKind
from mlship.monitoring.quantile_cdf import QuantileCdf, cdf_from_profile
from mlship.monitoring.statistics import FloatArray, IntArray

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True, slots=True)
class NumericReference:
    """A numeric reference column: sorted values (frame) or a quantile CDF (profile)."""

    rows: int
    missing: int
    std: float | None
    values: FloatArray | None = None
    cdf: QuantileCdf | None = None
    quantiles: FloatArray | None = None
    """The stored quantiles (profile): the PSI and Jensen-Shannon cut points come from them."""
    levels: FloatArray | None = None
    """The levels of ``quantiles`` (0, 0.01, ..., 1)."""

    @property
    def count(self) -> int:
        """Non-missing values."""
        return self.rows - self.missing

    @property
    def approximate(self) -> bool:
        """True when the statistics come from stored quantiles, not from the values."""
        return self.values is None


@dataclass(frozen=True, slots=True)
class CategoricalReference:
    """A categorical reference column: category counts (text keys) and lumped ``other`` values."""

    rows: int
    missing: int
    categories: tuple[str, ...]
    counts: IntArray
    other: int = 0

    @property
    def count(self) -> int:
        """Non-missing values."""
        return self.rows - self.missing

    @property
    def approximate(self) -> bool:
        """True when some categories were lumped into ``other`` by the profile."""
        return self.other > 0


@dataclass(frozen=True, slots=True)
class Reference:
    """The reference of a drift report, column by column.

    Build it once with :meth:`from_frame` or :meth:`from_profile` and compare many windows with
    it (``detect_drift(reference, window)``).

    >>> import pandas as pd
    >>> ref = Reference.from_frame(pd.DataFrame({"x": [3.0, 1.0, None], "c": ["a", "b", "a"]}))
    >>> ref.columns["x"].values.tolist(), ref.columns["c"].categories
    ([1.0, 3.0], ('a', 'b'))
    """

    columns: Mapping[str, NumericReference | CategoricalReference]
    rows: int
    source: Literal["frame", "profile"]
    skipped: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        columns: Sequence[str] | None = None,
        kinds: Mapping[str, ColumnKind] | None = None,
        workers: int | None = None,
    ) -> Reference:
        """The exact reference of ``frame`` (``columns`` only, if given; ``kinds`` override)."""
        names = [str(c) for c in frame.columns] if columns is None else list(columns)
        _require_columns(frame, names, "reference")
        kinds = kinds or {}
        kind_of = {name: kinds.get(name) or column_kind(frame[name]) for name in names}
        skipped = {n: SKIPPED for n, k in kind_of.items() if k is None}
        usable = [n for n in names if kind_of[n] is not None]

        def build(name: str) -> NumericReference | CategoricalReference:
            kind = kind_of[name]
            assert kind is not None
            return reference_column(frame[name], kind)

        with ThreadPoolExecutor(max_workers=worker_count(workers)) as pool:
            built = dict(zip(usable, pool.map(build, usable), strict=True))
        return cls(columns=built, rows=len(frame), source="frame", skipped=skipped)

    @classmethod
    def from_profile(cls, profile: Mapping[str, Any]) -> Reference:
        """The approximate reference of a stored profile (``ModelVersion.data_profile``)."""
        from mlship.registry.profile import QUANTILES

        features = profile.get("features")
        if not isinstance(features, Mapping):
            raise InvalidInput(
                "The reference profile has no 'features' table. Pass the 'data_profile' of a "
                "registered version (registered with training data) or a reference frame.",
                field="features",
            )
        levels = np.array(QUANTILES, dtype=np.float64)
        built: dict[str, NumericReference | CategoricalReference] = {}
        skipped: dict[str, str] = {}
        for name, entry in features.items():
            column = _profile_column(entry, levels)
            if column is None:
                skipped[str(name)] = SKIPPED
            else:
                built[str(name)] = column
        return cls(
            columns=built, rows=int(profile.get("rows", 0)), source="profile", skipped=skipped
        )


SKIPPED = "datetime and other columns neither numeric nor categorical are not tested for drift"


def column_kind(series: pd.Series) -> ColumnKind | None:
    """``numeric`` for int/float columns, ``categorical`` for bool/string/category, else None."""
    from mlship.registry.profile import dtype_family

    family = dtype_family(series)
    if family in ("int", "float"):
        return "numeric"
    if family in ("bool", "string", "category"):
        return "categorical"
    return None


def reference_column(
    series: pd.Series, kind: ColumnKind
) -> NumericReference | CategoricalReference:
    """The exact reference of one column, as ``kind``."""
    if kind == "numeric":
        values, missing = finite_sorted(numeric_values(series, "reference"))
        std = float(values.std()) if len(values) else None
        return NumericReference(rows=len(series), missing=missing, std=std, values=values)
    categories, counts, missing = category_counts(series)
    return CategoricalReference(len(series), missing, categories, counts)


def numeric_values(series: pd.Series | Any, side: str) -> FloatArray:
    """A column as float64 with NaN for missing; :class:`InvalidInput` if it is not numeric."""
    import pandas as pd

    if not isinstance(series, pd.Series):
        series = pd.Series(np.asarray(series))
    if pd.api.types.is_bool_dtype(series.dtype) or not (
        pd.api.types.is_numeric_dtype(series.dtype) or series.dtype == object
    ):
        raise _not_numeric(series, side)
    try:
        values: FloatArray = series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise _not_numeric(series, side) from None
    return values


def finite_sorted(values: FloatArray) -> tuple[FloatArray, int]:
    """The sorted finite values of ``values`` and how many were missing or infinite."""
    ordered = np.sort(values)  # -inf first, then the finite values, +inf, NaN last
    lo = int(np.searchsorted(ordered, -np.inf, side="right"))
    hi = int(np.searchsorted(ordered, np.inf, side="left"))
    return ordered[lo:hi], len(values) - (hi - lo)


def category_counts(series: pd.Series | Any) -> tuple[tuple[str, ...], IntArray, int]:
    """Categories (as text, most frequent first), their counts, and the missing count."""
    import pandas as pd

    if not isinstance(series, pd.Series):
        series = pd.Series(np.asarray(series))
    counts = series.value_counts(dropna=True, sort=False)
    counts = counts[counts > 0]
    if not all(isinstance(k, str) for k in counts.index):
        counts = counts.groupby(counts.index.map(str)).sum()
    # Most frequent first, ties by name: the order (and so every sum) does not depend on row order.
    counts = counts.sort_index().sort_values(ascending=False, kind="stable")
    keys = tuple(str(k) for k in counts.index)
    total = int(counts.sum())
    as_array = np.asarray(counts.to_numpy(), dtype=np.int64)
    return keys, as_array, len(series) - total


def worker_count(workers: int | None) -> int:
    """Threads to use: ``workers``, or the CPUs this process may run on (at most 4)."""
    if workers is not None:
        return max(1, workers)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(4, cpus or 1))


def _profile_column(
    entry: Mapping[str, Any], levels: FloatArray
) -> NumericReference | CategoricalReference | None:
    rows, missing = int(entry.get("count", 0)), int(entry.get("missing", 0))
    kind = entry.get("kind")
    if kind == "numeric":
        quantiles: list[float | None] = entry.get("quantiles") or []
        cdf = cdf_from_profile(quantiles, levels, entry.get("histogram")) if quantiles else None
        std = entry.get("std")
        if cdf is None:  # no usable values: everything is missing to drift
            return NumericReference(rows=rows, missing=rows, std=None)
        percentiles = np.array([np.nan if v is None else v for v in quantiles], dtype=np.float64)
        spread = None if std is None else float(std)
        return NumericReference(
            rows, missing, spread, cdf=cdf, quantiles=percentiles, levels=levels
        )
    if kind == "categorical":
        stored = entry.get("categories") or {}
        keys = tuple(str(k) for k in stored)
        counts = np.array([int(v) for v in stored.values()], dtype=np.int64)
        return CategoricalReference(rows, missing, keys, counts, int(entry.get("other_count", 0)))
    if kind == "boolean":
        rate = entry.get("true_rate")
        n = rows - missing
        trues = round(float(rate) * n) if rate is not None else 0
        keys, counts = ("True", "False"), np.array([trues, n - trues], dtype=np.int64)
        keep = counts > 0
        return CategoricalReference(
            rows, missing, tuple(k for k, m in zip(keys, keep, strict=True) if m), counts[keep]
        )
    return None


def _require_columns(frame: pd.DataFrame, names: Sequence[str], side: str) -> None:
    absent = [n for n in names if n not in frame.columns]
    if absent:
        raise InvalidInput(
            f"The {side} data has no column {absent[0]!r}. Columns: "
            f"{', '.join(map(str, frame.columns[:20]))}. Pass only columns both frames have.",
            field=str(absent[0]),
        )


def _not_numeric(series: pd.Series, side: str) -> InvalidInput:
    return InvalidInput(
        f"Column {series.name!r} is tested as numeric but holds {series.dtype} values in the "
        f"{side} data. Convert it to numbers, or give it kind='categorical' in "
        "DriftOptions.features.",
        field=str(series.name),
        expected="numeric",
    )
