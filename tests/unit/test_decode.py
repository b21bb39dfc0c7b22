"""Request decoders: every form gives the same frame; every bad input a located InvalidInput."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlship.errors import ConfigError, InvalidInput
from mlship.registry.model_version import Feature, Signature
from mlship.serving import decode
from mlship.serving.decode import DecodeOptions, FloatRows, InputDecoder, as_frame
from mlship.serving.decode_values import SMALL

MIXED = Signature(
    (
        Feature("amount", "float"),
        Feature("hour", "int"),
        Feature("flag", "bool"),
        Feature("country", "string"),
        Feature("segment", "category"),
        Feature("seen", "datetime"),
    ),
    "classification",
)
NAMES = MIXED.feature_names
FLOATS = Signature(tuple(Feature(f"f{i}", "float") for i in range(20)), "regression")
FNAMES = FLOATS.feature_names
SIZES = [1, 5, SMALL + 1, 1000]
"""Batch sizes on both sides of the Python/vectorized switch."""

Decoder = Callable[..., InputDecoder]


def decoder(signature: Signature = MIXED, **options: Any) -> InputDecoder:
    if "allow_nan" in options:
        options["allow_nan"] = frozenset(options["allow_nan"])
    return InputDecoder(signature, DecodeOptions(**options))


def mixed_rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Seeded JSON-like rows for MIXED (some amounts are JSON integers)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        amount = float(rng.gamma(2.0, 30.0)) if i % 3 else int(rng.integers(0, 500))
        rows.append(
            {
                "amount": amount,
                "hour": int(rng.integers(0, 24)),
                "flag": bool(rng.integers(0, 2)),
                "country": str(rng.choice(["DE", "FR", "US"])),
                "segment": str(rng.choice(["gold", "silver"])),
                "seen": f"2024-0{1 + i % 9}-1{i % 10}T0{i % 10}:30:00",
            }
        )
    return rows


def mixed_expected(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The frame the rows stand for, built with plain pandas."""
    segments = [r["segment"] for r in rows]
    return pd.DataFrame(
        {
            "amount": np.array([r["amount"] for r in rows], dtype=np.float64),
            "hour": np.array([r["hour"] for r in rows], dtype=np.int64),
            "flag": np.array([r["flag"] for r in rows], dtype=bool),
            "country": pd.Series([r["country"] for r in rows], dtype=object),
            "segment": pd.Categorical(
                segments, categories=pd.Index(sorted(set(segments)), dtype=object)
            ),
            "seen": pd.Series([datetime.fromisoformat(r["seen"]) for r in rows]),
        }
    )


def float_rows(n: int, seed: int = 1) -> list[list[float]]:
    return np.random.default_rng(seed).normal(size=(n, len(FNAMES))).tolist()


def to_csv(header: list[str] | None, data: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    if header is not None:
        writer.writerow(header)
    for row in data:
        writer.writerow(["true" if v is True else "false" if v is False else v for v in row])
    return out.getvalue()


def lists(rows: list[dict[str, Any]], names: list[str]) -> list[list[Any]]:
    return [[r[n] for n in names] for r in rows]


_V2_TYPES = {"amount": "FP64", "hour": "INT64", "flag": "BOOL"}


def v2_per_feature(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One ``[N]`` tensor per feature of MIXED, named after it."""
    return [
        {"name": n, "shape": [len(rows)], "datatype": _V2_TYPES.get(n, "BYTES"), "data": list(v)}
        for n, v in zip(NAMES, zip(*lists(rows, NAMES), strict=True), strict=True)
    ]


def v2_text(rows: list[dict[str, Any]], name: str = "input-0") -> dict[str, Any]:
    """The rows as one ``[N, F]`` BYTES tensor, each element ``str(value)``: what tritonclient
    sends for an object array (``set_data_from_numpy(..., binary_data=False)``)."""
    data = [None if v is None else str(v) for row in lists(rows, NAMES) for v in row]
    return {"name": name, "shape": [len(rows), len(NAMES)], "datatype": "BYTES", "data": data}


MIXED_FORMS: dict[str, Callable[[InputDecoder, list[dict[str, Any]]], pd.DataFrame]] = {
    "rows": lambda d, r: d.rows(r),
    "native inputs": lambda d, r: d.native({"inputs": r, "routing_key": "user-1"})[0],
    "native columns": lambda d, r: d.native({"columns": NAMES, "data": lists(r, NAMES)})[0],
    "native columns, other order": lambda d, r: d.native(
        {"columns": NAMES[::-1], "data": lists(r, NAMES[::-1])}
    )[0],
    "native bare rows": lambda d, r: d.native({"data": lists(r, NAMES)})[0],
    "mlflow dataframe_split": lambda d, r: d.mlflow(
        {
            "dataframe_split": {
                "index": list(range(len(r))),
                "columns": NAMES[::-1],
                "data": lists(r, NAMES[::-1]),
            }
        }
    ),
    "mlflow dataframe_split without columns": lambda d, r: d.mlflow(
        {"dataframe_split": {"data": lists(r, NAMES)}}
    ),
    "mlflow dataframe_records": lambda d, r: d.mlflow({"dataframe_records": r, "params": {}}),
    "mlflow instances of objects": lambda d, r: d.mlflow({"instances": r}),
    "mlflow instances of lists": lambda d, r: d.mlflow({"instances": lists(r, NAMES)}),
    "mlflow inputs of columns": lambda d, r: d.mlflow(
        {"inputs": {n: [row[n] for row in r] for n in NAMES[::-1]}}
    ),
    "mlflow inputs of objects": lambda d, r: d.mlflow({"inputs": r}),
    "mlflow inputs of lists": lambda d, r: d.mlflow({"inputs": lists(r, NAMES)}),
    "mlflow csv with header": lambda d, r: d.mlflow_csv(to_csv(NAMES[::-1], lists(r, NAMES[::-1]))),
    "mlflow csv without header": lambda d, r: d.mlflow_csv(to_csv(None, lists(r, NAMES))),
    "v2 tensor per feature": lambda d, r: d.v2(
        {
            "inputs": [
                {
                    "name": n,
                    "shape": [len(r)] if i % 2 else [len(r), 1],
                    "datatype": _V2_TYPES.get(n, "BYTES"),
                    "data": [row[n] for row in r] if i % 2 else [[row[n]] for row in r],
                }
                for i, n in enumerate(NAMES)
            ]
        }
    )[0],
    "v2 one tensor of text": lambda d, r: d.v2({"inputs": [v2_text(r)]})[0],
}


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("form", MIXED_FORMS)
def test_every_form_decodes_to_the_same_frame(form: str, n: int) -> None:
    rows = mixed_rows(n)
    frame = MIXED_FORMS[form](decoder(), rows)
    pd.testing.assert_frame_equal(frame, mixed_expected(rows))


FLOAT_FORMS: dict[str, Callable[[InputDecoder, list[list[float]]], pd.DataFrame]] = {
    "rows": lambda d, r: d.rows([dict(zip(FNAMES, row, strict=True)) for row in r]),
    "columns": lambda d, r: d.columns(FNAMES, r),
    "columns, other order": lambda d, r: d.columns(FNAMES[::-1], [row[::-1] for row in r]),
    "bare rows": lambda d, r: d.columns(None, r),
    "mlflow inputs of lists": lambda d, r: d.mlflow({"inputs": r}),
    "mlflow csv": lambda d, r: d.mlflow_csv(to_csv(FNAMES, r)),
    "v2 one flat tensor": lambda d, r: d.v2(
        {
            "inputs": [
                {
                    "name": "input-0",
                    "shape": [len(r), 20],
                    "datatype": "FP32",
                    "data": [v for row in r for v in row],
                }
            ]
        }
    )[0],
    "v2 one nested tensor": lambda d, r: d.v2(
        {"inputs": [{"name": "input-0", "shape": [len(r), 20], "datatype": "FP64", "data": r}]}
    )[0],
    "v2 tensor per feature": lambda d, r: d.v2(
        {
            "inputs": [
                {"name": n, "shape": [len(r)], "datatype": "FP64", "data": [row[j] for row in r]}
                for j, n in enumerate(FNAMES)
            ]
        }
    )[0],
}


@pytest.mark.parametrize("arrays", [False, True], ids=["frame", "float_arrays"])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("form", FLOAT_FORMS)
def test_every_form_decodes_floats_to_the_same_frame(form: str, n: int, arrays: bool) -> None:
    """With ``float_arrays`` (a model that takes a float array) the rows stay one array, with
    the same values, in signature order, as the DataFrame would have."""
    rows = float_rows(n)
    frame = FLOAT_FORMS[form](decoder(FLOATS, float_arrays=arrays), rows)
    assert (type(frame) is FloatRows) is arrays
    expected = pd.DataFrame(np.array(rows), columns=FNAMES)
    pd.testing.assert_frame_equal(as_frame(frame), expected)
    assert np.array_equal(frame.to_numpy(dtype=np.float64), expected.to_numpy())


NUMERIC = Signature(
    (Feature("amount", "float"), Feature("hour", "int"), Feature("count", "int")), "regression"
)


@pytest.mark.parametrize("n", SIZES)
def test_float_arrays_of_a_numeric_signature_stand_for_its_frame(n: int) -> None:
    """Int features join the float array; as a frame (or as JSON-able values) they are ints
    again, exactly what the DataFrame path gives."""
    rng = np.random.default_rng(3)
    rows = [
        {"amount": float(a), "hour": int(h), "count": int(c)}
        for a, h, c in zip(
            rng.normal(size=n), rng.integers(0, 24, n), rng.integers(-5, 2**40, n), strict=True
        )
    ]
    expected = decoder(NUMERIC).rows(rows)
    got = decoder(NUMERIC, float_arrays=True).rows(rows)
    assert type(got) is FloatRows
    pd.testing.assert_frame_equal(as_frame(got), expected)
    assert got.to_numpy(dtype=object).tolist() == expected.to_numpy(dtype=object).tolist()
    assert np.array_equal(got.to_numpy(dtype=np.float64), expected.to_numpy(dtype=np.float64))


def test_ints_that_float64_cannot_hold_keep_their_frame() -> None:
    rows = [{"amount": 1.0, "hour": 3, "count": 2**53 + 1}]
    got = decoder(NUMERIC, float_arrays=True).rows(rows)
    assert type(got) is pd.DataFrame
    assert got["count"].tolist() == [2**53 + 1]


def test_int_features_with_missing_values_keep_their_frame() -> None:
    """A nullable int column has no float array form that gives it back: it stays a frame."""
    got = decoder(NUMERIC, float_arrays=True, allow_nan={"hour"}).rows(
        [{"amount": 1.0, "hour": None, "count": 2}]
    )
    assert type(got) is pd.DataFrame


def test_float_arrays_leave_other_signatures_as_frames() -> None:
    """Only an all-float signature becomes one array; mixed types need their DataFrame."""
    rows = mixed_rows(3)
    frame = decoder(float_arrays=True).rows(rows)
    assert type(frame) is pd.DataFrame
    pd.testing.assert_frame_equal(frame, mixed_expected(rows))


def test_batch_of_10000_rows_decodes() -> None:
    rows = float_rows(10_000)
    records = [dict(zip(FNAMES, row, strict=True)) for row in rows]
    frame, key = decoder(FLOATS).native({"inputs": records})
    assert key is None
    np.testing.assert_array_equal(frame.to_numpy(), np.array(rows))


@pytest.mark.parametrize("n", [1, SMALL + 1])
def test_public_frame_constructor_gives_the_same_frame(
    n: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Check that the fast private pandas constructor and the public fallback agree."""
    rows = mixed_rows(n)
    fast = decoder().rows(rows)
    monkeypatch.setattr(decode, "_FROM_ARRAYS", None)
    pd.testing.assert_frame_equal(decoder().rows(rows), fast)


@pytest.mark.parametrize("n", SIZES[:3])
def test_json_values_are_converted_to_the_feature_types(n: int) -> None:
    rows = [
        {
            "amount": 3,
            "hour": 4.0,
            "flag": False,
            "country": 49,
            "segment": 1.5,
            "seen": "2024-05-01T12:00:00+02:00",
        }
    ] * n
    frame = decoder().rows(rows)
    assert frame.loc[0, "amount"] == 3.0
    assert frame.loc[0, "hour"] == 4
    assert frame.loc[0, "country"] == "49"
    assert frame.loc[0, "segment"] == "1.5"
    assert frame.loc[0, "seen"] == pd.Timestamp("2024-05-01T10:00:00")
    assert list(frame.dtypes)[:3] == [np.float64, np.int64, np.bool_]


@pytest.mark.parametrize("n", SIZES[:3])
def test_missing_values_pass_where_the_training_data_had_them(n: int) -> None:
    row: dict[str, Any] = dict.fromkeys(NAMES)
    rows = [row, *mixed_rows(n - 1)] if n > 1 else [row]
    frame = decoder(allow_nan=NAMES).rows(rows)
    assert frame.iloc[0].isna().all()
    assert str(frame.dtypes["hour"]) == "Int64"
    assert str(frame.dtypes["flag"]) == "boolean"
    assert frame.dtypes["amount"] == np.float64
    if n > 1:
        expected = mixed_expected(rows[1:])
        assert frame["hour"].iloc[1:].astype(np.int64).tolist() == expected["hour"].tolist()
        assert frame["country"].iloc[1:].tolist() == expected["country"].tolist()


@pytest.mark.parametrize("n", [1, SMALL + 1])
def test_nan_in_an_all_float_signature(n: int) -> None:
    rows = float_rows(n)
    rows[-1][3] = None
    frame = decoder(FLOATS, allow_nan={"f3"}).columns(None, rows)
    assert math.isnan(frame.iloc[-1, 3])
    with pytest.raises(InvalidInput) as err:
        decoder(FLOATS, allow_nan={"f4"}).columns(None, rows)
    assert (err.value.status, err.value.field, err.value.row) == (422, "f3", n - 1)
    rows[-1][3] = float("nan")
    with pytest.raises(InvalidInput) as err:
        decoder(FLOATS).columns(None, rows)
    assert (err.value.status, err.value.field, err.value.row) == (422, "f3", n - 1)
    assert "training data had no missing values" in err.value.message


def test_unknown_features_are_ignored_when_asked() -> None:
    rows = [dict(r, extra=1) for r in mixed_rows(3)]
    d = decoder(unknown_features="ignore")
    pd.testing.assert_frame_equal(d.rows(rows), mixed_expected(mixed_rows(3)))
    names = [*NAMES, "extra"]
    pd.testing.assert_frame_equal(d.columns(names, lists(rows, names)), mixed_expected(rows))


def test_unknown_tensors_next_to_the_features_are_ignored_when_asked() -> None:
    """Check that ``unknown_features="ignore"`` drops an extra tensor next to the feature
    tensors, but a request of unknown tensors only is still refused."""
    rows = mixed_rows(2)
    d = decoder(unknown_features="ignore")
    extra = {"name": "zip", "shape": [2], "datatype": "INT64", "data": [1, 2]}
    frame, _ = d.v2({"inputs": [*v2_per_feature(rows), extra]})
    pd.testing.assert_frame_equal(frame, mixed_expected(rows))
    with pytest.raises(InvalidInput) as err:
        d.v2({"inputs": [v2_text(rows, name="x")]})
    assert (err.value.status, err.value.field) == (400, "x")


def test_the_matrix_input_gives_way_to_a_feature_of_its_name() -> None:
    """Check that a feature named ``input-0`` keeps its name: the ``[N, F]`` tensor becomes
    ``input-0_``."""
    d = decoder(Signature((Feature("input-0", "float"), Feature("b", "int")), "regression"))
    assert d.v2_matrix_input == "input-0_"
    expected = pd.DataFrame({"input-0": [1.5, 2.0], "b": [3, 4]})
    matrix = {"name": "input-0_", "shape": [2, 2], "datatype": "FP64", "data": [1.5, 3, 2, 4]}
    pd.testing.assert_frame_equal(d.v2({"inputs": [matrix]})[0], expected)
    per_feature = [
        {"name": "input-0", "shape": [2], "datatype": "FP64", "data": [1.5, 2]},
        {"name": "b", "shape": [2, 1], "datatype": "INT64", "data": [[3], [4]]},
    ]
    pd.testing.assert_frame_equal(d.v2({"inputs": per_feature})[0], expected)
    assert decoder().v2_matrix_input == "input-0"


def test_native_returns_the_routing_key_and_v2_the_request_meta() -> None:
    rows = mixed_rows(1)
    assert decoder().native({"inputs": rows, "routing_key": "u-7"})[1] == "u-7"
    body = {
        "id": "42",
        "parameters": {"x": 1},
        "inputs": [
            {"name": "input-0", "shape": [1, 20], "datatype": "FP32", "data": float_rows(1)[0]}
        ],
        "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
    }
    _, meta = decoder(FLOATS).v2(body)
    assert meta == {"id": "42", "outputs": ["predict", "predict_proba"]}
    assert decoder(FLOATS).v2({"inputs": body["inputs"]})[1] == {}


def test_one_feature_takes_single_values() -> None:
    one = Signature((Feature("x", "float"),), "regression")
    expected = pd.DataFrame({"x": [1.0, 2.5]})
    pd.testing.assert_frame_equal(decoder(one).mlflow({"instances": [1, 2.5]}), expected)
    body = {"inputs": [{"name": "input-0", "shape": [2], "datatype": "FP32", "data": [1, 2.5]}]}
    pd.testing.assert_frame_equal(decoder(one).v2(body)[0], expected)


# ------------------------------------------------------------------------------------- errors

ONE = mixed_rows(1)[0]
MANY = mixed_rows(SMALL + 50)


def with_value(field: str, value: Any, row: int = 0, n: int = 1) -> list[dict[str, Any]]:
    rows = [dict(r) for r in (mixed_rows(n) if n > 1 else [ONE])]
    rows[row][field] = value
    return rows


# (call, status, field, row, expected, fragment of the message)
ERRORS: dict[str, tuple[Callable[[InputDecoder], object], int, Any, Any, Any, str]] = {
    "string in a float": (
        lambda d: d.rows(with_value("amount", "abc")),
        422,
        "amount",
        0,
        "float",
        "'abc'",
    ),
    "numeric string in a float": (
        lambda d: d.rows(with_value("amount", "1.5")),
        422,
        "amount",
        0,
        "float",
        "'1.5'",
    ),
    "bool in a float": (
        lambda d: d.rows(with_value("amount", True)),
        422,
        "amount",
        0,
        "float",
        "boolean",
    ),
    "bool in an int": (lambda d: d.rows(with_value("hour", False)), 422, "hour", 0, "int", "false"),
    "fraction in an int": (lambda d: d.rows(with_value("hour", 1.5)), 422, "hour", 0, "int", "1.5"),
    "int beyond int64": (
        lambda d: d.rows(with_value("hour", 2**63)),
        422,
        "hour",
        0,
        "int",
        "range",
    ),
    "number in a bool": (
        lambda d: d.rows(with_value("flag", 1)),
        422,
        "flag",
        0,
        "bool",
        "true or",
    ),
    "string in a bool": (
        lambda d: d.rows(with_value("flag", "true")),
        422,
        "flag",
        0,
        "bool",
        "'true'",
    ),
    "bool in a string": (
        lambda d: d.rows(with_value("country", True)),
        422,
        "country",
        0,
        "string",
        "boolean",
    ),
    "array in a string": (
        lambda d: d.rows(with_value("country", ["DE"])),
        422,
        "country",
        0,
        "string",
        "array",
    ),
    "object in a category": (
        lambda d: d.rows(with_value("segment", {})),
        422,
        "segment",
        0,
        "category",
        "object",
    ),
    "bad date-time": (
        lambda d: d.rows(with_value("seen", "yesterday")),
        422,
        "seen",
        0,
        "datetime",
        "ISO 8601",
    ),
    "number as date-time": (
        lambda d: d.rows(with_value("seen", 1700000000)),
        422,
        "seen",
        0,
        "datetime",
        "number",
    ),
    "null where none in training": (
        lambda d: d.rows(with_value("hour", None)),
        422,
        "hour",
        0,
        "int",
        "no missing",
    ),
    "NaN where none in training": (
        lambda d: d.rows(with_value("amount", float("nan"))),
        422,
        "amount",
        0,
        "float",
        "NaN",
    ),
    "bad value in a big batch": (
        lambda d: d.rows(with_value("amount", "x", row=100, n=SMALL + 50)),
        422,
        "amount",
        100,
        "float",
        "row 100",
    ),
    "bad int in a big batch": (
        lambda d: d.rows(with_value("hour", 2.5, row=90, n=SMALL + 50)),
        422,
        "hour",
        90,
        "int",
        "2.5",
    ),
    "missing feature": (
        lambda d: d.rows([{k: v for k, v in ONE.items() if k != "hour"}]),
        422,
        "hour",
        0,
        "int",
        "lacks feature(s) 'hour'",
    ),
    "missing feature in a later row": (
        lambda d: d.rows([*MANY[:80], {k: v for k, v in ONE.items() if k != "flag"}]),
        422,
        "flag",
        80,
        "bool",
        "Row 80",
    ),
    "unknown feature": (
        lambda d: d.rows([dict(ONE, colour="red")]),
        422,
        "colour",
        0,
        None,
        "unknown feature(s) 'colour'",
    ),
    "unknown feature in a big batch": (
        lambda d: d.rows([*MANY[:70], dict(ONE, colour="red")]),
        422,
        "colour",
        70,
        None,
        "Row 70",
    ),
    "missing column": (
        lambda d: d.columns(NAMES[1:], [list(ONE.values())[1:]]),
        422,
        "amount",
        None,
        "float",
        "lacks feature(s) 'amount'",
    ),
    "unknown column": (
        lambda d: d.columns([*NAMES, "x"], [[*ONE.values(), 1]]),
        422,
        "x",
        None,
        None,
        "unknown",
    ),
    "duplicate column": (
        lambda d: d.columns([*NAMES, "hour"], [[*ONE.values(), 1]]),
        400,
        "hour",
        None,
        None,
        "twice",
    ),
    "no rows": (lambda d: d.rows([]), 400, None, None, None, "no rows"),
    "no data rows": (lambda d: d.columns(NAMES, []), 400, None, None, None, "no rows"),
    "csv with only a header": (
        lambda d: d.mlflow_csv(",".join(NAMES) + "\n"),
        400,
        None,
        None,
        None,
        "no rows",
    ),
    "v2 with zero rows": (
        lambda d: d.v2(
            {"inputs": [{"name": "input-0", "shape": [0, 6], "datatype": "FP32", "data": []}]}
        ),
        400,
        None,
        None,
        None,
        "no rows",
    ),
    "too many rows": (lambda d: d.rows([ONE] * 201), 413, None, None, None, "more than the 200"),
    "too many columnar rows": (
        lambda d: d.mlflow({"inputs": {n: [ONE[n]] * 201 for n in NAMES}}),
        413,
        None,
        None,
        None,
        "201 rows",
    ),
    "too many v2 rows": (
        lambda d: d.v2(
            {"inputs": [{"name": "input-0", "shape": [10**9, 6], "datatype": "FP32", "data": []}]}
        ),
        413,
        None,
        None,
        None,
        "1000000000 rows",
    ),
    "native body not an object": (lambda d: d.native([ONE]), 400, None, None, None, '{"inputs": ['),
    "native with both forms": (
        lambda d: d.native({"inputs": [ONE], "data": [[1]]}),
        400,
        None,
        None,
        None,
        "not both",
    ),
    "native with an unknown key": (
        lambda d: d.native({"input": [ONE]}),
        400,
        None,
        None,
        None,
        "Unknown key(s) input",
    ),
    "native routing key not a string": (
        lambda d: d.native({"inputs": [ONE], "routing_key": 7}),
        400,
        "routing_key",
        None,
        None,
        "string",
    ),
    "native inputs not a list": (
        lambda d: d.native({"inputs": ONE}),
        400,
        "inputs",
        None,
        None,
        "list of row objects",
    ),
    "row not an object": (
        lambda d: d.rows([ONE, [1, 2]]),
        400,
        None,
        1,
        None,
        "Row 1 must be an object",
    ),
    "row not a list": (
        lambda d: d.columns(NAMES, [list(ONE.values()), "abc"]),
        400,
        None,
        1,
        None,
        "Row 1",
    ),
    "row of the wrong length": (
        lambda d: d.columns(None, [list(ONE.values())[:-1]]),
        400,
        None,
        0,
        None,
        "5 values",
    ),
    "columns not names": (
        lambda d: d.columns("amount", [[1]]),
        400,
        None,
        None,
        None,
        "list of feature names",
    ),
    "mlflow body not an object": (lambda d: d.mlflow("x"), 400, None, None, None, "exactly one"),
    "mlflow with two forms": (
        lambda d: d.mlflow({"instances": [ONE], "inputs": [ONE]}),
        400,
        None,
        None,
        None,
        "exactly one",
    ),
    "mlflow with no form": (lambda d: d.mlflow({"data": [[1]]}), 400, None, None, None, "got keys"),
    "mlflow split without data": (
        lambda d: d.mlflow({"dataframe_split": {"columns": NAMES}}),
        400,
        "dataframe_split",
        None,
        None,
        "orient='split'",
    ),
    "mlflow scalars for many features": (
        lambda d: d.mlflow({"instances": [1, 2]}),
        400,
        "instances",
        None,
        None,
        "one feature",
    ),
    "mlflow columns of unequal length": (
        lambda d: d.mlflow({"inputs": {n: [ONE[n]] * (2 if n == "flag" else 1) for n in NAMES}}),
        400,
        "flag",
        None,
        None,
        "has 2 values",
    ),
    "mlflow column not a list": (
        lambda d: d.mlflow({"inputs": dict(ONE)}),
        400,
        "amount",
        None,
        None,
        "one value per row",
    ),
    "csv not text": (lambda d: d.mlflow_csv(b"1,2"), 400, None, None, None, "text"),
    "csv row too short": (
        lambda d: d.mlflow_csv(",".join(NAMES) + "\n1,2\n"),
        400,
        None,
        0,
        None,
        "2 values",
    ),
    "csv with a bad number": (
        lambda d: d.mlflow_csv("abc,3,true,DE,gold,2024-01-01\n"),
        422,
        "amount",
        0,
        "float",
        "'abc'",
    ),
    "csv with an empty cell": (
        lambda d: d.mlflow_csv(",3,true,DE,gold,2024-01-01\n"),
        422,
        "amount",
        0,
        "float",
        "null or NaN",
    ),
    "v2 body not an object": (lambda d: d.v2(3), 400, None, None, None, "Open Inference"),
    "v2 without inputs": (lambda d: d.v2({"id": "1"}), 400, "inputs", None, None, "non-empty"),
    "v2 id not a string": (
        lambda d: d.v2({"id": 1, "inputs": []}),
        400,
        "id",
        None,
        None,
        "string",
    ),
    "v2 outputs without names": (
        lambda d: d.v2({"outputs": [{}], "inputs": []}),
        400,
        "outputs",
        None,
        None,
        "name",
    ),
    "v2 unknown datatype": (
        lambda d: d.v2(
            {"inputs": [{"name": "input-0", "shape": [1, 6], "datatype": "FP8", "data": []}]}
        ),
        400,
        "input-0",
        None,
        None,
        "FP8",
    ),
    "v2 bad shape": (
        lambda d: d.v2(
            {"inputs": [{"name": "input-0", "shape": [-1, 6], "datatype": "FP32", "data": []}]}
        ),
        400,
        "input-0",
        None,
        None,
        "shape",
    ),
    "v2 shape of the wrong width": (
        lambda d: d.v2(
            {"inputs": [{"name": "input-0", "shape": [1, 5], "datatype": "FP32", "data": []}]}
        ),
        400,
        "input-0",
        None,
        None,
        "[N, 6]",
    ),
    "v2 tensors with the same name": (
        lambda d: d.v2(
            {"inputs": [{"name": "hour", "shape": [1], "datatype": "INT64", "data": [1]}] * 2}
        ),
        400,
        "hour",
        None,
        None,
        "Two input tensors",
    ),
    "v2 feature tensors of different N": (
        lambda d: d.v2(
            {
                "inputs": [
                    {
                        "name": n,
                        "shape": [1 if i else 2],
                        "datatype": _V2_TYPES.get(n, "BYTES"),
                        "data": [ONE[n]] * (1 if i else 2),
                    }
                    for i, n in enumerate(NAMES)
                ]
            }
        ),
        400,
        "hour",
        None,
        None,
        "same N",
    ),
    "v2 feature tensor of two columns": (
        lambda d: d.v2(
            {
                "inputs": [
                    {"name": n, "shape": [1, 2], "datatype": "BYTES", "data": ["a", "b"]}
                    for n in NAMES
                ]
            }
        ),
        400,
        "amount",
        None,
        None,
        "[N] or [N, 1]",
    ),
    "v2 missing feature tensor": (
        lambda d: d.v2(
            {"inputs": [{"name": "hour", "shape": [1], "datatype": "INT64", "data": [1]}]}
        ),
        422,
        "amount",
        None,
        "float",
        "lacks",
    ),
    "v2 tensor of an unknown name": (
        lambda d: d.v2({"inputs": [v2_text([ONE], name="t")]}),
        400,
        "t",
        None,
        None,
        "The model takes 'input-0', one [N, 6] tensor with the features in this order, or one "
        "[N] tensor per feature, named after it: amount (float), hour (int),",
    ),
    "v2 unknown tensor next to the features": (
        lambda d: d.v2(
            {
                "inputs": [
                    *v2_per_feature([ONE]),
                    {"name": "zip", "shape": [1], "datatype": "INT64", "data": [1]},
                ]
            }
        ),
        400,
        "zip",
        None,
        None,
        "Unknown input tensor(s) 'zip'",
    ),
    "v2 matrix and a feature tensor": (
        lambda d: d.v2({"inputs": [v2_text([ONE]), v2_per_feature([ONE])[1]]}),
        400,
        "hour",
        None,
        None,
        "not both",
    ),
    "v2 matrix under a feature's name": (
        lambda d: d.v2({"inputs": [v2_text([ONE], name="amount")]}),
        400,
        "amount",
        None,
        None,
        "has shape [1, 6]; a tensor per feature must have shape [N] or [N, 1]. The [N, 6] "
        "tensor of all the features is 'input-0'.",
    ),
    "v2 text that is no number": (
        lambda d: d.v2({"inputs": [v2_text(with_value("amount", "abc"))]}),
        422,
        "amount",
        0,
        "float",
        "'abc'",
    ),
    "v2 text that is no boolean, big batch": (
        lambda d: d.v2({"inputs": [v2_text(with_value("flag", "yes", row=70, n=100))]}),
        422,
        "flag",
        70,
        "bool",
        "'yes'",
    ),
    "v2 null in a text tensor": (
        lambda d: d.v2({"inputs": [v2_text(with_value("hour", None))]}),
        422,
        "hour",
        0,
        "int",
        "null or NaN",
    ),
    "v2 number in a text tensor": (
        lambda d: d.v2({"inputs": [{**v2_text([ONE]), "data": [ONE[n] for n in NAMES]}]}),
        422,
        "input-0",
        0,
        "BYTES",
        "strings",
    ),
}

FLOAT_ERRORS: dict[str, tuple[Callable[[InputDecoder], object], int, Any, Any, Any, str]] = {
    "v2 string in FP32": (
        lambda d: d.v2(
            {
                "inputs": [
                    {"name": "input-0", "shape": [1, 20], "datatype": "FP32", "data": ["abc"] * 20}
                ]
            }
        ),
        422,
        "input-0",
        0,
        "FP32",
        "'abc'",
    ),
    "v2 string in FP32, big batch": (
        lambda d: d.v2(
            {
                "inputs": [
                    {
                        "name": "input-0",
                        "shape": [100, 20],
                        "datatype": "FP32",
                        "data": [0.5] * 1990 + ["abc"] + [0.5] * 9,
                    }
                ]
            }
        ),
        422,
        "input-0",
        99,
        "FP32",
        "element 1990",
    ),
    "v2 fraction in INT64": (
        lambda d: d.v2(
            {
                "inputs": [
                    {"name": "input-0", "shape": [1, 20], "datatype": "INT64", "data": [1.5] * 20}
                ]
            }
        ),
        422,
        "input-0",
        0,
        "INT64",
        "integers",
    ),
    "v2 300 in INT8, big batch": (
        lambda d: d.v2(
            {
                "inputs": [
                    {"name": "input-0", "shape": [70, 20], "datatype": "INT8", "data": [300] * 1400}
                ]
            }
        ),
        422,
        "input-0",
        0,
        "INT8",
        "[-128, 127]",
    ),
    "v2 bool in a float feature": (
        lambda d: d.v2(
            {
                "inputs": [
                    {"name": "input-0", "shape": [1, 20], "datatype": "BOOL", "data": [True] * 20}
                ]
            }
        ),
        422,
        "f0",
        0,
        "float",
        "boolean",
    ),
    "v2 shape and data disagree": (
        lambda d: d.v2(
            {
                "inputs": [
                    {"name": "input-0", "shape": [2, 20], "datatype": "FP32", "data": [1.0] * 20}
                ]
            }
        ),
        400,
        "input-0",
        None,
        None,
        "40 values",
    ),
    "v2 nested data of the wrong shape": (
        lambda d: d.v2(
            {
                "inputs": [
                    {
                        "name": "input-0",
                        "shape": [2, 20],
                        "datatype": "FP32",
                        "data": [[1.0] * 20, [1.0]],
                    }
                ]
            }
        ),
        400,
        "input-0",
        None,
        None,
        "nested",
    ),
    "string in a big float batch": (
        lambda d: d.columns(None, [[0.0] * 20] * 80 + [[0.0] * 19 + ["x"]]),
        422,
        "f19",
        80,
        "float",
        "row 80",
    ),
    "huge integer in a float": (
        lambda d: d.columns(None, [[10**400] + [0.0] * 19]),
        422,
        "f0",
        0,
        "float",
        "range",
    ),
}


def _check_error(
    d: InputDecoder, case: tuple[Callable[[InputDecoder], object], int, Any, Any, Any, str]
) -> None:
    call, status, field, row, expected, fragment = case
    with pytest.raises(InvalidInput) as err:
        call(d)
    e = err.value
    assert (e.status, e.field, e.row, e.expected) == (status, field, row, expected), e.message
    assert fragment in e.message
    if field is not None:
        assert repr(field) in e.message or field in e.message


@pytest.mark.parametrize("case", ERRORS)
def test_bad_input_is_a_located_error(case: str) -> None:
    _check_error(decoder(max_batch_rows=200), ERRORS[case])


@pytest.mark.parametrize("case", FLOAT_ERRORS)
def test_bad_tensor_is_a_located_error(case: str) -> None:
    _check_error(decoder(FLOATS), FLOAT_ERRORS[case])


def test_errors_name_the_expected_type() -> None:
    with pytest.raises(InvalidInput) as err:
        decoder().rows(with_value("hour", "3"))
    assert err.value.message == "Feature 'hour' must be int (an integer); row 0 has the string '3'."
    assert err.value.details() == {"field": "hour", "row": 0, "expected": "int"}


@pytest.mark.parametrize(
    "options",
    [
        {"unknown_features": "drop"},
        {"max_batch_rows": 0},
        {"max_batch_rows": True},
        {"allow_nan": ["a"]},
    ],
)
def test_bad_options_are_config_errors(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="option must be"):
        DecodeOptions(**options)


@pytest.mark.parametrize(
    "features",
    [(), (Feature("a", "float"), Feature("a", "int")), (Feature("a", "complex"),)],
)
def test_unusable_signatures_are_config_errors(features: tuple[Feature, ...]) -> None:
    with pytest.raises(ConfigError):
        InputDecoder(Signature(features, "unknown"), DecodeOptions())


# ----------------------------------------------------------------------------------- fuzzing

_KEYS = st.sampled_from([*NAMES, "x", "inputs", "data", "columns", "name", "shape"]) | st.text(
    max_size=5
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from(["2024-01-01", "DE", "1.5", "FP32", "BYTES", "INT8", "true"])
)
JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(_KEYS, inner, max_size=7),
    max_leaves=40,
)


def _row_objects(values: st.SearchStrategy[Any]) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(st.dictionaries(st.sampled_from([*NAMES, "x"]), values, max_size=8), max_size=4)


def _tensor() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "name": st.sampled_from([*NAMES, "input-0", "t"]) | JSON,
            "shape": st.lists(st.integers(-1, 7), max_size=3) | JSON,
            "datatype": st.sampled_from(["FP32", "INT8", "UINT64", "BOOL", "BYTES", "X"]) | JSON,
            "data": st.lists(_SCALARS | st.lists(_SCALARS, max_size=7), max_size=14) | JSON,
        }
    )


BODIES = (
    JSON
    | st.fixed_dictionaries({"inputs": _row_objects(_SCALARS | JSON)})
    | st.fixed_dictionaries(
        {
            "columns": st.lists(st.sampled_from(NAMES), max_size=7),
            "data": st.lists(JSON, max_size=3),
        }
    )
    | st.builds(
        lambda key, value: {key: value},
        st.sampled_from(["dataframe_split", "dataframe_records", "instances", "inputs"]),
        JSON | st.fixed_dictionaries({"columns": JSON, "data": st.lists(JSON, max_size=3)}),
    )
    | st.fixed_dictionaries({"inputs": st.lists(_tensor(), max_size=7)}, optional={"id": JSON})
)


def _only_located_errors(call: Callable[[], object]) -> None:
    try:
        result = call()
    except InvalidInput as e:
        assert e.status in (400, 413, 422)
        return
    frame = result[0] if isinstance(result, tuple) else result
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == NAMES
    dtypes = [str(t) for t in frame.dtypes]
    # Nullable features (missing values in training) use pandas' nullable dtypes.
    assert dtypes[0] == "float64" and dtypes[3] == "object"
    assert dtypes[1] in ("int64", "Int64") and dtypes[2] in ("bool", "boolean")
    assert dtypes[4:] == ["category", "datetime64[us]"] or pd.__version__ < "3"


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(body=BODIES)
def test_any_json_body_gives_a_frame_or_invalid_input(body: Any) -> None:
    d = decoder(max_batch_rows=5, allow_nan={"hour", "country"})
    for entry in (d.native, d.mlflow, d.v2):
        _only_located_errors(partial(entry, body))


@FUZZ
@given(records=JSON | _row_objects(_SCALARS | JSON), columns=JSON, data=JSON)
def test_any_rows_or_columns_give_a_frame_or_invalid_input(
    records: Any, columns: Any, data: Any
) -> None:
    d = decoder(unknown_features="ignore")
    _only_located_errors(partial(d.rows, records))
    _only_located_errors(partial(d.columns, columns, data))
    _only_located_errors(partial(d.columns, None, data))


@FUZZ
@given(
    text=st.text(max_size=60)
    | st.lists(
        st.lists(
            st.sampled_from([*NAMES, "", "1", "2.5", "true", "x", "2024-01-01", '"a,b"']),
            max_size=7,
        ),
        max_size=4,
    ).map(lambda rows: "\n".join(",".join(r) for r in rows))
    | JSON
)
def test_any_csv_text_gives_a_frame_or_invalid_input(text: Any) -> None:
    _only_located_errors(partial(decoder(allow_nan={"country"}).mlflow_csv, text))


_FULL_ROW = st.fixed_dictionaries({n: _SCALARS for n in NAMES}, optional={"x": _SCALARS})


def _feature_tensors(n: int) -> st.SearchStrategy[dict[str, Any]]:
    one = st.lists(_SCALARS | st.lists(_SCALARS, max_size=2), min_size=n, max_size=n)
    tensors = [
        st.fixed_dictionaries(
            {
                "name": st.just(name),
                "shape": st.sampled_from([[n], [n, 1]]),
                "datatype": st.sampled_from(["FP32", "INT8", "INT64", "UINT64", "BOOL", "BYTES"]),
                "data": one,
            }
        )
        for name in NAMES
    ]
    return st.fixed_dictionaries({"inputs": st.tuples(*tensors).map(list)})


@FUZZ
@given(
    rows=st.lists(_FULL_ROW, min_size=1, max_size=3)
    | st.lists(_FULL_ROW, min_size=SMALL + 1, max_size=SMALL + 3),
    tensors=st.integers(1, 3).flatmap(_feature_tensors),
    nan=st.sets(st.sampled_from(NAMES)),
)
def test_any_values_in_well_formed_bodies_give_a_frame_or_invalid_input(
    rows: list[dict[str, Any]], tensors: dict[str, Any], nan: set[str]
) -> None:
    """Check the value converters (both paths) on bodies whose structure is right."""
    columns = {n: [r[n] for r in rows] for n in NAMES}
    for d in (decoder(allow_nan=nan), decoder(unknown_features="ignore", allow_nan=nan)):
        _only_located_errors(partial(d.rows, rows))
        _only_located_errors(partial(d.columns, None, lists(rows, NAMES)))
        _only_located_errors(partial(d.mlflow, {"inputs": columns}))
        _only_located_errors(partial(d.v2, tensors))
        _only_located_errors(partial(d.v2, {"inputs": [v2_text(rows)]}))
