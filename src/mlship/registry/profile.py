"""Training-data profile and fingerprint.

The profile keeps, per feature, what data validation and drift detection need later without keeping
the data: type, count, missing rate, range, mean/std, 101 quantiles (every percentile), an
equal-width histogram, or category frequencies. Everything is vectorized: a 1,000,000 x 20
frame is profiled in well under a second.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

QUANTILES = tuple(i / 100 for i in range(101))
"""The quantile levels stored for numeric features (0, 0.01, ..., 1)."""

HISTOGRAM_BINS = 20
MAX_CATEGORIES = 1000
"""Categories beyond the most frequent 1,000 are counted together as ``other_count``."""

PROFILE_VERSION = 1
_MISSING_TEXT = "\x00<NA>"


def dtype_family(series: pd.Series) -> str:
    """The dtype family of a column: float, int, bool, string, category or datetime."""
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "string"


def profile_frame(frame: pd.DataFrame) -> dict[str, Any]:
    """Profile every column of ``frame``.

    >>> import pandas as pd
    >>> p = profile_frame(pd.DataFrame({"x": [1.0, 2.0, None], "c": ["a", "b", "a"]}))
    >>> p["features"]["x"]["missing"], p["features"]["c"]["categories"]
    (1, {'a': 2, 'b': 1})
    """
    return {
        "version": PROFILE_VERSION,
        "rows": len(frame),
        "features": {str(col): profile_column(frame[col]) for col in frame.columns},
    }


def profile_column(series: pd.Series) -> dict[str, Any]:
    """Profile one column (see the module docstring for what is kept)."""
    family = dtype_family(series)
    count = len(series)
    missing = int(series.isna().sum())
    base: dict[str, Any] = {
        "dtype": family,
        "count": count,
        "missing": missing,
        "missing_rate": missing / count if count else 0.0,
    }
    if family in ("float", "int"):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        base.update(kind="numeric", **_numeric_summary(values[~np.isnan(values)]))
    elif family == "bool":
        flags = series.dropna().astype(bool).to_numpy()
        base.update(kind="boolean", true_rate=float(flags.mean()) if len(flags) else None)
    elif family == "datetime":
        stamps = series.dropna()
        base.update(
            kind="datetime",
            min=stamps.min().isoformat() if len(stamps) else None,
            max=stamps.max().isoformat() if len(stamps) else None,
        )
    else:
        base.update(kind="categorical", **_categorical_summary(series))
    return base


def _numeric_summary(values: np.ndarray[Any, np.dtype[np.float64]]) -> dict[str, Any]:
    if len(values) == 0:
        return {
            "min": None,
            "max": None,
            "mean": None,
            "std": None,
            "quantiles": None,
            "histogram": None,
        }
    ordered = np.sort(values)
    lo, hi = float(ordered[0]), float(ordered[-1])
    counts, edges = _sorted_histogram(ordered, lo, hi)
    return {
        "min": lo,
        "max": hi,
        "mean": float(ordered.mean()),
        "std": float(ordered.std()),
        "quantiles": sorted_quantiles(ordered, QUANTILES),
        "histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
    }


def _sorted_histogram(
    ordered: np.ndarray[Any, Any], lo: float, hi: float
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """``np.histogram`` with equal-width bins, from already sorted values (binary search)."""
    if hi <= lo:
        return np.histogram(ordered, bins=HISTOGRAM_BINS)
    edges = np.linspace(lo, hi, HISTOGRAM_BINS + 1)
    cuts = np.searchsorted(ordered, edges[1:-1], side="left")
    bounds = np.concatenate(([0], cuts, [len(ordered)]))
    return np.diff(bounds), edges


def sorted_quantiles(ordered: np.ndarray[Any, Any], levels: tuple[float, ...]) -> list[float]:
    """Quantiles of an already sorted array, with numpy's default ("linear") interpolation."""
    n = len(ordered)
    pos = np.asarray(levels) * (n - 1)
    lower = np.floor(pos).astype(np.int64)
    upper = np.minimum(lower + 1, n - 1)
    frac = pos - lower
    low_vals = ordered[lower]
    result = low_vals + (ordered[upper] - low_vals) * frac
    return [float(v) for v in result]


def _categorical_summary(series: pd.Series) -> dict[str, Any]:
    counts = series.value_counts(dropna=True, sort=False)
    if not all(isinstance(k, str) for k in counts.index[:MAX_CATEGORIES]):
        # Mixed or non-text categories: count by their text, as validation compares them.
        counts = counts.groupby(counts.index.map(str)).sum()
    counts = counts.sort_values(ascending=False, kind="stable")
    top = counts.iloc[:MAX_CATEGORIES]
    return {
        "n_unique": len(counts),
        "categories": {str(k): int(v) for k, v in top.items()},
        "other_count": int(counts.iloc[MAX_CATEGORIES:].sum()),
    }


def fingerprint_frame(frame: pd.DataFrame) -> str:
    """SHA-256 of a canonical encoding of ``frame``: equal for the same rows and columns.

    Columns are taken in name order (their order in the file does not matter), rows in their order.
    Numbers are encoded as little-endian float64/int64 with one NaN bit pattern, text through
    pandas' stable value hash. ``1`` in an int column and ``1.0`` in a float column differ.
    """
    import pandas as pd

    digest = hashlib.sha256()
    digest.update(f"rows={len(frame)};".encode())
    for name in sorted(frame.columns, key=str):
        series = frame[name]
        family = dtype_family(series)
        digest.update(f"col={name}:{family};".encode())
        if family == "float":
            values = series.to_numpy(dtype="<f8", na_value=np.nan, copy=True)
            values[np.isnan(values)] = np.nan
            digest.update(values.tobytes())
        elif family == "int" and not series.hasnans:
            digest.update(series.to_numpy(dtype="<i8").tobytes())
        elif family == "bool" and not series.hasnans:
            digest.update(series.to_numpy(dtype=np.uint8).tobytes())
        else:
            text = series if isinstance(series.dtype, pd.StringDtype) else series.astype("string")
            hashed = pd.util.hash_pandas_object(text.fillna(_MISSING_TEXT), index=False).to_numpy()
            digest.update(hashed.astype("<u8").tobytes())
    return digest.hexdigest()
