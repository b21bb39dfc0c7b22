"""Request decoders: a parsed JSON body → the DataFrame a model version takes.

An :class:`InputDecoder` is compiled once per model version from its signature. Every request form
the server speaks (native rows or columns, MLflow scoring JSON and CSV, Open Inference Protocol v2)
ends as a frame with exactly the signature's columns, in its order, with its dtypes (for a model
that takes a float array, rows of a numeric signature stay one array: :class:`FloatRows`) — or as
an :class:`~mlship.errors.InvalidInput` naming the field, the row and the expected type, whose
``status`` is 400 (malformed structure), 422 (a value that does not fit) or 413 (too many rows).
Nothing a body holds raises anything else.

>>> from mlship.registry.model_version import Feature, Signature
>>> sig = Signature((Feature("amount", "float"), Feature("country", "string")), "unknown")
>>> decoder = InputDecoder(sig, DecodeOptions())
>>> decoder.rows([{"amount": 12, "country": "DE"}]).dtypes.amount
dtype('float64')
"""

from __future__ import annotations

import csv
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from mlship.errors import ConfigError, InvalidInput
from mlship.registry.model_version import Signature
from mlship.serving.decode_values import (
    COLUMNS,
    NUMBER_KINDS,
    SMALL,
    Column,
    Tensor,
    describe,
    malformed,
)

__all__ = ["DecodeOptions", "FloatRows", "Frame", "InputDecoder", "as_frame", "concat_frames"]

_NATIVE_FORM: Final = (
    'a JSON object {"inputs": [{"feature": value, ...}, ...]} or '
    '{"columns": ["feature", ...], "data": [[value, ...], ...]}'
)
_NATIVE_KEYS: Final = frozenset({"inputs", "columns", "data", "routing_key"})
_MLFLOW_KEYS: Final = ("dataframe_split", "dataframe_records", "instances", "inputs")
_MLFLOW_FORM: Final = (
    "a JSON object with exactly one of "
    + ", ".join(f'"{k}"' for k in _MLFLOW_KEYS)
    + " (MLflow scoring protocol)"
)
_V2_FORM: Final = (
    'a JSON object {"inputs": [{"name", "shape", "datatype", "data"}, ...]} '
    "(Open Inference Protocol v2)"
)
_V2_MATRIX: Final = "input-0"
"""The name of the one ``[N, F]`` v2 input (MLServer's name for a tabular model's input)."""
_TEXT_PARSED: Final = frozenset({"float", "int", "bool"})
"""The feature families that read a ``BYTES`` element's text as a CSV cell is read."""
_SEQUENCES: Final = frozenset({list, tuple})
_FLOAT_EXACT: Final = 2**53

# pandas' private constructor skips the per-column work of the public one (27 µs instead of 200 µs
# for 20 columns of one row); `_assemble` falls back to the public one if it is gone or changed.
_FROM_ARRAYS: Final[Callable[..., pd.DataFrame] | None] = getattr(
    pd.DataFrame, "_from_arrays", None
)


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """How strict a decoder is.

    ``unknown_features``: ``"reject"`` a field the signature lacks (a 422 naming it) or ``"ignore"``
    it. ``max_batch_rows``: more rows in one request are a 413. ``allow_nan``: the features whose
    training data had missing values; null/NaN anywhere else is a 422.
    """

    unknown_features: Literal["reject", "ignore"] = "reject"
    max_batch_rows: int = 10_000
    allow_nan: frozenset[str] = frozenset()
    float_arrays: bool = False
    """Rows of a numeric signature (float features, and int features without missing values)
    come out as :class:`FloatRows` rather than a DataFrame, for a model that takes a float array:
    pandas 3 takes ~20 µs to build a one-row frame."""

    def __post_init__(self) -> None:
        if self.unknown_features not in ("reject", "ignore"):
            raise ConfigError(
                "The 'unknown_features' option must be 'reject' or 'ignore'. "
                f"Got {self.unknown_features!r} instead."
            )
        rows = self.max_batch_rows
        if type(rows) is not int or rows < 1:
            raise ConfigError(
                f"The 'max_batch_rows' option must be a positive integer. Got {rows!r} instead."
            )
        names = self.allow_nan
        if not isinstance(names, set | frozenset) or not all(isinstance(n, str) for n in names):
            raise ConfigError(
                f"The 'allow_nan' option must be a set of feature names. Got {names!r} instead."
            )
        object.__setattr__(self, "allow_nan", frozenset(names))


@dataclass(frozen=True, slots=True, eq=False)
class FloatRows:
    """Decoded rows of a numeric signature: one float64 array, columns in signature order.

    It answers what the server asks of a decoded frame (``len``, ``columns``, ``to_numpy``) as
    the DataFrame it stands for would; :func:`as_frame` makes that DataFrame (``ints``: the
    positions of the int features, int64 there) where a model or a column selection needs one.

    >>> import numpy as np
    >>> rows = FloatRows(np.array([[1.5, 2.0]]), pd.Index(["a", "n"]), ints=(1,))
    >>> len(rows), list(rows.columns), as_frame(rows)["n"].tolist(), rows.to_numpy(object).tolist()
    (1, ['a', 'n'], [2], [[1.5, 2]])
    """

    values: np.ndarray[Any, np.dtype[np.float64]]
    columns: pd.Index
    ints: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.values)

    def to_numpy(self, dtype: Any = None) -> np.ndarray[Any, Any]:
        if dtype is None or np.dtype(dtype) == np.float64:
            return self.values
        out = self.values.astype(dtype)
        if self.ints and out.dtype == object:  # as a DataFrame gives them: Python ints
            for i in self.ints:
                out[:, i] = self.values[:, i].astype(np.int64)
        return out

    def to_frame(self) -> pd.DataFrame:
        index = pd.RangeIndex(len(self.values))
        frame = pd.DataFrame(self.values, columns=self.columns, index=index, copy=False)
        if self.ints:
            frame = frame.astype({self.columns[i]: np.int64 for i in self.ints})
        return frame


Frame = pd.DataFrame | FloatRows
"""What a decoder returns: a DataFrame, or :class:`FloatRows` with ``float_arrays`` on."""


def as_frame(frame: Frame) -> pd.DataFrame:
    """``frame`` as a DataFrame (built from :class:`FloatRows` if need be)."""
    return frame.to_frame() if isinstance(frame, FloatRows) else frame


def concat_frames(frames: Sequence[Frame]) -> pd.DataFrame:
    """The rows of ``frames``, in order, as one DataFrame (a model that takes DataFrames)."""
    if len(frames) == 1:
        return as_frame(frames[0])
    return pd.concat([as_frame(f) for f in frames], ignore_index=True)


class InputDecoder:
    """Decodes request bodies for one signature (build once per version, reuse; thread-safe).

    Parameters: ``signature``, the version's inputs; ``options``, see :class:`DecodeOptions`.
    """

    __slots__ = (
        "_all_float",
        "_arrays",
        "_columns",
        "_index",
        "_ints",
        "_max_rows",
        "_name_set",
        "_names",
        "_options",
        "_pick",
        "_reject",
        "_signature",
        "_width",
    )

    def __init__(self, signature: Signature, options: DecodeOptions) -> None:
        features = signature.features
        if not features:
            raise ConfigError(
                "The signature has no features, so requests cannot be checked; register the "
                "model with its training data."
            )
        names = tuple(f.name for f in features)
        if len(set(names)) != len(names):
            raise ConfigError(f"The signature names a feature twice: {', '.join(names)}.")
        unknown = sorted({f.dtype for f in features} - COLUMNS.keys())
        if unknown:
            raise ConfigError(
                f"Unknown dtype(s) {', '.join(unknown)} in the signature; "
                f"known: {', '.join(COLUMNS)}."
            )
        self._signature = signature
        self._options = options
        self._names = names
        self._name_set = frozenset(names)
        self._width = len(names)
        self._index = pd.Index(names)
        self._columns: tuple[Column, ...] = tuple(
            COLUMNS[f.dtype](f.name, f.name in options.allow_nan) for f in features
        )
        self._all_float = all(f.dtype == "float" for f in features)
        self._arrays = options.float_arrays and all(
            f.dtype == "float" or (f.dtype == "int" and f.name not in options.allow_nan)
            for f in features
        )
        self._ints = tuple(i for i, f in enumerate(features) if f.dtype == "int")
        self._pick = _tuple_getter(names)
        self._reject = options.unknown_features == "reject"
        self._max_rows = options.max_batch_rows

    @property
    def signature(self) -> Signature:
        return self._signature

    @property
    def options(self) -> DecodeOptions:
        return self._options

    @property
    def v2_matrix_input(self) -> str:
        """The name of the one ``[N, F]`` v2 input tensor: ``input-0``, with ``_`` appended while
        a feature has that name (a tensor named after a feature is that feature's)."""
        name: str = _V2_MATRIX
        while name in self._name_set:
            name += "_"
        return name

    # ------------------------------------------------------------------------------ entry points

    def rows(self, records: list[dict[str, Any]]) -> Frame:
        """Rows as objects: native ``{"inputs": [...]}``, MLflow ``dataframe_records``."""
        if type(records) is not list:
            raise malformed(f"The rows must be a list of objects; got {describe(records)}.")
        n = len(records)
        self._check_count(n)
        try:  # a missing key, or a row that is no object
            if n > SMALL:
                matrix = self._matrix(map(self._pick, records), n)
            else:
                picked = list(map(self._pick, records))
        except (KeyError, TypeError, IndexError):
            raise self._record_problem(records) from None
        if self._reject and max(map(len, records)) != self._width:
            raise self._record_problem(records)
        return self._from_matrix(matrix) if n > SMALL else self._from_rows(picked)

    def columns(self, columns: list[str] | None, data: list[list[Any]]) -> Frame:
        """Rows as lists under named columns (native, MLflow ``dataframe_split``); ``columns``
        None means bare rows in signature order."""
        if type(data) is not list:
            raise malformed(f'"data" must be a list of rows; got {describe(data)}.', field="data")
        self._check_count(len(data))
        if columns is None:
            self._check_widths(data, self._width)
            return self._from_rows(data)
        positions = self._positions(columns)
        self._check_widths(data, len(columns))
        if positions == list(range(self._width)) and len(columns) == self._width:
            return self._from_rows(data)
        pick = _tuple_getter(positions)
        if len(data) > SMALL:
            return self._from_matrix(self._matrix(map(pick, data), len(data)))
        return self._from_rows(list(map(pick, data)))

    def native(self, body: object) -> tuple[Frame, str | None]:
        """mlship's own body; returns the frame and the optional ``routing_key``."""
        if type(body) is not dict:
            raise malformed(f"The request body must be {_NATIVE_FORM}; got {describe(body)}.")
        key = body.get("routing_key")
        if key is not None and type(key) is not str:
            raise malformed(f'"routing_key" must be a string; got {describe(key)}.', "routing_key")
        extra = sorted(map(str, body.keys() - _NATIVE_KEYS))
        if extra:
            raise malformed(f"Unknown key(s) {', '.join(extra)}; the body must be {_NATIVE_FORM}.")
        if "inputs" in body:
            if "data" in body or "columns" in body:
                raise malformed(f'Send "inputs" or "columns" and "data", not both: {_NATIVE_FORM}.')
            if type(body["inputs"]) is not list:
                raise malformed('"inputs" must be a list of row objects.', "inputs")
            return self.rows(body["inputs"]), key
        if "data" in body:
            return self.columns(body.get("columns"), body["data"]), key
        raise malformed(f"The request body must be {_NATIVE_FORM}.")

    def mlflow(self, body: object) -> Frame:
        """MLflow scoring JSON (``/invocations``); ``params`` and other keys are ignored."""
        keys = [k for k in _MLFLOW_KEYS if k in body] if type(body) is dict else []
        if type(body) is not dict or len(keys) != 1:
            got = f"keys {sorted(map(str, body))}" if type(body) is dict else describe(body)
            raise malformed(f"The request body must be {_MLFLOW_FORM}; got {got}.")
        key = keys[0]
        value = body[key]
        if key == "dataframe_split":
            if type(value) is not dict or "data" not in value:
                raise malformed(
                    '"dataframe_split" must be an object {"columns": [...], "data": [[...]]} '
                    "(pandas orient='split').",
                    key,
                )
            return self.columns(value.get("columns"), value["data"])
        if key == "inputs" and type(value) is dict:
            return self._mapping(value)
        if type(value) is not list:
            raise malformed(f'"{key}" must be a list of rows; got {describe(value)}.', key)
        if key == "dataframe_records" or (value and type(value[0]) is dict):
            return self.rows(value)
        self._check_count(len(value))
        if type(value[0]) in _SEQUENCES:
            return self.columns(None, value)
        if self._width == 1:
            return self._from_columns([value], len(value))
        raise malformed(
            f'"{key}" holds single values, which fits only a model with one feature; this one '
            f"has {self._width}. Send rows as objects or lists.",
            key,
        )

    def mlflow_csv(self, text: str) -> Frame:
        """MLflow ``text/csv``: a header row of feature names is optional (else signature order)."""
        if type(text) is not str:
            raise malformed(f"The CSV body must be text; got {describe(text)}.")
        # Rows are counted as they are parsed: a 10 MB body of short rows is millions of lists,
        # refused once the header and one row more than the limit are read.
        table: list[list[str]] = []
        try:
            for row in csv.reader(_lines(text)):
                if row:
                    table.append(row)
                    if len(table) > self._max_rows + 1:
                        break
        except csv.Error as exc:
            raise malformed(f"The CSV body cannot be parsed: {exc}.") from None
        if len(table) > self._max_rows + 1:
            raise InvalidInput(
                f"The request has more than the {self._max_rows} rows accepted at once; split "
                "it into smaller requests.",
                status=413,
            )
        columns: list[str] | None = None
        if table and any(cell in self._name_set for cell in table[0]):
            columns, table = table[0], table[1:]
        self._check_count(len(table))
        positions = self._positions(columns) if columns is not None else range(self._width)
        self._check_widths(table, self._width if columns is None else len(columns))
        cells = [[row[p] for row in table] for p in positions]
        return self._from_columns(
            [col.parse_csv(c) for col, c in zip(self._columns, cells, strict=True)], len(table)
        )

    def v2(self, body: object) -> tuple[Frame, dict[str, Any]]:
        """An Open Inference Protocol v2 inference request: one ``[N, F]`` tensor named
        :attr:`v2_matrix_input` (features in signature order; ``BYTES`` elements are text, which
        number and boolean features parse as CSV cells are parsed), or one ``[N]``/``[N, 1]``
        tensor per feature, named after it. Any other name is a 400 naming the accepted ones.
        Returns the frame and ``{"id": ..., "outputs": [names]}`` (each key only when the request
        has it)."""
        if type(body) is not dict:
            raise malformed(f"The request body must be {_V2_FORM}; got {describe(body)}.")
        meta: dict[str, Any] = {}
        if body.get("id") is not None:
            if type(body["id"]) is not str:
                raise malformed(f'"id" must be a string; got {describe(body["id"])}.', "id")
            meta["id"] = body["id"]
        if body.get("parameters") is not None and type(body["parameters"]) is not dict:
            raise malformed('"parameters" must be an object.', "parameters")
        if body.get("outputs") is not None:
            meta["outputs"] = _output_names(body["outputs"])
        raw = body.get("inputs")
        if type(raw) is not list or not raw:
            raise malformed(f'"inputs" must be a non-empty list of tensors: {_V2_FORM}.', "inputs")
        tensors = [Tensor.parse(t, i) for i, t in enumerate(raw)]
        by_name = {t.name: t for t in tensors}
        if len(by_name) != len(tensors):
            twice = next(t.name for t in tensors if by_name[t.name] is not t)
            raise malformed(f"Two input tensors are named {twice!r}.", twice)
        matrix = self.v2_matrix_input
        if matrix in by_name:
            if len(tensors) > 1:
                others = [t.name for t in tensors if t.name != matrix]
                raise malformed(
                    f"Send {matrix!r} (all the features in one [N, {self._width}] tensor) alone "
                    f"or one tensor per feature, not both; the request also has {_quoted(others)}.",
                    others[0],
                )
            return self._v2_matrix(by_name[matrix]), meta
        return self._v2_features(by_name), meta

    # ------------------------------------------------------------------------------- structure

    def _check_count(self, n: int) -> None:
        if n == 0:
            raise InvalidInput("The request has no rows; send at least one.", status=400)
        if n > self._max_rows:
            raise InvalidInput(
                f"The request has {n} rows, more than the {self._max_rows} accepted at once; "
                "split it into smaller requests.",
                status=413,
            )

    def _check_widths(self, data: Sequence[Any], width: int) -> None:
        """Every row a list of ``width`` values (400 naming the first that is not)."""
        if set(map(type, data)) <= _SEQUENCES and set(map(len, data)) == {width}:
            return
        for row, values in enumerate(data):
            if type(values) not in _SEQUENCES:
                raise malformed(
                    f"Row {row} must be a list of values; got {describe(values)}.", row=row
                )
            if len(values) != width:
                raise malformed(
                    f"Row {row} has {len(values)} values; expected {width}, one per column "
                    f"({self._listing(width)}).",
                    row=row,
                )

    def _positions(self, columns: object) -> list[int]:
        """For each feature, its position among ``columns`` (checked: names, no duplicates)."""
        if type(columns) is not list or not all(type(c) is str for c in columns):
            raise malformed(f'"columns" must be a list of feature names; got {describe(columns)}.')
        where = {c: i for i, c in enumerate(columns)}
        if len(where) != len(columns):
            twice = next(c for i, c in enumerate(columns) if where[c] != i)
            raise malformed(f"Column {twice!r} is named twice.", field=twice)
        missing = [n for n in self._names if n not in where]
        unknown = [c for c in columns if c not in self._name_set] if self._reject else []
        if missing or unknown:
            raise self._fields_problem(missing, unknown, None)
        return [where[n] for n in self._names]

    def _mapping(self, mapping: dict[str, Any]) -> Frame:
        """Columns as ``{feature: [values]}`` (MLflow ``inputs`` in TF's columnar form)."""
        missing = [n for n in self._names if n not in mapping]
        unknown = [k for k in mapping if k not in self._name_set] if self._reject else []
        if missing or unknown:
            raise self._fields_problem(missing, unknown, None)
        cols = [mapping[n] for n in self._names]
        for name, values in zip(self._names, cols, strict=True):
            if type(values) is not list:
                raise malformed(f"Feature {name!r} must be a list with one value per row.", name)
            if len(values) != len(cols[0]):
                raise malformed(
                    f"Feature {name!r} has {len(values)} values but {self._names[0]!r} has "
                    f"{len(cols[0])}; every column needs one value per row.",
                    name,
                )
        self._check_count(len(cols[0]))
        return self._from_columns(cols, len(cols[0]))

    def _record_problem(self, records: list[Any]) -> InvalidInput:
        """The first row that is not an object with exactly the signature's features."""
        for row, record in enumerate(records):
            if type(record) is not dict:
                return malformed(
                    f"Row {row} must be an object of feature values; got {describe(record)}.",
                    row=row,
                )
            missing = [n for n in self._names if n not in record]
            unknown = [k for k in record if k not in self._name_set] if self._reject else []
            if missing or unknown:
                return self._fields_problem(missing, unknown, row)
        # Not reached: callers come here only after seeing a problem.
        return malformed("The rows do not fit the signature.")

    def _fields_problem(
        self, missing: list[str], unknown: list[Any], row: int | None
    ) -> InvalidInput:
        parts = []
        if missing:
            parts.append(f"lacks feature(s) {_quoted(missing)}")
        if unknown:
            parts.append(f"has unknown feature(s) {_quoted(unknown)}")
        where = "The request" if row is None else f"Row {row}"
        field = missing[0] if missing else str(unknown[0])
        expected = self._columns[self._names.index(field)].family if missing else None
        return InvalidInput(
            f"{where} {' and '.join(parts)}. The model takes {self._listing(self._width)}.",
            field=field,
            row=row,
            expected=expected,
        )

    def _listing(self, width: int) -> str:
        if width != self._width:
            return f"{width} columns"
        shown = [f"{c.name} ({c.family})" for c in self._columns[:12]]
        more = f" and {self._width - 12} more" if self._width > 12 else ""
        return ", ".join(shown) + more

    # -------------------------------------------------------------------------------------- v2

    def _v2_matrix(self, tensor: Tensor) -> Frame:
        width, shape = self._width, tensor.shape
        if not (len(shape) == 2 and shape[1] == width) and not (len(shape) == 1 and width == 1):
            raise malformed(
                f"Input {tensor.name!r} has shape {list(shape)}; it must have shape "
                f"[N, {width}] with the features in this order: {self._listing(width)}. "
                "Or send one tensor per feature, named after it.",
                tensor.name,
            )
        n = shape[0]
        self._check_count(n)
        flat = tensor.flatten()
        text = tensor.datatype == "BYTES"
        if n <= SMALL:
            tensor.check(flat, width)
            if text:
                return self._v2_text(flat, n)
            return self._from_rows([flat[i * width : (i + 1) * width] for i in range(n)])
        obj = np.fromiter(flat, dtype=object, count=len(flat))
        tensor.check(obj, width)
        if text:
            return self._v2_text(obj, n)
        return self._from_matrix(obj.reshape(n, width))

    def _v2_text(self, values: Sequence[Any] | np.ndarray[Any, Any], n: int) -> Frame:
        """A ``BYTES`` matrix (what a mixed signature's metadata asks for): every element is text
        (tritonclient sends ``str(value)`` of an object array), which a number or boolean feature
        parses as a CSV cell (``"12.5"``, ``"3"``, ``"True"``; null or ``""`` is missing) and the
        other features take as it is."""
        cols: list[Any] = []
        for j, column in enumerate(self._columns):
            cells = list(values[j :: self._width])
            if column.family in _TEXT_PARSED:
                cells = column.parse_csv(["" if c is None else c for c in cells])
            cols.append(cells)
        return self._from_columns(cols, n)

    def _v2_features(self, tensors: dict[str, Tensor]) -> Frame:
        unknown = [k for k in tensors if k not in self._name_set]
        if unknown and (self._reject or len(unknown) == len(tensors)):
            matrix, width = self.v2_matrix_input, self._width
            raise malformed(
                f"Unknown input tensor(s) {_quoted(unknown)}. The model takes {matrix!r}, one "
                f"[N, {width}] tensor with the features in this order, or one [N] tensor per "
                f"feature, named after it: {self._listing(width)}.",
                unknown[0],
            )
        for name in (n for n in self._names if n in tensors):
            shape = tensors[name].shape
            if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
                hint = (
                    f" The [N, {self._width}] tensor of all the features is "
                    f"{self.v2_matrix_input!r}."
                    if len(shape) == 2 and shape[1] == self._width
                    else ""
                )
                raise malformed(
                    f"Input {name!r} has shape {list(shape)}; a tensor per feature must have "
                    f"shape [N] or [N, 1].{hint}",
                    name,
                )
        missing = [n for n in self._names if n not in tensors]
        if missing:
            raise self._fields_problem(missing, [], None)
        first = tensors[self._names[0]].shape[:1]
        for name in self._names:
            shape = tensors[name].shape
            if shape[:1] != first:
                raise malformed(
                    f"Input {name!r} has {shape[0]} rows but {self._names[0]!r} has {first[0]}; "
                    "all inputs need the same N.",
                    name,
                )
        self._check_count(first[0])
        cols = []
        for name in self._names:
            flat = tensors[name].flatten()
            tensors[name].check(flat, 1)
            cols.append(flat)
        return self._from_columns(cols, first[0])

    # ------------------------------------------------------------------------------------ core

    def _from_rows(self, rows: Sequence[Sequence[Any]]) -> Frame:
        """Rows checked to be sequences of the signature's width, in signature order."""
        n = len(rows)
        if n > SMALL:
            return self._from_matrix(self._matrix(rows, n))
        if self._all_float and _plain_numbers(rows):
            try:
                return self._float_frame(np.array(rows, dtype=np.float64))
            except OverflowError:
                pass  # an integer beyond float64: the column converter names it
        return self._from_columns(list(zip(*rows, strict=True)), n)

    def _matrix(self, rows: Iterable[Sequence[Any]], n: int) -> np.ndarray[Any, Any]:
        """The rows as an (n, width) object array; rows made on the fly are freed at once, so
        10,000 of them do not set off the garbage collector."""
        flat = np.fromiter(chain.from_iterable(rows), dtype=object, count=n * self._width)
        return flat.reshape(n, self._width)

    def _from_matrix(self, obj: np.ndarray[Any, Any]) -> Frame:
        """An (n, width) object array of values in signature order."""
        if self._all_float and infer_dtype(obj.ravel(), skipna=False) in NUMBER_KINDS:
            try:
                values = obj.astype(np.float64)
            except (OverflowError, TypeError, ValueError):
                values = None
            if values is not None and not np.isnan(values).any():
                return self._float_frame(values)
        return self._from_columns([obj[:, j] for j in range(self._width)], len(obj))

    def _from_columns(self, cols: Sequence[Any], n: int) -> Frame:
        arrays = [c.convert(v) for c, v in zip(self._columns, cols, strict=True)]
        return self._assemble(arrays, n)

    def _assemble(self, arrays: list[Any], n: int) -> Frame:
        if self._arrays and not self._all_float and _exact_in_float(arrays, self._ints):
            values = np.column_stack(arrays).astype(np.float64, copy=False)
            return FloatRows(values, self._index, self._ints)
        if self._all_float:
            return self._float_frame(np.column_stack(arrays))
        if _FROM_ARRAYS is not None:
            try:
                return _FROM_ARRAYS(
                    arrays, columns=self._index, index=pd.RangeIndex(n), verify_integrity=False
                )
            except TypeError:
                pass  # a pandas whose private constructor changed: use the public one
        index = pd.RangeIndex(n)
        series = {  # a dtype given keeps pandas 3 from turning object strings into ``str``
            name: pd.Series(a, index=index, dtype=a.dtype, copy=False)
            for name, a in zip(self._names, arrays, strict=True)
        }
        return pd.DataFrame(series, copy=False)

    def _float_frame(self, values: np.ndarray[Any, Any]) -> Frame:
        if self._arrays:
            return FloatRows(values, self._index)
        index = pd.RangeIndex(len(values))
        return pd.DataFrame(values, columns=self._index, index=index, copy=False)


def _output_names(outputs: object) -> list[str]:
    if type(outputs) is not list or not all(
        type(o) is dict and type(o.get("name")) is str for o in outputs
    ):
        raise malformed('"outputs" must be a list of objects with a "name".', "outputs")
    return [o["name"] for o in outputs]


def _exact_in_float(arrays: list[Any], ints: tuple[int, ...]) -> bool:
    """Whether the int columns' values survive float64 (within ±2**53) unchanged."""
    for i in ints:
        column = arrays[i]
        if len(column) and (column.max() > _FLOAT_EXACT or column.min() < -_FLOAT_EXACT):
            return False
    return True


def _plain_numbers(rows: Sequence[Sequence[Any]]) -> bool:
    """Whether every value is an int or a non-NaN float (the float fast path)."""
    for row in rows:
        for v in row:
            t = type(v)
            if t is float:
                if v != v:
                    return False
            elif t is not int:
                return False
    return True


def _tuple_getter(keys: Sequence[Any]) -> Callable[[Any], tuple[Any, ...]]:
    """``itemgetter`` that returns a tuple even for one key."""
    if len(keys) == 1:
        key = keys[0]
        return lambda item: (item[key],)
    return operator.itemgetter(*keys)


def _quoted(names: Sequence[Any]) -> str:
    shown = ", ".join(repr(n) for n in names[:10])
    return shown + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def _lines(text: str) -> Iterator[str]:
    """The lines of ``text`` with their ends, one at a time (a ``StringIO`` of a 10 MB body is a
    40 MB copy); a text without ``\n`` is split at ``\r``."""
    end_of_line = "\n" if "\n" in text or "\r" not in text else "\r"
    start = 0
    while start < len(text):
        end = text.find(end_of_line, start)
        if end < 0:
            yield text[start:]
            return
        yield text[start : end + 1]
        start = end + 1
