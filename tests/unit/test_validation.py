"""Data validation (``mlship check``, CI layer 2): each rule on hand-built seeded frames."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlship.checks.expectations import (
    ColumnExpectation,
    Expectations,
    expectations_for_version,
    expectations_from_profile,
    expectations_from_schema,
    load_schema,
)
from mlship.checks.results import CheckResult, Report
from mlship.checks.validation import ValidationConfig, validate_frame
from mlship.errors import ConfigError
from mlship.registry.model_version import Feature, ModelVersion
from mlship.registry.profile import profile_frame


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


def check(
    frame: pd.DataFrame, *columns: ColumnExpectation, config: ValidationConfig | None = None
) -> dict[str, CheckResult]:
    return by_name(validate_frame(frame, Expectations(columns), config))


def report(results: list[CheckResult]) -> Report:
    return Report(
        kind="check",
        subject="fraud@1",
        results=tuple(results),
        started_at=datetime(2024, 1, 1, tzinfo=UTC),
        duration_s=0.0,
    )


def seeded(n: int = 100, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(10.0, 20.0, size=n)


# --- config ------------------------------------------------------------------------------------


def test_config_defaults() -> None:
    config = ValidationConfig()
    assert config.max_missing_rate == 0.05
    assert (config.spike_ratio, config.spike_min_delta) == (5.0, 0.01)
    assert (config.range_margin, config.max_out_of_range_share) == (0.1, 0.01)
    assert (config.max_unseen_share, config.max_type_error_share) == (0.01, 0.0)
    assert (config.min_rows, config.extra_columns) == (1, "warn")
    assert config.severity == {
        "schema": "error",
        "types": "error",
        "missingness": "error",
        "rows": "error",
        "ranges": "warning",
        "categories": "warning",
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"range_margin": -1},
            "The 'range_margin' option must be a number >= 0. Got -1 instead.",
        ),
        (
            {"max_missing_rate": 1.5},
            "The 'max_missing_rate' option must be a number in [0, 1]. Got 1.5 instead.",
        ),
        (
            {"spike_ratio": "high"},
            "The 'spike_ratio' option must be a number >= 1. Got 'high' instead.",
        ),
        (
            {"max_unseen_share": True},
            "The 'max_unseen_share' option must be a number in [0, 1]. Got True instead.",
        ),
        ({"min_rows": 0}, "The 'min_rows' option must be an integer >= 1. Got 0 instead."),
        (
            {"extra_columns": "drop"},
            "The 'extra_columns' option must be one of 'warn', 'error', 'ignore'. "
            "Got 'drop' instead.",
        ),
        (
            {"severity": {"ranges": "fatal"}},
            "The 'severity.ranges' option must be one of 'error', 'warning'. Got 'fatal' instead.",
        ),
        (
            {"columns": {"amount": {"range_margin": -0.5}}},
            "The 'columns.amount.range_margin' option must be a number >= 0. Got -0.5 instead.",
        ),
    ],
)
def test_config_rejects_bad_values_in_one_format(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        ValidationConfig(**kwargs)
    assert info.value.message == message


def test_config_from_dict_names_unknown_keys() -> None:
    with pytest.raises(
        ConfigError, match=r"'max_missng_rate' \(did you mean 'max_missing_rate'\?\)"
    ):
        ValidationConfig.from_dict({"max_missng_rate": 0.1})
    with pytest.raises(ConfigError, match=r"in columns\.amount: 'min'"):
        ValidationConfig.from_dict({"columns": {"amount": {"min": 0}}})
    with pytest.raises(ConfigError, match=r"in severity: 'range'"):
        ValidationConfig.from_dict({"severity": {"range": "error"}})


def test_config_from_dict_reads_tables_and_flag_text() -> None:
    config = ValidationConfig.from_dict(
        {
            "range_margin": "0.2",
            "min_rows": "100",
            "extra_columns": "error",
            "severity": {"ranges": "error"},
            "columns": {"amount": {"max_missing_rate": "0.3"}},
        }
    )
    assert config.range_margin == 0.2 and config.min_rows == 100
    assert config.severity["ranges"] == "error" and config.severity["categories"] == "warning"
    assert config.tolerances("amount").max_missing_rate == 0.3
    assert config.tolerances("other").max_missing_rate == 0.05
    with pytest.raises(ConfigError) as info:
        ValidationConfig.from_dict({"range_margin": "wide"})
    assert (
        info.value.message == "The 'range_margin' option must be a number >= 0. Got 'wide' instead."
    )


def test_tolerance_precedence_override_then_schema_then_global() -> None:
    config = ValidationConfig(max_unseen_share=0.02, columns={"a": {"max_unseen_share": 0.3}})
    assert config.tolerances("a", {"max_unseen_share": 0.1}).max_unseen_share == 0.3
    assert config.tolerances("b", {"max_unseen_share": 0.1}).max_unseen_share == 0.1
    assert config.tolerances("b").max_unseen_share == 0.02


# --- rows and schema ----------------------------------------------------------------------------


def test_empty_frame_fails_rows_and_skips_column_checks() -> None:
    frame = pd.DataFrame({"x": pd.Series([], dtype="float64")})
    results = check(frame, ColumnExpectation("x", "float", min=0.0, max=1.0, missing_rate=0.0))
    assert list(results) == ["rows", "schema:required_columns", "schema:extra_columns"]
    assert results["rows"].status == "fail"
    assert results["rows"].figures == {"rows": 0, "min_rows": 1}
    assert "no rows" in results["rows"].message


def test_min_rows_takes_the_larger_of_config_and_schema() -> None:
    frame = pd.DataFrame({"x": seeded(50)})
    column = ColumnExpectation("x", "float")
    assert (
        by_name(validate_frame(frame, Expectations((column,), min_rows=40)))["rows"].failed is False
    )
    results = by_name(validate_frame(frame, Expectations((column,), min_rows=100)))
    assert results["rows"].failed and results["rows"].figures == {"rows": 50, "min_rows": 100}
    config = ValidationConfig(min_rows=60)
    results = by_name(validate_frame(frame, Expectations((column,), min_rows=40), config))
    assert results["rows"].figures["min_rows"] == 60 and results["rows"].failed


def test_missing_columns_are_named_in_one_result() -> None:
    frame = pd.DataFrame({"a": seeded(10)})
    results = check(
        frame,
        ColumnExpectation("a", "float"),
        ColumnExpectation("b", "float"),
        ColumnExpectation("c", "string"),
        ColumnExpectation("d", "string", required=False),
    )
    schema = results["schema:required_columns"]
    assert schema.status == "fail" and schema.severity == "error"
    assert schema.figures["missing"] == ["b", "c"]
    assert "b, c" in schema.message
    assert not any(name.endswith((":b", ":c", ":d")) for name in results)


@pytest.mark.parametrize(
    ("policy", "status", "severity"),
    [("warn", "warn", "warning"), ("error", "fail", "error"), ("ignore", None, None)],
)
def test_extra_columns_follow_the_policy(
    policy: str, status: str | None, severity: str | None
) -> None:
    frame = pd.DataFrame({"a": seeded(10), "zz": seeded(10), "label": [0] * 10})
    expectations = Expectations((ColumnExpectation("a", "float"),), tolerated=("label",))
    results = by_name(
        validate_frame(frame, expectations, ValidationConfig(extra_columns=policy))  # type: ignore[arg-type]
    )
    extra = results.get("schema:extra_columns")
    if status is None:
        assert extra is None
    else:
        assert extra is not None
        assert (extra.status, extra.severity) == (status, severity)
        assert extra.figures["extra"] == ["zz"]  # the tolerated label is not extra


def test_duplicate_columns_are_a_schema_error() -> None:
    frame = pd.DataFrame([[1.0, 2.0]], columns=["a", "a"])
    results = check(frame, ColumnExpectation("a", "float"))
    assert results["schema:duplicate_columns"].failed
    assert results["schema:duplicate_columns"].figures == {"duplicated": ["a"]}


# --- types --------------------------------------------------------------------------------------


def test_text_in_a_numeric_column_is_counted() -> None:
    values: list[object] = [str(v) for v in seeded(100)]
    values[7], values[42], values[90] = "n/a", "12,5", "abc"
    values[3] = None
    frame = pd.DataFrame({"amount": values})
    results = check(frame, ColumnExpectation("amount", "float", min=10.0, max=20.0))
    types = results["types:amount"]
    assert types.status == "fail"
    assert types.figures["errors"] == 3
    assert types.figures["share"] == pytest.approx(3 / 99)
    assert (types.figures["example_row"], types.figures["example_value"]) == (7, "n/a")
    assert "'n/a' in row 7" in types.message
    # The values that do parse are still range-checked.
    assert results["ranges:amount"].figures["values"] == 96


def test_type_error_share_can_be_tolerated_per_column() -> None:
    frame = pd.DataFrame({"amount": ["1", "2", "x", "4"] * 25})
    config = ValidationConfig(columns={"amount": {"max_type_error_share": 0.25}})
    assert check(frame, ColumnExpectation("amount", "float"), config=config)[
        "types:amount"
    ].status == ("pass")
    config = ValidationConfig(columns={"amount": {"max_type_error_share": 0.2}})
    assert check(frame, ColumnExpectation("amount", "float"), config=config)["types:amount"].failed


def test_fractions_in_an_int_column_are_type_errors() -> None:
    frame = pd.DataFrame({"n": [1.0, 2.0, 2.5, np.nan, 4.0]})
    types = check(frame, ColumnExpectation("n", "int"))["types:n"]
    assert types.figures["errors"] == 1 and types.figures["example_value"] == 2.5


def test_compatible_dtypes_have_no_type_errors() -> None:
    frame = pd.DataFrame(
        {
            "f": np.arange(10),  # int where float is expected
            "s": np.arange(10),  # numbers where strings are expected
            "b": ["true", "False", "1", "0", None] * 2,
            "d": pd.date_range("2024-01-01", periods=10),
            "t": ["2024-01-01", "2024-02-03T10:00"] * 5,
        }
    )
    results = check(
        frame,
        ColumnExpectation("f", "float"),
        ColumnExpectation("s", "string"),
        ColumnExpectation("b", "bool"),
        ColumnExpectation("d", "datetime"),
        ColumnExpectation("t", "datetime"),
    )
    for column in "fsbdt":
        assert results[f"types:{column}"].status == "pass", column


def test_a_column_of_a_new_dtype() -> None:
    """Check that text where training had numbers fails types and skips the range check."""
    train = pd.DataFrame({"amount": seeded(100)})
    expectations = expectations_from_profile(profile_frame(train))
    current = pd.DataFrame({"amount": ["low", "high"] * 50})
    results = by_name(validate_frame(current, expectations))
    assert results["types:amount"].figures["errors"] == 100
    assert results["types:amount"].figures["observed_dtype"] == "string"
    assert results["types:amount"].figures["expected_dtype"] == "float"
    assert results["ranges:amount"].status == "skip"
    dates = pd.DataFrame({"amount": pd.date_range("2024-01-01", periods=5)})
    assert by_name(validate_frame(dates, expectations))["types:amount"].figures["errors"] == 5


# --- ranges -------------------------------------------------------------------------------------


def test_exactly_three_of_a_hundred_out_of_range() -> None:
    values = seeded(100)
    values[[5, 50, 95]] = [8.9, 21.5, -3.0]  # bounds are [9, 21] with the 10 % margin
    results = check(
        pd.DataFrame({"x": values}), ColumnExpectation("x", "float", min=10.0, max=20.0)
    )
    ranges = results["ranges:x"]
    assert ranges.figures["outside"] == 3 and ranges.figures["share"] == 0.03
    assert (ranges.figures["low"], ranges.figures["high"]) == (9.0, 21.0)
    assert (ranges.figures["observed_min"], ranges.figures["observed_max"]) == (-3.0, 21.5)
    assert ranges.status == "warn" and ranges.severity == "warning"
    assert "3 values (3%) outside [9, 21]" in ranges.message


def test_values_within_the_margin_are_in_range() -> None:
    values = seeded(100)
    values[:3] = [9.0, 21.0, 20.5]
    results = check(
        pd.DataFrame({"x": values}), ColumnExpectation("x", "float", min=10.0, max=20.0)
    )
    assert results["ranges:x"].figures["outside"] == 0 and results["ranges:x"].status == "pass"


def test_range_margin_and_share_overrides_per_column() -> None:
    values = seeded(100)
    values[:3] = [21.0, 21.0, 21.0]
    frame = pd.DataFrame({"x": values})
    expected = ColumnExpectation("x", "float", min=10.0, max=20.0)
    config = ValidationConfig(columns={"x": {"range_margin": 0.0}})
    assert check(frame, expected, config=config)["ranges:x"].figures["share"] == 0.03
    config = ValidationConfig(columns={"x": {"range_margin": 0.0, "max_out_of_range_share": 0.03}})
    assert check(frame, expected, config=config)["ranges:x"].status == "pass"


def test_one_sided_bound() -> None:
    frame = pd.DataFrame({"x": [-1.0, 0.0, 5.0, 1e9]})
    ranges = check(frame, ColumnExpectation("x", "float", min=0.0))["ranges:x"]
    assert ranges.figures["outside"] == 1 and ranges.figures["high"] == float("inf")


# --- missingness --------------------------------------------------------------------------------


def missing_frame(n_missing: int, n: int = 100) -> pd.DataFrame:
    values = seeded(n)
    values[:n_missing] = np.nan
    return pd.DataFrame({"x": values})


def test_missing_rate_above_the_threshold_fails() -> None:
    expected = ColumnExpectation("x", "float", missing_rate=0.05)
    ok = check(missing_frame(5), expected)["missingness:x"]
    assert ok.status == "pass" and ok.figures["missing_rate"] == 0.05
    results = check(missing_frame(7), ColumnExpectation("x", "float"))
    bad = results["missingness:x"]
    assert bad.failed and bad.figures["missing"] == 7 and bad.figures["threshold"] == 0.05
    assert "7% missing" in bad.message


def test_missing_spike_is_flagged_under_the_threshold() -> None:
    """Check that 0.1 % missing in training and 4 % now fails, though 4 % < 5 %."""
    expected = ColumnExpectation("x", "float", missing_rate=0.001)
    result = check(missing_frame(4), expected)["missingness:x"]
    assert result.failed and result.figures["spike"] is True
    assert result.figures["missing_rate"] == 0.04
    assert "spike from 0.1% in training" in result.message
    # 1 % now is above 5 x 0.1 % but not 1 point more: no spike.
    assert check(missing_frame(1), expected)["missingness:x"].status == "pass"


def test_a_column_sparse_in_training_may_stay_as_sparse() -> None:
    expected = ColumnExpectation("x", "float", missing_rate=0.30)
    assert check(missing_frame(31), expected)["missingness:x"].status == "pass"
    result = check(missing_frame(32), expected)["missingness:x"]
    assert result.failed and result.figures["threshold"] == pytest.approx(0.31)


def test_missing_threshold_override_per_column() -> None:
    config = ValidationConfig(columns={"x": {"max_missing_rate": 0.2, "spike_ratio": 200}})
    expected = ColumnExpectation("x", "float", missing_rate=0.001)
    assert check(missing_frame(15), expected, config=config)["missingness:x"].status == "pass"
    assert check(missing_frame(15), expected)["missingness:x"].failed


def test_all_missing_column() -> None:
    frame = pd.DataFrame({"x": [np.nan] * 10, "c": pd.Series([None] * 10, dtype="str")})
    results = check(
        frame,
        ColumnExpectation("x", "float", min=0.0, max=1.0, missing_rate=0.0),
        ColumnExpectation("c", "string", categories=frozenset({"a"}), missing_rate=0.0),
    )
    assert results["missingness:x"].failed and results["missingness:x"].figures["missing_rate"] == 1
    assert results["missingness:c"].failed
    assert results["types:x"].status == "pass"
    assert results["ranges:x"].status == "skip"
    assert results["categories:c"].status == "skip"


# --- categories ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["str", "object", "category"])
def test_unseen_categories_are_counted_and_listed(dtype: str) -> None:
    values = ["DE"] * 80 + ["FR"] * 10 + ["US"] * 3 + ["IT", "IT", "ES", "PL", "NL", "BE", "AT"]
    frame = pd.DataFrame({"country": pd.Series(values, dtype=dtype)})
    expected = ColumnExpectation("country", "string", categories=frozenset({"DE", "FR"}))
    result = check(frame, expected)["categories:country"]
    assert result.figures["unseen"] == 10 and result.figures["share"] == 0.1
    assert result.figures["unseen_values"][:2] == ["US", "IT"]
    assert len(result.figures["unseen_values"]) == 5
    assert result.status == "warn"
    assert "10 values (10%) never seen in training" in result.message


def test_unseen_share_is_taken_over_present_values() -> None:
    frame = pd.DataFrame({"c": ["a"] * 98 + [None, "zz"]})
    expected = ColumnExpectation("c", "string", categories=frozenset({"a"}))
    config = ValidationConfig(max_unseen_share=0.0102)
    result = check(frame, expected, config=config)["categories:c"]
    assert result.figures["share"] == pytest.approx(1 / 99) and result.status == "pass"


def test_numbers_are_compared_with_categories_as_text() -> None:
    frame = pd.DataFrame({"zip": [10115, 10115, 80331, 99999]})
    expected = ColumnExpectation("zip", "string", categories=frozenset({"10115", "80331"}))
    result = check(frame, expected)["categories:zip"]
    assert result.figures["unseen"] == 1 and result.figures["unseen_values"] == ["99999"]


def test_training_tail_beyond_the_top_categories_is_allowed_for() -> None:
    train = pd.DataFrame({"c": [f"v{i}" for i in range(1200)] + ["v0"] * 800})
    expectations = expectations_from_profile(profile_frame(train))
    (column,) = expectations.columns
    assert column.other_share == pytest.approx(200 / 2000)
    result = by_name(validate_frame(train, expectations))["categories:c"]
    assert result.status == "pass" and result.figures["threshold"] == pytest.approx(0.11)


# --- severities ---------------------------------------------------------------------------------


def test_warnings_do_not_fail_the_run_and_severities_can_change() -> None:
    values = seeded(100)
    values[:3] = 100.0
    frame = pd.DataFrame({"x": values, "c": ["a"] * 90 + ["b"] * 10})
    columns = (
        ColumnExpectation("x", "float", min=10.0, max=20.0, missing_rate=0.0),
        ColumnExpectation("c", "string", categories=frozenset({"a"}), missing_rate=0.0),
    )
    results = validate_frame(frame, Expectations(columns))
    statuses = {r.name: r.status for r in results if r.status != "pass"}
    assert statuses == {"ranges:x": "warn", "categories:c": "warn"}
    assert report(results).passed

    strict = ValidationConfig(severity={"ranges": "error"})
    results = validate_frame(frame, Expectations(columns), strict)
    statuses = {r.name: r.status for r in results if r.status != "pass"}
    assert statuses == {"ranges:x": "fail", "categories:c": "warn"}
    assert not report(results).passed

    lenient = ValidationConfig(severity={"missingness": "warning"})
    results = by_name(validate_frame(missing_frame(50), Expectations(columns[:1]), lenient))
    assert results["missingness:x"].status == "warn"


# --- expectations from a profile, a version, a schema file -------------------------------------


def test_expectations_from_profile_follow_the_signature_and_skip_the_label() -> None:
    train = pd.DataFrame(
        {"amount": [1.0, 5.0, np.nan, 3.0], "country": ["DE", "FR", "DE", None], "y": [0, 1, 0, 1]}
    )
    profile = profile_frame(train)
    features = [Feature("country", "string"), Feature("amount", "float")]
    expectations = expectations_from_profile(profile, features, label="y")
    assert expectations.names == ["country", "amount"] and expectations.tolerated == ("y",)
    country, amount = expectations.columns
    assert country.categories == frozenset({"DE", "FR"}) and country.missing_rate == 0.25
    assert (amount.min, amount.max, amount.missing_rate) == (1.0, 5.0, 0.25)
    with_label = expectations_from_profile(profile, features, label="y", include_label=True)
    assert with_label.names == ["country", "amount", "y"] and with_label.tolerated == ()
    assert with_label.columns[-1].min == 0.0 and with_label.columns[-1].dtype == "int"


def version(signature: Any, profile: dict[str, Any] | None) -> ModelVersion:
    return ModelVersion(
        name="fraud",
        version=3,
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
        status="active",
        format="sklearn",
        artifact_uri="mem://x",
        artifact_sha256="0" * 64,
        artifact_size=1,
        signature=signature,
        metrics={},
        params={},
        tags={},
        description=None,
        label="y",
        data_fingerprint=None,
        data_profile=profile,
        row_count=None,
        environment={},
        git_commit=None,
        parent_version=None,
    )


def test_expectations_for_version() -> None:
    from mlship.registry.model_version import Signature

    train = pd.DataFrame({"a": [1.0, 2.0], "y": [0, 1]})
    signature = Signature(features=(Feature("a", "float"),), output_kind="classification")
    expectations = expectations_for_version(version(signature, profile_frame(train)))
    assert expectations.names == ["a"] and expectations.tolerated == ("y",)
    with pytest.raises(ConfigError, match="fraud@3 has neither a signature nor"):
        expectations_for_version(version(None, None))


SCHEMA = {
    "columns": {
        "amount": {"dtype": "float", "min": 0, "max": 10000, "max_missing_rate": 0.01},
        "country": {"dtype": "string", "categories": ["DE", "FR"]},
        "note": {"dtype": "string", "required": False},
    },
    "min_rows": 100,
}


def test_schema_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(SCHEMA))
    expectations = load_schema(path)
    amount, country, note = expectations.columns
    assert (amount.min, amount.max) == (0.0, 10000.0)
    assert amount.tolerances == {"max_missing_rate": 0.01, "range_margin": 0.0}
    assert country.categories == frozenset({"DE", "FR"}) and note.required is False
    assert expectations.min_rows == 100

    again = tmp_path / "again.json"
    again.write_text(json.dumps(expectations.to_schema()))
    assert load_schema(again) == expectations

    train = pd.DataFrame({"a": [1.0, np.nan, 3.0], "c": ["x", "y", "x"]})
    from_profile = expectations_from_profile(profile_frame(train), label="c", include_label=True)
    assert (
        expectations_from_schema(json.loads(json.dumps(from_profile.to_schema()))).columns[1]
        == from_profile.columns[1]
    )


def test_schema_bounds_are_exact_and_its_tolerances_apply() -> None:
    expectations = expectations_from_schema(SCHEMA)
    amount = np.linspace(0, 10000, 200)
    amount[0] = -1.0
    amount[1:4] = np.nan  # 1.5 % missing, over the schema's 1 %
    frame = pd.DataFrame({"amount": amount, "country": ["DE", "FR"] * 100})
    results = by_name(validate_frame(frame, expectations))
    assert results["ranges:amount"].figures["low"] == 0.0
    assert results["ranges:amount"].figures["outside"] == 1
    assert results["missingness:amount"].failed
    assert results["missingness:amount"].figures["threshold"] == 0.01
    assert results["rows"].status == "pass"  # 200 rows >= the schema's 100
    assert results["schema:required_columns"].status == "pass"  # 'note' is optional


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", r"is not valid JSON: .* line 1"),
        ("[1, 2]", "The 'schema' option must be a JSON object"),
        ('{"columns": {}}', "The 'columns' option must be a non-empty object"),
        ('{"columns": {"a": {"dtype": "float"}}, "rows": 1}', r"'rows' \(did you mean 'min_rows'"),
        ('{"columns": {"a": {"dtype": "decimal"}}}', r"'columns\.a\.dtype' option must be one of"),
        ('{"columns": {"a": {"dtype": "float", "min": 5, "max": 1}}}', "at least min"),
        ('{"columns": {"a": {"dtype": "float", "max": "high"}}}', "'columns.a.max' option"),
        ('{"columns": {"a": {"dtype": "string", "min": 0}}}', "absent for a non-numeric"),
        ('{"columns": {"a": {"dtype": "float", "categories": ["x"]}}}', "a list of values"),
        ('{"columns": {"a": {"dtype": "float", "max_missing_rate": 2}}}', r"in \[0, 1\]"),
        ('{"columns": {"a": {"dtype": "float", "colour": 2}}}', r"in columns\.a: 'colour'"),
        ('{"columns": {"a": {"dtype": "float"}}, "min_rows": 0}', "an integer >= 1"),
        ('{"columns": {"a": "float"}}', r"'columns\.a' option must be an object"),
    ],
)
def test_malformed_schema_file(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "schema.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as info:
        load_schema(path)
    assert str(path) in info.value.message


def test_missing_schema_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_schema(tmp_path / "nope.json")


# --- property: data validated against its own profile passes -----------------------------------


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 60))
    finite = st.floats(-1e9, 1e9, allow_nan=False)
    columns: dict[str, Any] = {}
    for i in range(draw(st.integers(0, 3))):
        columns[f"f{i}"] = draw(
            st.lists(st.one_of(finite, st.just(np.nan)), min_size=n, max_size=n)
        )
    for i in range(draw(st.integers(0, 2))):
        columns[f"i{i}"] = draw(st.lists(st.integers(-(2**40), 2**40), min_size=n, max_size=n))
    text = st.one_of(st.none(), st.text(max_size=4))
    for i in range(draw(st.integers(0, 3))):
        columns[f"s{i}"] = pd.Series(
            draw(st.lists(text, min_size=n, max_size=n)),
            dtype=draw(st.sampled_from(["str", "object", "category"])),
        )
    if draw(st.booleans()):
        columns["b"] = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    if not columns:
        columns["x"] = [0.0] * n
    return pd.DataFrame({k: pd.Series(v) if isinstance(v, list) else v for k, v in columns.items()})


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_a_frame_passes_against_its_own_profile(frame: pd.DataFrame) -> None:
    expectations = expectations_from_profile(profile_frame(frame))
    strict = ValidationConfig(severity=dict.fromkeys(("ranges", "categories"), "error"))
    results = validate_frame(frame, expectations, strict)
    assert [r for r in results if r.status not in ("pass", "skip")] == []
