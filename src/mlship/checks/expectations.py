"""What the data given to ``check`` should look like, column by column.

Expectations come from a registered version (its signature's features and its training-data
profile) or from a schema file written by hand::

    {"columns": {"amount": {"dtype": "float", "min": 0, "max": 10000, "max_missing_rate": 0.01},
                 "country": {"dtype": "string", "categories": ["DE", "FR"]}},
     "min_rows": 100}

A schema column takes ``dtype`` (required), ``required`` (default true), ``min``/``max``,
``categories``, ``training_missing_rate`` (the reference of the missing-spike rule) and any
per-column tolerance of :class:`~mlship.checks.validation_config.ValidationConfig`. Bounds in a
schema file are exact: ``range_margin`` is 0 for them unless the column says otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlship.checks.validation_config import (
    SHARE,
    TOLERANCE_RULES,
    check_tolerances,
    unknown_keys,
)
from mlship.errors import ConfigError
from mlship.options import Rule, check_number, invalid

if TYPE_CHECKING:
    from mlship.registry.model_version import Feature, ModelVersion

DTYPE_FAMILIES = ("float", "int", "bool", "string", "category", "datetime")
NUMERIC = ("float", "int")
CATEGORICAL = ("string", "category")


@dataclass(frozen=True, slots=True)
class ColumnExpectation:
    """What one column should hold. ``None`` means "not checked"."""

    name: str
    dtype: str
    """The dtype family: float, int, bool, string, category or datetime."""
    required: bool = True
    min: float | None = None
    max: float | None = None
    categories: frozenset[str] | None = None
    """Values seen in training (compared as text); ``None`` skips the unseen-category check."""
    other_share: float = 0.0
    """Share of training values outside ``categories`` (the profile keeps the top 1,000 only)."""
    missing_rate: float | None = None
    """The training data's missing rate, the reference of the missing-spike rule."""
    tolerances: Mapping[str, float] = field(default_factory=dict)
    """Per-column tolerances from a schema file (see :data:`TOLERANCE_RULES`)."""

    def to_schema(self) -> dict[str, Any]:
        """This column as a schema-file entry."""
        entry: dict[str, Any] = {"dtype": self.dtype}
        if not self.required:
            entry["required"] = False
        if self.min is not None:
            entry["min"] = self.min
        if self.max is not None:
            entry["max"] = self.max
        if self.categories is not None:
            entry["categories"] = sorted(self.categories)
        if self.other_share:
            entry["other_share"] = self.other_share
        if self.missing_rate is not None:
            entry["training_missing_rate"] = self.missing_rate
        entry.update(self.tolerances)
        return entry


@dataclass(frozen=True, slots=True)
class Expectations:
    """Every column's expectation, the minimum row count, and columns that may appear unchecked."""

    columns: tuple[ColumnExpectation, ...]
    min_rows: int | None = None
    """Combined with ``ValidationConfig.min_rows``: the larger one applies."""
    tolerated: tuple[str, ...] = ()
    """Columns that are neither checked nor reported as extra (the label, unless asked for)."""

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def to_schema(self) -> dict[str, Any]:
        """A JSON-ready schema file that :func:`load_schema` reads back to equal expectations."""
        schema: dict[str, Any] = {"columns": {c.name: c.to_schema() for c in self.columns}}
        if self.min_rows is not None:
            schema["min_rows"] = self.min_rows
        if self.tolerated:
            schema["tolerated"] = list(self.tolerated)
        return schema


def expectations_from_profile(
    profile: Mapping[str, Any] | None,
    features: Sequence[Feature] | None = None,
    *,
    label: str | None = None,
    include_label: bool = False,
) -> Expectations:
    """Expectations from a training-data profile (``profile_frame``) and a signature's features.

    Parameters
    ----------
    profile:
        The stored profile; ``None`` checks only presence and types of ``features``.
    features:
        The model's input features; ``None`` takes every profiled column but the label.
    label:
        The label column: tolerated in the data, validated only with ``include_label``.

    >>> import pandas as pd
    >>> from mlship.registry.profile import profile_frame
    >>> p = profile_frame(pd.DataFrame({"x": [1.0, 3.0], "c": ["a", "b"], "y": [0, 1]}))
    >>> e = expectations_from_profile(p, label="y")
    >>> [(c.name, c.min, c.max, c.categories) for c in e.columns]
    [('x', 1.0, 3.0, None), ('c', None, None, frozenset({'a', 'b'}))]
    """
    stats: Mapping[str, Any] = (profile or {}).get("features", {})
    if features is None:
        columns = [(name, str(s.get("dtype", "string"))) for name, s in stats.items()]
    else:
        columns = [(f.name, f.dtype) for f in features]
    columns = [(n, d) for n, d in columns if n != label]
    if include_label and label is not None:
        columns.append((label, str(stats.get(label, {}).get("dtype", "string"))))
    tolerated = (label,) if label is not None and not include_label else ()
    expected = tuple(_from_column_profile(n, d, stats.get(n)) for n, d in columns)
    return Expectations(columns=expected, tolerated=tolerated)


def expectations_for_version(version: ModelVersion, *, include_label: bool = False) -> Expectations:
    """Expectations of a registered version: its signature's features and its stored profile."""
    if version.signature is None and version.data_profile is None:
        raise ConfigError(
            f"{version.ref} has neither a signature nor a training-data profile to validate "
            "against. Register it with --train-data, or pass a schema file."
        )
    features = version.signature.features if version.signature is not None else None
    return expectations_from_profile(
        version.data_profile, features, label=version.label, include_label=include_label
    )


def _from_column_profile(
    name: str, dtype: str, stats: Mapping[str, Any] | None
) -> ColumnExpectation:
    if not stats:
        return ColumnExpectation(name=name, dtype=dtype)
    missing_rate = stats.get("missing_rate")
    lo = hi = None
    categories = None
    other_share = 0.0
    kind = stats.get("kind")
    if kind == "numeric" and dtype in NUMERIC:
        lo, hi = stats.get("min"), stats.get("max")
    elif kind == "categorical" and dtype in CATEGORICAL:
        counts: Mapping[str, int] = stats.get("categories") or {}
        categories = frozenset(counts)
        other = int(stats.get("other_count") or 0)
        present = sum(counts.values()) + other
        other_share = other / present if present else 0.0
    return ColumnExpectation(
        name=name,
        dtype=dtype,
        min=None if lo is None else float(lo),
        max=None if hi is None else float(hi),
        categories=categories,
        other_share=other_share,
        missing_rate=None if missing_rate is None else float(missing_rate),
    )


def load_schema(path: str | Path) -> Expectations:
    """Read a JSON schema file (see the module docstring) into :class:`Expectations`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"The schema file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read the schema file {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"The schema file {path} is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}."
        ) from None
    try:
        return expectations_from_schema(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc.message}") from None


_SCHEMA_KEYS = ("columns", "min_rows", "tolerated")
_COLUMN_KEYS = (
    "dtype",
    "required",
    "min",
    "max",
    "categories",
    "other_share",
    "training_missing_rate",
    *TOLERANCE_RULES,
)


def expectations_from_schema(data: object) -> Expectations:
    """Parse a schema (the JSON object of a schema file) into :class:`Expectations`."""
    if not isinstance(data, Mapping):
        raise invalid("schema", 'a JSON object with a "columns" object', data)
    unknown_keys("the schema", data, _SCHEMA_KEYS)
    columns = data.get("columns")
    if not isinstance(columns, Mapping) or not columns:
        raise invalid("columns", "a non-empty object of column name to expectation", columns)
    min_rows = data.get("min_rows")
    if min_rows is not None and (
        isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 1
    ):
        raise invalid("min_rows", "an integer >= 1", min_rows)
    tolerated = data.get("tolerated", [])
    if not isinstance(tolerated, list) or not all(isinstance(t, str) for t in tolerated):
        raise invalid("tolerated", "a list of column names", tolerated)
    parsed = tuple(_column_from_schema(str(name), spec) for name, spec in columns.items())
    return Expectations(columns=parsed, min_rows=min_rows, tolerated=tuple(tolerated))


def _column_from_schema(name: str, spec: object) -> ColumnExpectation:
    where = f"columns.{name}"
    if not isinstance(spec, Mapping):
        raise invalid(where, 'an object such as {"dtype": "float"}', spec)
    unknown_keys(where, spec, _COLUMN_KEYS)
    dtype = spec.get("dtype")
    if dtype not in DTYPE_FAMILIES:
        raise invalid(f"{where}.dtype", f"one of {', '.join(DTYPE_FAMILIES)}", dtype)
    required = spec.get("required", True)
    if not isinstance(required, bool):
        raise invalid(f"{where}.required", "true or false", required)
    any_number: Rule = ("a number", lambda v: True)
    bounds = {
        key: check_number(f"{where}.{key}", spec[key], any_number)
        if spec.get(key) is not None
        else None
        for key in ("min", "max")
    }
    lo, hi = bounds["min"], bounds["max"]
    if (lo is not None or hi is not None) and dtype not in NUMERIC:
        raise invalid(
            f"{where}.min", "absent for a non-numeric dtype", lo if lo is not None else hi
        )
    if lo is not None and hi is not None and lo > hi:
        raise invalid(f"{where}.max", f"at least min ({lo:g})", hi)
    categories = spec.get("categories")
    if categories is not None:
        if dtype not in CATEGORICAL or not isinstance(categories, list):
            raise invalid(
                f"{where}.categories",
                "a list of values, for a string or category dtype",
                categories,
            )
        categories = frozenset(str(c) for c in categories)
    other_share = check_number(f"{where}.other_share", spec.get("other_share", 0.0), SHARE)
    training = spec.get("training_missing_rate")
    if training is not None:
        training = check_number(f"{where}.training_missing_rate", training, SHARE)
    tolerances = check_tolerances(where, {k: v for k, v in spec.items() if k in TOLERANCE_RULES})
    if lo is not None or hi is not None:
        tolerances.setdefault("range_margin", 0.0)
    return ColumnExpectation(
        name=name,
        dtype=dtype,
        required=required,
        min=lo,
        max=hi,
        categories=categories,
        other_share=other_share,
        missing_rate=training,
        tolerances=tolerances,
    )
