"""The values of a request: per-feature converters and v2 tensors.

A decoder builds one :class:`Column` converter per feature of a signature, once per model version.
``convert`` checks every JSON value strictly (no numeric strings in numeric features, no booleans
as numbers) and returns the column as the model's training frame had it; the first value that does
not fit raises :class:`~mlship.errors.InvalidInput` naming the feature, the row and the expected
type.

Small columns (the common 1-row request) are checked value by value in Python, which beats any
vectorized call at that size. Long columns pass one vectorized type inference and are converted by
numpy; only when that check fails are they walked in Python, to name the first bad row.

Dtypes: float → float64; int → int64 (``Int64`` when the training data had missing values);
bool → bool (``boolean`` with missing values); string → object (Python strings: every model
library takes them, and a pandas 3 ``str`` column costs 15-30 µs a feature on the 1-row path);
category → ``category`` of those strings; datetime → pandas' default datetime64 unit (ISO 8601
strings only; time zones converted to UTC).

:class:`Tensor` is one input of an Open Inference Protocol v2 request: its structure (shape, nested
or flat data) and its elements against its datatype.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from typing import Any, ClassVar, Final

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from mlship.errors import InvalidInput

SMALL: Final = 64
"""Columns of up to this many values are checked in Python; longer ones are vectorized."""

DATETIME_DTYPE: Final[Any] = pd.Series([datetime(2000, 1, 1)]).dtype

NUMBER_KINDS: Final = frozenset({"floating", "integer", "mixed-integer-float"})
"""``infer_dtype`` answers for columns of JSON numbers only."""

_I64: Final = (-(2**63), 2**63 - 1)
_CSV_BOOLS: Final = {"true": True, "True": True, "TRUE": True}
_CSV_BOOLS.update({"false": False, "False": False, "FALSE": False})

Values = Sequence[Any]


def describe(value: object) -> str:
    """A short JSON-flavoured description of a value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "the boolean " + ("true" if value else "false")
    if isinstance(value, int):
        return f"the number {value}" if value.bit_length() < 200 else "a very large integer"
    if isinstance(value, float):
        return "NaN" if value != value else f"the number {value!r}"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {text!r}"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


class Column:
    """Converts the values of one feature; one subclass per dtype family."""

    __slots__ = ("name", "nullable")
    family: ClassVar[str]
    what: ClassVar[str]
    """The expected type in words, for messages."""

    def __init__(self, name: str, nullable: bool) -> None:
        self.name = name
        self.nullable = nullable
        """Whether null/NaN is accepted (the training data had missing values)."""

    def convert(self, values: Values) -> Any:
        """The column as an array (numpy or pandas extension array) of ``len(values)``."""
        n = len(values)
        if n > SMALL:
            obj = values if isinstance(values, np.ndarray) else _objects(values)
            out = self._vector(obj)
            if out is not None:
                return out
        return self._build(self._scan(values))

    def parse_csv(self, cells: list[str]) -> list[Any]:
        """CSV cells as the JSON values they stand for (empty = missing); the rest stays text."""
        return [c if c else None for c in cells]

    def _vector(self, obj: np.ndarray[Any, Any]) -> Any:
        """The converted column when every value fits, else None (then ``_scan`` finds the row)."""
        return None

    def _scan(self, values: Values) -> list[Any]:
        raise NotImplementedError

    def _build(self, values: list[Any]) -> Any:
        raise NotImplementedError

    def _missing(self, row: int) -> Any:
        """What a null/NaN becomes, or the error when the feature had no missing values."""
        if self.nullable:
            return None
        raise InvalidInput(
            f"Feature {self.name!r} is null or NaN in row {row}, but its training data had no "
            f"missing values; send {self.what}.",
            field=self.name,
            row=row,
            expected=self.family,
        )

    def wrong(self, row: int, value: object, detail: str = "") -> InvalidInput:
        return InvalidInput(
            f"Feature {self.name!r} must be {self.family} ({self.what}); row {row} has "
            f"{describe(value)}{detail}.",
            field=self.name,
            row=row,
            expected=self.family,
        )


class FloatColumn(Column):
    __slots__ = ()
    family = "float"
    what = "a number"

    def parse_csv(self, cells: list[str]) -> list[Any]:
        try:
            values = list(map(float, cells))
        except ValueError:
            return [_csv_number(c, float) for c in cells]
        if all(map(math.isfinite, values)):
            return values
        return [_csv_number(c, float) for c in cells]  # "inf" stays text: the row is named

    def _vector(self, obj: np.ndarray[Any, Any]) -> Any:
        kind = infer_dtype(obj, skipna=self.nullable)
        if kind not in NUMBER_KINDS and not (kind == "empty" and self.nullable):
            return None
        try:
            out = obj.astype(np.float64)
        except (OverflowError, TypeError, ValueError):
            return None
        if not self.nullable and np.isnan(out).any():
            return None
        return out

    def _scan(self, values: Values) -> list[Any]:
        out: list[Any] = []
        for row, v in enumerate(values):
            t = type(v)
            if t is float:
                if v != v:
                    v = self._missing(row)
            elif t is int:
                try:
                    v = float(v)
                except OverflowError:
                    raise self.wrong(row, v, ", out of the float64 range") from None
            elif v is None:
                v = self._missing(row)
            else:
                raise self.wrong(row, v)
            out.append(v)
        return out

    def _build(self, values: list[Any]) -> Any:
        return np.array(values, dtype=np.float64)


class IntColumn(Column):
    __slots__ = ()
    family = "int"
    what = "an integer"

    def parse_csv(self, cells: list[str]) -> list[Any]:
        try:
            return list(map(int, cells))
        except ValueError:
            return [_csv_number(c, int) for c in cells]

    def _vector(self, obj: np.ndarray[Any, Any]) -> Any:
        kind = infer_dtype(obj, skipna=self.nullable)
        if kind == "empty" and self.nullable:
            return pd.array([None] * len(obj), dtype="Int64")
        if kind != "integer":
            return None
        mask = pd.isna(obj) if self.nullable else None
        if mask is not None and mask.any():
            obj = obj.copy()
            obj[mask] = 0
        try:
            out = obj.astype(np.int64)
        except OverflowError:
            return None
        if self.nullable:
            return pd.arrays.IntegerArray(out, np.zeros(len(out), bool) if mask is None else mask)
        return out

    def _scan(self, values: Values) -> list[Any]:
        out: list[Any] = []
        low, high = _I64
        for row, v in enumerate(values):
            t = type(v)
            if t is int:
                if not low <= v <= high:
                    raise self.wrong(row, v, ", out of the int64 range")
            elif t is float:
                if v != v:
                    v = self._missing(row)
                elif v.is_integer() and low <= v <= high:
                    v = int(v)
                else:
                    raise self.wrong(row, v)
            elif v is None:
                v = self._missing(row)
            else:
                raise self.wrong(row, v)
            out.append(v)
        return out

    def _build(self, values: list[Any]) -> Any:
        if self.nullable:
            return pd.array(values, dtype="Int64")
        return np.array(values, dtype=np.int64)


class BoolColumn(Column):
    __slots__ = ()
    family = "bool"
    what = "true or false"

    def parse_csv(self, cells: list[str]) -> list[Any]:
        return [_CSV_BOOLS.get(c, c) if c else None for c in cells]

    def _vector(self, obj: np.ndarray[Any, Any]) -> Any:
        kind = infer_dtype(obj, skipna=self.nullable)
        if self.nullable and kind in ("boolean", "empty"):
            return pd.array(obj, dtype="boolean")
        return obj.astype(bool) if kind == "boolean" else None

    def _scan(self, values: Values) -> list[Any]:
        out: list[Any] = []
        for row, v in enumerate(values):
            if type(v) is not bool:
                if v is None or (type(v) is float and v != v):
                    v = self._missing(row)
                else:
                    raise self.wrong(row, v)
            out.append(v)
        return out

    def _build(self, values: list[Any]) -> Any:
        if self.nullable:
            return pd.array(values, dtype="boolean")
        return np.array(values, dtype=bool)


class StringColumn(Column):
    """Strings; numbers are accepted and turned into their text (``1`` → ``"1"``)."""

    __slots__ = ()
    family = "string"
    what = "a string"

    def _vector(self, obj: np.ndarray[Any, Any]) -> Any:
        if infer_dtype(obj, skipna=self.nullable) != "string":
            return None
        return self._build(obj)

    def _scan(self, values: Values) -> list[Any]:
        out: list[Any] = []
        for row, v in enumerate(values):
            t = type(v)
            if t is not str:
                if v is None or (t is float and v != v):
                    v = self._missing(row)
                elif t is int or t is float:
                    try:
                        v = str(v)
                    except ValueError:  # more digits than int-to-str converts
                        raise self.wrong(row, v) from None
                else:
                    raise self.wrong(row, v)
            out.append(v)
        return out

    def _build(self, values: Any) -> Any:
        return np.array(values, dtype=object)


class CategoryColumn(StringColumn):
    """Like strings, as a ``category`` column whose categories are the values of the request."""

    __slots__ = ()
    family = "category"
    what = "a string"

    def _build(self, values: Any) -> Any:
        categories: Any
        if len(values) > SMALL:  # pandas' own inference costs ~300 µs even for one value
            codes, categories = pd.factorize(np.asarray(values, dtype=object), sort=True)
        else:
            categories = sorted({v for v in values if v is not None})
            where = {v: i for i, v in enumerate(categories)}
            codes = np.array([-1 if v is None else where[v] for v in values], dtype=np.int64)
        dtype = pd.CategoricalDtype(pd.Index(categories, dtype=object))
        return pd.Categorical.from_codes(codes, dtype=dtype)


class DatetimeColumn(Column):
    __slots__ = ()
    family = "datetime"
    what = "an ISO 8601 date-time string"

    def _scan(self, values: Values) -> list[Any]:
        out: list[Any] = []
        for row, v in enumerate(values):
            if type(v) is str:
                try:
                    v = datetime.fromisoformat(v)
                    if v.tzinfo is not None:
                        v = v.astimezone(UTC).replace(tzinfo=None)
                except (ValueError, OverflowError):
                    raise self.wrong(row, v) from None
            elif v is None or (type(v) is float and v != v):
                v = self._missing(row)
            else:
                raise self.wrong(row, v)
            out.append(v)
        return out

    def _build(self, values: list[Any]) -> Any:
        try:
            return pd.array(values, dtype=DATETIME_DTYPE)
        except (ValueError, OverflowError):
            raise InvalidInput(
                f"Feature {self.name!r} has a date-time out of the range pandas can hold "
                f"({DATETIME_DTYPE}).",
                field=self.name,
                expected=self.family,
            ) from None


COLUMNS: Final[dict[str, type[Column]]] = {
    cls.family: cls
    for cls in (FloatColumn, IntColumn, BoolColumn, StringColumn, CategoryColumn, DatetimeColumn)
}
"""The converter of each dtype family."""


def _objects(values: Values) -> np.ndarray[Any, Any]:
    """A 1-d object array holding the values as they are (lists stay elements)."""
    return np.fromiter(values, dtype=object, count=len(values))


def _csv_number(cell: str, parse: type[int] | type[float]) -> object:
    if not cell:
        return None
    try:
        value: float = parse(cell)
        if parse is int:
            return value
    except ValueError:
        try:
            value = float(cell)
        except ValueError:
            return cell  # stays text: the converter names the row
    return value if math.isfinite(value) else cell  # "inf" too: CSV carries what JSON cannot


# ------------------------------------------------------------------------------------ v2


@dataclass(frozen=True, slots=True)
class DatatypeKind:
    """What one v2 datatype's elements must be."""

    kinds: frozenset[str]
    what: str
    bounds: tuple[int, int] | None = None

    def accepts(self, value: object) -> bool:
        t = type(value)
        if self.bounds is not None:
            return t is int and self.bounds[0] <= value <= self.bounds[1]  # type: ignore[operator]
        if "boolean" in self.kinds:
            return t is bool
        if "string" in self.kinds:
            return t is str
        return t is float or t is int


def _v2_datatypes() -> dict[str, DatatypeKind]:
    out = {f"FP{b}": DatatypeKind(NUMBER_KINDS, "numbers") for b in (16, 32, 64)}
    for bits in (8, 16, 32, 64):
        out[f"INT{bits}"] = DatatypeKind(
            frozenset({"integer"}), "integers", (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        )
        out[f"UINT{bits}"] = DatatypeKind(frozenset({"integer"}), "integers", (0, 2**bits - 1))
    out["BOOL"] = DatatypeKind(frozenset({"boolean"}), "true or false")
    out["BYTES"] = DatatypeKind(frozenset({"string"}), "strings")
    return out


V2_DATATYPES: Final = _v2_datatypes()


@dataclass(frozen=True, slots=True)
class Tensor:
    """One v2 input tensor, its structure checked."""

    name: str
    shape: tuple[int, ...]
    datatype: str
    data: list[Any]

    @classmethod
    def parse(cls, raw: object, i: int) -> Tensor:
        if type(raw) is not dict:
            raise malformed(f"inputs[{i}] must be a tensor object; got {describe(raw)}.", "inputs")
        name, shape, datatype, data = (raw.get(k) for k in ("name", "shape", "datatype", "data"))
        if type(name) is not str:
            raise malformed(f'inputs[{i}] needs a string "name".', "inputs")
        if (
            type(shape) is not list
            or not shape
            or not all(type(d) is int and d >= 0 for d in shape)
        ):
            raise malformed(f"Input {name!r} needs a shape: a list of sizes such as [1, 4].", name)
        if type(datatype) is not str or datatype not in V2_DATATYPES:
            raise malformed(
                f"Input {name!r} has datatype {describe(datatype)}; use one of "
                f"{', '.join(V2_DATATYPES)}.",
                name,
            )
        if type(data) is not list:
            raise malformed(f'Input {name!r} needs "data": a list of values.', name)
        return cls(name, tuple(shape), datatype, data)

    def flatten(self) -> list[Any]:
        """The elements in row-major order; ``data`` may be flat or nested as the shape."""
        level = self.data
        if len(self.shape) > 1 and level and type(level[0]) is list:
            if len(level) != self.shape[0]:
                raise self._mismatch(len(level))
            for size in self.shape[1:]:
                if not all(type(x) is list and len(x) == size for x in level):
                    raise malformed(
                        f"Input {self.name!r}: the nested data does not have shape "
                        f"{list(self.shape)}.",
                        self.name,
                    )
                level = list(chain.from_iterable(level))
        if len(level) != math.prod(self.shape):
            raise self._mismatch(len(level))
        return level

    def check(self, flat: Sequence[Any] | np.ndarray[Any, Any], width: int) -> None:
        """Every element fits the datatype (nulls pass: the feature decides)."""
        kind = V2_DATATYPES[self.datatype]
        if isinstance(flat, np.ndarray) and _fits(flat, kind):
            return
        for i, v in enumerate(flat):
            if v is not None and not kind.accepts(v):
                raise InvalidInput(
                    f"Input {self.name!r} is {self.datatype}, but element {i} (row {i // width}) "
                    f"is {describe(v)}; {self.datatype} holds {kind.what}"
                    + (f" in [{kind.bounds[0]}, {kind.bounds[1]}]." if kind.bounds else "."),
                    field=self.name,
                    row=i // width,
                    expected=self.datatype,
                )

    def _mismatch(self, got: int) -> InvalidInput:
        return malformed(
            f"Input {self.name!r} has shape {list(self.shape)}, which holds "
            f"{math.prod(self.shape)} values, but its data has {got}.",
            self.name,
        )


def _fits(obj: np.ndarray[Any, Any], kind: DatatypeKind) -> bool:
    found = infer_dtype(obj, skipna=True)
    if found == "empty":
        return True
    if found not in kind.kinds:
        return False
    if kind.bounds is None:
        return True
    try:
        ints = obj[~pd.isna(obj)].astype(np.int64)
    except OverflowError:
        return False
    return bool(kind.bounds[0] <= ints.min() and ints.max() <= kind.bounds[1])


def malformed(message: str, field: str | None = None, row: int | None = None) -> InvalidInput:
    """A malformed request (400)."""
    return InvalidInput(message, field=field, row=row, status=400)
