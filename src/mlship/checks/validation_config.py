"""How strict data validation is: :class:`ValidationConfig`, and the checks of its options.

Every bad option is a :class:`~mlship.errors.ConfigError` in one format, e.g. "The 'range_margin'
option must be a number >= 0. Got -1 instead."
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_args

from mlship.checks.results import Severity
from mlship.errors import ConfigError
from mlship.options import Rule, check_number, invalid

ExtraColumns = Literal["warn", "error", "ignore"]
CATEGORIES = ("schema", "types", "missingness", "rows", "ranges", "categories")
DEFAULT_SEVERITY: Mapping[str, Severity] = {
    "schema": "error",
    "types": "error",
    "missingness": "error",
    "rows": "error",
    "ranges": "warning",
    "categories": "warning",
}


SHARE: Rule = ("a number in [0, 1]", lambda v: 0 <= v <= 1)
TOLERANCE_RULES: Mapping[str, Rule] = {
    "max_missing_rate": SHARE,
    "spike_ratio": ("a number >= 1", lambda v: v >= 1),
    "spike_min_delta": SHARE,
    "range_margin": ("a number >= 0", lambda v: v >= 0),
    "max_out_of_range_share": SHARE,
    "max_unseen_share": SHARE,
    "max_type_error_share": SHARE,
}
"""The tolerances a column may override, with what each must be."""


def check_tolerances(where: str, values: object, *, from_text: bool = False) -> dict[str, float]:
    """Validate a table of per-column tolerances found at ``where`` (e.g. ``columns.amount``)."""
    if not isinstance(values, Mapping):
        raise invalid(where, "a table of tolerances", values)
    unknown_keys(where, values, TOLERANCE_RULES)
    return {
        key: check_number(f"{where}.{key}", value, TOLERANCE_RULES[key], from_text=from_text)
        for key, value in values.items()
    }


def unknown_keys(
    where: str, values: Mapping[str, Any], known: Sequence[str] | Mapping[str, Any]
) -> None:
    """Raise a :class:`ConfigError` naming the keys of ``values`` that are not ``known``."""
    import difflib

    unknown = [str(k) for k in values if k not in known]
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, list(known), n=1)
        hints.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
    raise ConfigError(
        f"Unknown option{'s' if len(unknown) > 1 else ''} in {where}: {', '.join(hints)}. "
        f"Known options: {', '.join(sorted(known))}."
    )


@dataclass(frozen=True, slots=True)
class Tolerances:
    """The tolerances that apply to one column (global values with its overrides)."""

    max_missing_rate: float
    spike_ratio: float
    spike_min_delta: float
    range_margin: float
    max_out_of_range_share: float
    max_unseen_share: float
    max_type_error_share: float


@dataclass(frozen=True, slots=True)
class ValidationConfig:
    """How strict data validation is: global tolerances, per-column overrides and severities.

    Per column, an override in ``columns`` wins over a tolerance in the schema file, which wins
    over the global value here.

    >>> config = ValidationConfig.from_dict({"columns": {"amount": {"max_missing_rate": 0.2}}})
    >>> config.tolerances("amount").max_missing_rate, config.tolerances("other").max_missing_rate
    (0.2, 0.05)
    """

    max_missing_rate: float = 0.05
    """A column may have at most this share of missing values."""
    spike_ratio: float = 5.0
    """Missing-spike rule: flag a rate above ``spike_ratio`` x the training rate ..."""
    spike_min_delta: float = 0.01
    """... and above it by more than ``spike_min_delta`` (0.1 % in training, 4 % now: flagged)."""
    range_margin: float = 0.1
    """Numbers may lie this share of the training range's width beyond each end of it."""
    max_out_of_range_share: float = 0.01
    """At most this share of a column's values may lie outside the widened training range."""
    max_unseen_share: float = 0.01
    """At most this share of a column's values may be categories never seen in training."""
    max_type_error_share: float = 0.0
    """At most this share of a column's values may fail to parse as its dtype (text in numbers)."""
    min_rows: int = 1
    """The data must have at least this many rows."""
    extra_columns: ExtraColumns = "warn"
    """What columns the model does not know cause: a warning, an error, or nothing."""
    severity: Mapping[str, Severity] = field(default_factory=lambda: dict(DEFAULT_SEVERITY))
    """Severity per category; the ones given are merged over :data:`DEFAULT_SEVERITY`."""
    columns: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """Per-column overrides of the tolerances, e.g. ``{"amount": {"max_missing_rate": 0.2}}``."""

    def __post_init__(self) -> None:
        for name in TOLERANCE_RULES:
            value = check_number(name, getattr(self, name), TOLERANCE_RULES[name])
            object.__setattr__(self, name, value)
        rows = self.min_rows
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
            raise invalid("min_rows", "an integer >= 1", rows)
        if self.extra_columns not in get_args(ExtraColumns):
            raise invalid("extra_columns", "one of 'warn', 'error', 'ignore'", self.extra_columns)
        if not isinstance(self.severity, Mapping):
            raise invalid("severity", "a table of category to 'error' or 'warning'", self.severity)
        unknown_keys("severity", self.severity, CATEGORIES)
        for category, level in self.severity.items():
            if level not in get_args(Severity):
                raise invalid(f"severity.{category}", "one of 'error', 'warning'", level)
        object.__setattr__(self, "severity", {**DEFAULT_SEVERITY, **self.severity})
        if not isinstance(self.columns, Mapping):
            raise invalid("columns", "a table of column name to tolerances", self.columns)
        checked = {str(k): check_tolerances(f"columns.{k}", v) for k, v in self.columns.items()}
        object.__setattr__(self, "columns", checked)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "[checks]") -> ValidationConfig:
        """Build from a plain table (a ``[checks]`` table of mlship.toml, or CLI flags).

        Numbers may be given as text (``"0.1"``); unknown keys are named in the error.
        """
        known = [f.name for f in fields(cls)]
        unknown_keys(where, data, known)
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in TOLERANCE_RULES:
                kwargs[key] = check_number(key, value, TOLERANCE_RULES[key], from_text=True)
            elif key == "min_rows" and isinstance(value, str):
                try:
                    kwargs[key] = int(value)
                except ValueError:
                    raise invalid("min_rows", "an integer >= 1", value) from None
            elif key == "columns":
                if not isinstance(value, Mapping):
                    raise invalid("columns", "a table of column name to tolerances", value)
                kwargs[key] = {
                    str(col): check_tolerances(f"columns.{col}", table, from_text=True)
                    for col, table in value.items()
                }
            else:
                kwargs[key] = value
        return cls(**kwargs)

    def tolerances(self, column: str, base: Mapping[str, float] | None = None) -> Tolerances:
        """The tolerances of ``column``: globals, then ``base`` (a schema's), then overrides."""
        merged = {name: getattr(self, name) for name in TOLERANCE_RULES}
        merged.update(base or {})
        merged.update(self.columns.get(column, {}))
        return Tolerances(**merged)
