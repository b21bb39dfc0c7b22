"""Data validation for ``mlship check`` (CI layer 2): does the data fit what the model learned from?

:func:`validate_frame` compares a DataFrame with :class:`~mlship.checks.expectations.Expectations`
and returns one :class:`~mlship.checks.results.CheckResult` per check and column, in six
categories: ``rows``, ``schema``, ``types``, ``missingness``, ``ranges`` and ``categories``. Shares
of type errors, out-of-range values and unseen categories are taken over a column's non-missing
values. Every rule is a few vectorized numpy/pandas passes over the column.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from mlship.checks.expectations import CATEGORICAL, NUMERIC, ColumnExpectation, Expectations
from mlship.checks.results import CheckResult, Severity, outcome
from mlship.checks.validation_config import Tolerances, ValidationConfig

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ValidationConfig", "validate_frame"]

_MAX_UNSEEN_LISTED = 5
_FloatArray = np.ndarray[Any, np.dtype[np.float64]]
_BoolArray = np.ndarray[Any, np.dtype[np.bool_]]


def validate_frame(
    frame: pd.DataFrame, expectations: Expectations, config: ValidationConfig | None = None
) -> list[CheckResult]:
    """Validate ``frame`` against ``expectations``; one result per check (and column).

    >>> import pandas as pd
    >>> from mlship.checks.expectations import ColumnExpectation, Expectations
    >>> e = Expectations((ColumnExpectation("x", "float", min=0.0, max=10.0),))
    >>> r = validate_frame(pd.DataFrame({"x": [1.0, 2.0, 30.0]}), e)
    >>> [(x.name, x.status) for x in r]  # doctest: +NORMALIZE_WHITESPACE
    [('rows', 'pass'), ('schema:required_columns', 'pass'), ('schema:extra_columns', 'pass'),
     ('types:x', 'pass'), ('missingness:x', 'pass'), ('ranges:x', 'warn')]
    """
    config = ValidationConfig() if config is None else config
    results = [_rows(len(frame), expectations, config)]
    positions: dict[str, int] = {}
    for i, col in enumerate(frame.columns):
        positions.setdefault(str(col), i)
    results.extend(_schema(list(map(str, frame.columns)), expectations, config))
    if len(frame) == 0:
        return results
    for expected in expectations.columns:
        if expected.name in positions:
            series = frame.iloc[:, positions[expected.name]]
            tolerances = config.tolerances(expected.name, expected.tolerances)
            results.extend(_column(series, expected, tolerances, config.severity))
    return results


def _rows(n: int, expectations: Expectations, config: ValidationConfig) -> CheckResult:
    need = max(config.min_rows, expectations.min_rows or 0)
    severity = config.severity["rows"]
    if n == 0:
        message = "The data has no rows: pass a file with the rows to check."
    elif n < need:
        message = f"The data has {n:,} rows, fewer than the {need:,} required: pass more rows."
    else:
        message = f"The data has {n:,} rows (at least {need:,} required)."
    return CheckResult(
        name="rows",
        category="rows",
        status=outcome(n >= need, severity),
        message=message,
        severity=severity,
        figures={"rows": n, "min_rows": need},
    )


def _schema(
    columns: list[str], expectations: Expectations, config: ValidationConfig
) -> list[CheckResult]:
    present = set(columns)
    missing = [c.name for c in expectations.columns if c.required and c.name not in present]
    severity = config.severity["schema"]
    if missing:
        message = (
            f"{len(missing)} required column{'s are' if len(missing) > 1 else ' is'} missing: "
            f"{', '.join(missing)}; add {'them' if len(missing) > 1 else 'it'} to the data."
        )
    else:
        message = (
            f"All {sum(c.required for c in expectations.columns)} required columns are present."
        )
    results = [
        CheckResult(
            name="schema:required_columns",
            category="schema",
            status=outcome(not missing, severity),
            message=message,
            severity=severity,
            figures={"missing": missing, "required": sum(c.required for c in expectations.columns)},
        )
    ]
    duplicated = (
        sorted({c for c in columns if columns.count(c) > 1}) if len(present) < len(columns) else []
    )
    if duplicated:
        results.append(
            CheckResult(
                name="schema:duplicate_columns",
                category="schema",
                status=outcome(False, severity),
                message=f"Columns appear twice or more: {', '.join(duplicated)}; keep one of each.",
                severity=severity,
                figures={"duplicated": duplicated},
            )
        )
    if config.extra_columns == "ignore":
        return results
    known = set(expectations.names) | set(expectations.tolerated)
    extra = [c for c in dict.fromkeys(columns) if c not in known]
    extra_severity: Severity = "error" if config.extra_columns == "error" else "warning"
    if extra:
        message = (
            f"{len(extra)} column{'s' if len(extra) > 1 else ''} the model does not know: "
            f"{', '.join(extra[:10])}{', ...' if len(extra) > 10 else ''}; drop "
            f'{"them" if len(extra) > 1 else "it"} or set extra_columns = "ignore".'
        )
    else:
        message = "The data has no columns the model does not know."
    results.append(
        CheckResult(
            name="schema:extra_columns",
            category="schema",
            status=outcome(not extra, extra_severity),
            message=message,
            severity=extra_severity,
            figures={"extra": extra, "policy": config.extra_columns},
        )
    )
    return results


def _column(
    series: pd.Series,
    expected: ColumnExpectation,
    tol: Tolerances,
    severity: Mapping[str, Severity],
) -> list[CheckResult]:
    missing = series.isna().to_numpy()
    present = int(len(series) - np.count_nonzero(missing))
    results = []
    numbers, errors = _parse(series, expected.dtype, missing)
    results.append(_types(series, expected, errors, present, tol, severity["types"]))
    results.append(_missingness(expected, int(len(series) - present), len(series), tol, severity))
    if expected.dtype in NUMERIC and (expected.min is not None or expected.max is not None):
        assert numbers is not None
        results.append(_ranges(expected, numbers, tol, severity["ranges"]))
    if expected.dtype in CATEGORICAL and expected.categories is not None:
        results.append(_categories(series, expected, missing, present, tol, severity["categories"]))
    return results


def _family(series: pd.Series) -> str:
    from mlship.registry.profile import dtype_family

    return dtype_family(series)


def _parse(
    series: pd.Series, dtype: str, missing: _BoolArray
) -> tuple[_FloatArray | None, _BoolArray | None]:
    """The column as float64 (numeric dtypes only) and a mask of values of the wrong type."""
    import pandas as pd

    family = _family(series)
    if dtype in CATEGORICAL:
        return None, None
    if dtype in NUMERIC:
        if family in ("float", "int", "bool"):
            numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
        elif family == "datetime":
            return np.full(len(series), np.nan), ~missing
        else:
            coerced = pd.to_numeric(series.astype("object"), errors="coerce")
            numbers = coerced.to_numpy(dtype=np.float64, na_value=np.nan)
        errors = np.isnan(numbers) & ~missing
        if dtype == "int" and family != "int":
            with np.errstate(invalid="ignore"):
                errors |= np.isfinite(numbers) & (numbers != np.trunc(numbers))
        return numbers, errors
    if dtype == "bool":
        if family == "bool":
            return None, None
        if family in ("float", "int"):
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            return None, ~missing & ~np.isin(values, (0.0, 1.0))
        text = series.astype("str").str.lower()
        return None, ~missing & ~text.isin(("true", "false", "0", "1")).to_numpy()
    if family == "datetime":  # dtype == "datetime"
        return None, None
    if family in ("string", "category"):
        parsed = pd.to_datetime(series.astype("object"), errors="coerce", format="mixed")
        return None, parsed.isna().to_numpy() & ~missing
    return None, ~missing


def _types(
    series: pd.Series,
    expected: ColumnExpectation,
    errors: _BoolArray | None,
    present: int,
    tol: Tolerances,
    severity: Severity,
) -> CheckResult:
    name, family = expected.name, _family(series)
    count = 0 if errors is None else int(np.count_nonzero(errors))
    share = count / present if present else 0.0
    figures: dict[str, Any] = {
        "expected_dtype": expected.dtype,
        "observed_dtype": family,
        "errors": count,
        "share": share,
        "threshold": tol.max_type_error_share,
    }
    ok = share <= tol.max_type_error_share
    if count:
        assert errors is not None
        first = int(np.flatnonzero(errors)[0])
        row, value = _plain(series.index[first]), _plain(series.iloc[first])
        figures.update(example_row=row, example_value=value)
        message = (
            f"Column {name!r} has {count:,} value{'s' if count > 1 else ''} ({_pct(share)}) that "
            f"{'are' if count > 1 else 'is'} not {_article(expected.dtype)}, e.g. {value!r} in "
            f"row {row!r} (at most {_pct(tol.max_type_error_share)} allowed); fix the source or "
            "its parsing."
        )
    else:
        message = f"Column {name!r} holds {expected.dtype} values ({family} dtype)."
    return CheckResult(
        name=f"types:{name}",
        category="types",
        status=outcome(ok, severity),
        message=message,
        severity=severity,
        figures=figures,
    )


def _missingness(
    expected: ColumnExpectation,
    missing: int,
    rows: int,
    tol: Tolerances,
    severity: Mapping[str, Severity],
) -> CheckResult:
    name, rate, training = expected.name, missing / rows, expected.missing_rate
    # A column already sparser than the threshold in training may stay as sparse, plus the delta.
    limit = tol.max_missing_rate
    if training is not None:
        limit = max(limit, training + tol.spike_min_delta)
    spike = training is not None and (
        rate > tol.spike_ratio * training and rate - training > tol.spike_min_delta
    )
    ok = rate <= limit and not spike
    ref = f" (training {_pct(training)})" if training is not None else ""
    if rate > limit:
        message = (
            f"Column {name!r} is {_pct(rate)} missing{ref}, above the {_pct(limit)} allowed; fix "
            "the source or raise max_missing_rate for this column."
        )
    elif spike:
        message = (
            f"Column {name!r} is {_pct(rate)} missing, a spike from {_pct(training)} in training "
            f"(more than {tol.spike_ratio:g}x and {_pct(tol.spike_min_delta)} higher); check the "
            "source or raise spike_ratio for this column."
        )
    else:
        message = f"Column {name!r} is {_pct(rate)} missing{ref}, within the {_pct(limit)} allowed."
    return CheckResult(
        name=f"missingness:{name}",
        category="missingness",
        status=outcome(ok, severity["missingness"]),
        message=message,
        severity=severity["missingness"],
        figures={
            "missing": missing,
            "rows": rows,
            "missing_rate": rate,
            "threshold": limit,
            "training_missing_rate": training,
            "spike": spike,
            "spike_ratio": tol.spike_ratio,
            "spike_min_delta": tol.spike_min_delta,
        },
    )


def _ranges(
    expected: ColumnExpectation, numbers: _FloatArray, tol: Tolerances, severity: Severity
) -> CheckResult:
    name, lo, hi = expected.name, expected.min, expected.max
    width = hi - lo if lo is not None and hi is not None else 0.0
    low = -np.inf if lo is None else lo - tol.range_margin * width
    high = np.inf if hi is None else hi + tol.range_margin * width
    outside = int(np.count_nonzero((numbers < low) | (numbers > high)))
    present = int(np.count_nonzero(~np.isnan(numbers)))
    figures: dict[str, Any] = {
        "outside": outside,
        "values": present,
        "share": outside / present if present else 0.0,
        "low": float(low),
        "high": float(high),
        "training_min": lo,
        "training_max": hi,
        "threshold": tol.max_out_of_range_share,
    }
    if not present:
        return CheckResult(
            name=f"ranges:{name}",
            category="ranges",
            status="skip",
            message=f"Column {name!r} has no numbers to compare with its range.",
            severity=severity,
            figures=figures,
        )
    # fmin/fmax skip NaN without nanmin's copy of the column.
    observed_min, observed_max = float(np.fmin.reduce(numbers)), float(np.fmax.reduce(numbers))
    figures.update(observed_min=observed_min, observed_max=observed_max)
    share = figures["share"]
    ok = share <= tol.max_out_of_range_share
    bounds = f"[{low:.6g}, {high:.6g}]"
    if ok:
        message = (
            f"Column {name!r} has {_pct(share)} of values outside {bounds} (at most "
            f"{_pct(tol.max_out_of_range_share)} allowed)."
        )
    else:
        message = (
            f"Column {name!r} has {outside:,} value{'s' if outside > 1 else ''} ({_pct(share)}) "
            f"outside {bounds}, the expected range widened by {tol.range_margin:g} of its width "
            f"(observed {observed_min:.6g} to {observed_max:.6g}; at most "
            f"{_pct(tol.max_out_of_range_share)} allowed); check the units and the source."
        )
    return CheckResult(
        name=f"ranges:{name}",
        category="ranges",
        status=outcome(ok, severity),
        message=message,
        severity=severity,
        figures=figures,
    )


def _categories(
    series: pd.Series,
    expected: ColumnExpectation,
    missing: _BoolArray,
    present: int,
    tol: Tolerances,
    severity: Severity,
) -> CheckResult:
    import pandas as pd

    name = expected.name
    known = expected.categories or frozenset()
    if isinstance(series.dtype, pd.CategoricalDtype):
        seen_codes = np.array([str(c) in known for c in series.cat.categories] + [True])
        unseen = ~seen_codes[series.cat.codes.to_numpy()]  # code -1 (missing) hits the last True
    elif pd.api.types.is_string_dtype(series.dtype) and not pd.api.types.is_object_dtype(
        series.dtype
    ):
        unseen = ~series.isin(list(known)).to_numpy() & ~missing
    else:
        codes, uniques = pd.factorize(series)
        seen_codes = np.array([str(u) in known for u in uniques] + [True])
        unseen = ~seen_codes[codes]
    count = int(np.count_nonzero(unseen))
    share = count / present if present else 0.0
    limit = min(1.0, expected.other_share + tol.max_unseen_share)
    top: list[str] = []
    if count:
        counts = series[unseen].astype("object").map(str).value_counts()
        top = [str(v) for v in counts.index[:_MAX_UNSEEN_LISTED]]
    ok = share <= limit
    where = "in training" if not expected.other_share else "among the top training categories"
    if count:
        message = (
            f"Column {name!r} has {count:,} value{'s' if count > 1 else ''} ({_pct(share)}) never "
            f"seen {where}, e.g. {', '.join(map(repr, top))} (at most {_pct(limit)} allowed); "
            "check the source or retrain with these categories."
        )
    else:
        message = f"Column {name!r} has no categories unseen {where}."
    return CheckResult(
        name=f"categories:{name}",
        category="categories",
        status=outcome(ok, severity) if present else "skip",
        message=message if present else f"Column {name!r} has no values to compare.",
        severity=severity,
        figures={
            "unseen": count,
            "values": present,
            "share": share,
            "threshold": limit,
            "training_other_share": expected.other_share,
            "unseen_values": top,
        },
    )


def _pct(share: float | None) -> str:
    if share is None:
        return "n/a"
    return f"{share * 100:.3g}%"


def _article(dtype: str) -> str:
    return {
        "int": "an integer",
        "float": "a number",
        "bool": "a boolean",
        "datetime": "a date",
    }.get(dtype, f"a {dtype}")


def _plain(value: object) -> Any:
    """A JSON-ready Python scalar."""
    if isinstance(value, np.generic):
        return cast(Any, value).item()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
