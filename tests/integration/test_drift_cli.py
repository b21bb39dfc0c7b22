"""``mlship drift`` from the shell: files and prediction logs, verdicts, exit codes, JSON, HTML."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlship.monitoring.windows import read_window
from mlship.registry import Registry
from mlship.serving.prediction_log import PredictionLog, PredictionRecord
from mlship.store import utcnow
from tests.conftest import fit_pipeline, make_transactions

RunCli = Callable[..., subprocess.CompletedProcess[str]]

FEATURE_KEYS = {
    "kind",
    "test",
    "statistic",
    "p_value",
    "p_value_adjusted",
    "effect",
    "effect_name",
    "threshold",
    "drift",
    "drift_reasons",
    "reason",
    "approximate",
    "count",
    "missing",
    "new_categories",
    "stats",
}
TOP_KEYS = {
    "schema_version",
    "dataset_drift",
    "prediction_drift",
    "dataset",
    "reference",
    "current",
    "features",
    "prediction",
    "skipped",
    "options",
    "source",
}
SOURCE_KEYS = {"model", "reference_version", "reference_file", "current_file", "window"}


def _frame(rows: int, seed: int, shift: float) -> pd.DataFrame:
    """Transactions; ``shift`` > 0 scales amounts up and moves countries towards US."""
    frame = make_transactions(rows, seed)
    if shift:
        rng = np.random.default_rng(seed + 100)
        frame["amount"] = frame["amount"] * (1 + shift)
        frame["country"] = rng.choice(["DE", "FR", "US"], rows, p=[0.15, 0.15, 0.7])
    return frame


def _cli(folder: Path, env: dict[str, str]) -> RunCli:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mlship", "drift", *args],
            env=env,
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=300,
        )

    return run


def _one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    text = " ".join(result.stderr.split())
    assert text.startswith("Error:"), text
    for fragment in fragments:
        assert fragment in text, text


# ------------------------------------------------------------------------------------- files


@pytest.fixture(scope="module")
def on_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunCli, Path]:
    folder = tmp_path_factory.mktemp("drift-files")
    for name, seed, shift in (("ref", 1, 0.0), ("same", 2, 0.0), ("shifted", 3, 0.8)):
        frame = _frame(2000, seed, shift).drop(columns=["is_fraud"])
        frame["prediction"] = np.random.default_rng(seed).normal(0.3 + shift, 1, len(frame))
        frame["at"] = pd.date_range("2024-05-01", periods=len(frame), freq="min", tz="UTC")
        frame.to_parquet(folder / f"{name}.parquet")
    frame.drop(columns=["hour"]).to_csv(folder / "no_hour.csv", index=False)
    pd.DataFrame({"other": [1, 2, 3]}).to_csv(folder / "other.csv", index=False)
    (folder / "broken.parquet").write_bytes(b"not a parquet file")
    env = {**os.environ, "MLSHIP_HOME": str(folder / "home"), "COLUMNS": "200"}
    return _cli(folder, env), folder


def test_files_without_shift_report_no_drift_and_exit_0(on_files: tuple[RunCli, Path]) -> None:
    run, _ = on_files
    for extra in ([], ["--fail-on-drift"]):
        result = run("--reference", "ref.parquet", "--current", "same.parquet", *extra)
        assert result.returncode == 0, result.stderr
        assert "NO DATASET DRIFT" in result.stdout
        for column in ("feature", "test", "statistic", "p-value", "effect", "verdict"):
            assert column in result.stdout
        assert "DRIFT " not in result.stdout.replace("NO DATASET DRIFT", "")


def test_shifted_files_drift_and_fail_only_when_asked(on_files: tuple[RunCli, Path]) -> None:
    run, _ = on_files
    result = run("--reference", "ref.parquet", "--current", "shifted.parquet")
    assert result.returncode == 0, result.stderr
    assert "DATASET DRIFT" in result.stdout and "NO DATASET DRIFT" not in result.stdout
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert "DRIFT" in rows["amount"] and "DRIFT" in rows["country"]
    assert "ok" in rows["distance"] and "ok" in rows["hour"]
    assert "DRIFT" in rows["prediction (prediction)"]
    failed = run("--reference", "ref.parquet", "--current", "shifted.parquet", "--fail-on-drift")
    assert failed.returncode == 1
    assert "drift found in shifted.parquet: the dataset (amount, country) and the predictions" in (
        " ".join(failed.stderr.split())
    )


def test_json_shape_is_stable(on_files: tuple[RunCli, Path]) -> None:
    """Check the documented shape scripts rely on (docs: README, 'Drift reports')."""
    run, _ = on_files
    result = run(
        "--reference", "ref.parquet", "--current", "shifted.parquet", "--json",
        "--test", "amount=psi", "--features", "amount,country,distance",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) == TOP_KEYS
    assert out["schema_version"] == 1
    assert out["dataset_drift"] is True and out["prediction_drift"] is True
    assert set(out["features"]) == {"amount", "country", "distance"}
    for feature in [*out["features"].values(), out["prediction"]]:
        assert set(feature) == FEATURE_KEYS
        assert isinstance(feature["drift"], bool)
    amount, country = out["features"]["amount"], out["features"]["country"]
    assert amount["test"] == "psi" and amount["statistic"] == amount["stats"]["psi"]
    assert amount["drift"] is True and out["features"]["distance"]["drift"] is False
    assert set(amount["stats"]) == {"ks", "wasserstein", "wasserstein_norm", "psi", "js"}
    assert set(amount["stats"]["ks"]) == {"statistic", "p_value"}
    assert amount["p_value"] == amount["stats"]["ks"]["p_value"]
    assert {"chi2", "psi", "js"} <= set(country["stats"])
    assert out["options"]["features"] == {"amount": {"test": "psi"}}
    assert out["reference"] == {"source": "frame", "rows": 2000}
    assert out["source"] == {
        "model": None,
        "reference_version": None,
        "reference_file": "ref.parquet",
        "current_file": "shifted.parquet",
        "window": None,
    }


def test_html_report_is_self_contained(on_files: tuple[RunCli, Path]) -> None:
    run, folder = on_files
    args = ["--reference", "ref.parquet", "--current", "shifted.parquet", "--html"]
    result = run(*args, "report.html", "--time-column", "at", "--slices", "4")
    assert result.returncode == 0, result.stderr
    assert "Wrote report.html" in result.stdout
    page = (folder / "report.html").read_text(encoding="utf-8")
    charts = re.findall(r'<svg class="feature-chart" data-feature="([^"]+)"', page)
    assert sorted(charts) == ["amount", "country", "distance", "hour", "prediction"]
    assert page.count('<svg class="timeline"') == 1
    assert not re.search(r"https?://", page)
    assert "<script" not in page and "<link" not in page
    assert page.index("Dataset drift detected") < page.index("<table")
    untimed = run(*args, "untimed.html")
    assert untimed.returncode == 0, untimed.stderr
    assert "pass --time-column" in (folder / "untimed.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--reference", "ref.parquet", "--current", "missing.parquet"], ["does not exist"]),
        (["--reference", "ref.parquet", "--current", "broken.parquet"], ["Cannot read"]),
        (["--reference", "ref.parquet", "--current", "other.csv"], ["no column in common"]),
        (
            ["--reference", "no_hour.csv", "--current", "ref.parquet", "--features", "hour"],
            ["reference data has no column 'hour'"],
        ),
        (["--reference", "ref.parquet", "--current", "a.txt"], ["does not exist"]),
        (["--reference", "ref.parquet"], ["Pass a model"]),
        (
            ["--reference", "ref.parquet", "--current", "same.parquet", "--test", "country=ks"],
            ["'test' option of feature 'country'"],
        ),
        (
            ["--reference", "ref.parquet", "--current", "same.parquet", "--window", "1h"],
            ["apply to a model's log only"],
        ),
    ],
)
def test_file_errors_are_one_line(
    on_files: tuple[RunCli, Path], args: list[str], fragments: list[str]
) -> None:
    run, _ = on_files
    _one_line_error(run(*args), *fragments)


# ------------------------------------------------------------------------------ prediction log


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``fraud`` v1 and v2 registered with training data; the log holds 30 shifted requests
    of v1 (stable) and 10 of v2 (candidate) over the last 10 hours, plus requests that must
    not count: 3 days old, failed, and shadow copies.

    The store contract runs on every backend elsewhere; the shell behaviour needs one, built
    once for the module (no test changes it).
    """
    tmp_path = tmp_path_factory.mktemp("drift-log")
    db_url = f"sqlite:///{tmp_path / 'mlship.db'}"
    env = {
        **os.environ,
        "MLSHIP_HOME": str(tmp_path / "home"),
        "MLSHIP_DB_URL": db_url,
        "COLUMNS": "200",
    }
    train = _frame(3000, 0, 0.0)
    model = fit_pipeline(train)
    registry = Registry.from_env(env)
    for _ in range(2):
        registry.register(model, "fraud", train_data=train, label="is_fraud")
    registry.register(model, "bare")
    features = train.drop(columns=["is_fraud"])
    train.assign(prediction=model.predict(features)).to_parquet(tmp_path / "train.parquet")
    now = utcnow()
    current = _frame(2000, 7, 0.8).drop(columns=["is_fraud"])
    old = _frame(500, 8, 0.0).drop(columns=["is_fraud"])

    def record(rid: str, hours: float, version: int, role: str, rows: pd.DataFrame) -> None:
        inputs = rows.to_dict("records")
        outputs = model.predict(rows).tolist()
        at = now - timedelta(hours=hours)
        plog.record(PredictionRecord(rid, at, "fraud", version, role, inputs, outputs, 2.0))

    with PredictionLog(registry.store, tmp_path / "spill") as plog:
        for i in range(40):
            rows = current.iloc[i * 50 : (i + 1) * 50]
            version, role = (1, "stable") if i < 30 else (2, "candidate")
            record(f"r-{i}", 10 - i * 0.25, version, role, rows)
            if i % 4 == 0:
                record(f"r-{i}", 10 - i * 0.25, 2, "shadow", rows)
        for i in range(10):
            record(f"old-{i}", 72 + i, 1, "stable", old.iloc[i * 50 : (i + 1) * 50])
        bad = current.iloc[:5].to_dict("records")
        plog.record(PredictionRecord("bad", now, "fraud", 1, "stable", bad, None, 1.0, "boom"))
        plog.record(PredictionRecord("b-1", now, "bare", 1, "stable", bad, [0] * 5, 1.0))
        assert plog.flush()
    registry.close()
    return {"run": _cli(tmp_path, env), "dir": tmp_path, "db_url": db_url, "now": now}


def test_window_of_the_log_drifts_against_the_training_profile(logged: dict[str, Any]) -> None:
    run = logged["run"]
    result = run("fraud", "--window", "24h", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) == TOP_KEYS
    window = out["source"]["window"]
    assert set(out["source"]) == SOURCE_KEYS
    assert out["source"]["model"] == "fraud" and out["source"]["reference_version"] == 2
    assert window["requests"] == 40 and window["rows"] == 2000
    assert window["versions"] == [1, 2] and window["truncated"] is False
    assert out["reference"] == {"source": "profile", "rows": 3000}
    assert out["dataset_drift"] is True
    drift = {name: f["drift"] for name, f in out["features"].items()}
    assert drift == {"amount": True, "hour": False, "distance": False, "country": True}
    assert out["prediction"] is None  # the training profile holds no predictions
    table = run("fraud", "--window", "24h")
    assert table.returncode == 0, table.stderr
    assert "DATASET DRIFT" in table.stdout and "40 requests, 2,000 rows" in table.stdout
    assert "Prediction drift not compared" in table.stdout


def test_a_version_and_a_reference_file_with_predictions(logged: dict[str, Any]) -> None:
    run = logged["run"]
    result = run("fraud@2", "--window", "24h", "--json")
    assert result.returncode == 0, result.stderr
    window = json.loads(result.stdout)["source"]["window"]
    # v2's own predictions: 10 as candidate, 10 shadow copies.
    assert window["requests"] == 20 and window["versions"] == [2]
    result = run(
        "fraud", "--window", "24h", "--reference", "train.parquet", "--json", "--fail-on-drift"
    )
    assert result.returncode == 1, result.stderr
    out = json.loads(result.stdout)
    assert out["reference"]["source"] == "frame"
    assert out["prediction"]["drift"] is True and out["prediction_drift"] is True
    assert "is_fraud" not in out["features"]
    assert out["source"]["reference_file"] == "train.parquet"


def test_html_of_the_log_shows_drift_over_time(logged: dict[str, Any]) -> None:
    run, folder = logged["run"], logged["dir"]
    result = run("fraud", "--since", (logged["now"] - timedelta(hours=11)).isoformat(), "--html",
                 "fraud.html", "--slices", "5")  # fmt: skip
    assert result.returncode == 0, result.stderr
    page = (folder / "fraud.html").read_text(encoding="utf-8")
    assert page.count('class="feature-chart"') == 4
    chart = page[page.index('<svg class="timeline"') :]
    chart = chart[: chart.index("</svg>")]
    assert chart.count("<path ") == 4 and chart.count("<circle ") == 20
    assert "Drift report: fraud" in page and "40 requests" in page


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (
            ["fraud", "--window", "1m"],
            ["no predictions for fraud in the last 1m; is the server logging predictions?"],
        ),
        (
            ["fraud@1", "--since", "2020-01-01T00:00", "--window", "1h"],
            ["no predictions for fraud@1 from 2020-01-01 00:00 to 2020-01-01 01:00 UTC"],
        ),
        (["nope"], ["No model named 'nope'"]),
        (["fraud@9"], ["has no version 9"]),
        (["bare"], ["bare@1 was registered without training data", "--reference"]),
        (["fraud", "--window", "soon"], ["'window' option must be a duration"]),
        (["fraud", "--since", "yesterday"], ["'since' option must be an ISO 8601 time"]),
        (["fraud", "--current", "x.csv"], ["drop --current"]),
        (["fraud", "--features", "amount,colour"], ["no column 'colour'"]),
        (["fraud", "--threshold", "amount=big"], ["'threshold' option must be a number"]),
    ],
)
def test_log_errors_are_one_line(
    logged: dict[str, Any], args: list[str], fragments: list[str]
) -> None:
    _one_line_error(logged["run"](*args), *fragments)


def test_read_window_keeps_the_most_recent_requests(logged: dict[str, Any]) -> None:
    from mlship.store import open_store

    store = open_store(logged["db_url"])
    try:
        now = logged["now"]
        window = read_window(store, "fraud", now - timedelta(hours=24), now, max_requests=8)
        assert window.truncated and window.requests == 8 and window.rows == 400
        assert window.versions == (2,)  # the last ten requests went to v2
        assert window.features == ["amount", "hour", "distance", "country"]
        assert window.prediction == "prediction"
        assert window.frame["prediction"].isin([0, 1]).all()
        assert np.all(np.diff(window.times) >= 0) and len(window.times) == 400
        everything = read_window(store, "fraud", now - timedelta(days=30), now + timedelta(1))
        assert everything.requests == 50 and not everything.truncated
    finally:
        store.close()


# ------------------------------------------------------- missing values and new categories


def _amounts(rows: int, missing: float, seed: int) -> pd.Series:
    """Amounts of one distribution, the first ``missing`` share of them missing."""
    values = pd.Series(np.random.default_rng(seed).gamma(2.0, 30.0, rows))
    values.iloc[: round(rows * missing)] = np.nan
    return values


def _countries(rows: int, new: float, seed: int) -> pd.Series:
    """Countries DE, FR and US; the first ``new`` share of them BR, never seen in training."""
    values = pd.Series(np.random.default_rng(seed).choice(["DE", "FR", "US"], rows), dtype="str")
    values.iloc[: round(rows * new)] = "BR"
    return values


def _rows(stdout: str) -> dict[str, str]:
    return {line.split("│")[1].strip(): line for line in stdout.splitlines() if "│" in line}


@pytest.fixture(scope="module")
def on_gaps(tmp_path_factory: pytest.TempPathFactory) -> RunCli:
    """Amounts (10,000 rows, 1 % missing in the reference) and countries (250,000 rows)."""
    folder = tmp_path_factory.mktemp("drift-gaps")
    for name, missing, seed in (("ref", 0.01, 1), ("spike", 0.25, 2), ("small", 0.02, 3)):
        frame = pd.DataFrame({"amount": _amounts(10_000, missing, seed)})
        frame["country"] = _countries(10_000, 0.0, seed)
        frame.to_parquet(folder / f"amounts-{name}.parquet")
    for name, new, seed in (("ref", 0.0, 1), ("2", 0.02, 2), ("1.5", 0.015, 3), ("0.5", 0.005, 4)):
        frame = pd.DataFrame({"country": _countries(250_000, new, seed)})
        frame.to_parquet(folder / f"countries-{name}.parquet")
    env = {**os.environ, "MLSHIP_HOME": str(folder / "home"), "COLUMNS": "200"}
    return _cli(folder, env)


def test_a_spike_of_missing_values_drifts_and_the_table_says_so(on_gaps: RunCli) -> None:
    """Check missing 1 % -> 25 %, the other values from the same distribution."""
    args = ["--reference", "amounts-ref.parquet", "--current", "amounts-spike.parquet"]
    result = on_gaps(*args)
    assert result.returncode == 0, result.stderr
    assert "DATASET DRIFT" in result.stdout and "NO DATASET DRIFT" not in result.stdout
    rows = _rows(result.stdout)
    assert "DRIFT: missing 1 % → 25 %" in rows["amount"]
    assert "ok" in rows["country"]
    out = json.loads(on_gaps(*args, "--json").stdout)
    amount = out["features"]["amount"]
    assert set(amount) == FEATURE_KEYS
    assert amount["drift"] is True and amount["drift_reasons"] == ["missing"]
    assert amount["effect"] < amount["threshold"]  # the values themselves did not drift
    missing = amount["missing"]
    assert (missing["reference"], missing["current"], missing["threshold"]) == (0.01, 0.25, 0.05)
    assert missing["drift"] is True and missing["p_value_adjusted"] < 1e-100
    assert out["dataset"]["bh"]["drifted"] == ["amount"]
    failed = on_gaps(*args, "--fail-on-drift")
    assert failed.returncode == 1 and "the dataset (amount)" in " ".join(failed.stderr.split())


def test_a_small_rise_of_missing_values_is_not_drift(on_gaps: RunCli) -> None:
    """Check 1 % -> 2 % on 10,000 rows: significant, but below the five points that count."""
    args = ["--reference", "amounts-ref.parquet", "--current", "amounts-small.parquet"]
    result = on_gaps(*args)
    assert result.returncode == 0, result.stderr
    assert "NO DATASET DRIFT" in result.stdout
    assert "missing" not in _rows(result.stdout)["amount"]
    missing = json.loads(on_gaps(*args, "--json").stdout)["features"]["amount"]["missing"]
    assert missing["current"] == 0.02 and missing["p_value"] < 1e-6 and missing["drift"] is False


@pytest.mark.parametrize(
    ("current", "drifts", "shown"),
    [("2", True, "2 %"), ("1.5", True, "1.5 %"), ("0.5", False, None)],
)
def test_a_common_new_category_drifts_and_is_named(
    on_gaps: RunCli, current: str, drifts: bool, shown: str | None
) -> None:
    """Check a category never seen in training at 2 % and 1.5 % of 250,000 values (1.5 %: the
    Jensen-Shannon distance, 0.087, is below its threshold), and at 0.5 % (not drift)."""
    args = ["--reference", "countries-ref.parquet", "--current", f"countries-{current}.parquet"]
    result = on_gaps(*args)
    assert result.returncode == 0, result.stderr
    row = _rows(result.stdout)["country"]
    if drifts:
        assert "DATASET DRIFT" in result.stdout and "NO DATASET DRIFT" not in result.stdout
        assert f"new categories {shown} (BR)" in row
    else:
        assert "NO DATASET DRIFT" in result.stdout and "ok" in row
    country = json.loads(on_gaps(*args, "--json").stdout)["features"]["country"]
    new = country["new_categories"]
    assert new["values"] == ["BR"] and new["drift"] is drifts and new["threshold"] == 0.01
    assert ("new_categories" in country["drift_reasons"]) is drifts
    if current == "1.5":
        assert country["drift_reasons"] == ["new_categories"]


def test_the_missing_and_new_category_thresholds_are_options(on_gaps: RunCli) -> None:
    spike = ["--reference", "amounts-ref.parquet", "--current", "amounts-spike.parquet"]
    lenient = on_gaps(*spike, "--missing-threshold", "0.3", "--json")
    assert lenient.returncode == 0, lenient.stderr
    out = json.loads(lenient.stdout)
    assert out["features"]["amount"]["drift"] is False and out["dataset_drift"] is False
    assert out["options"]["missing_threshold"] == 0.3
    new = ["--reference", "countries-ref.parquet", "--current", "countries-1.5.parquet"]
    result = on_gaps(*new, "--new-category-threshold", "0.02")
    assert result.returncode == 0, result.stderr
    assert "NO DATASET DRIFT" in result.stdout
    _one_line_error(
        on_gaps(*spike, "--missing-threshold", "5"),
        "The 'missing_threshold' option must be a share between 0 and 1. Got 5.0 instead.",
    )
    _one_line_error(
        on_gaps(*new, "--new-category-threshold", "-0.01"),
        "The 'new_category_threshold' option must be a share between 0 and 1.",
    )


@pytest.fixture(scope="module")
def gaps_logged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``gaps`` v1 registered with 10,000 training rows (amounts 1 % missing, no BR); its log
    holds 10,000 rows 10 hours ago (amounts 25 % missing, 2 % BR) and 10,000 rows 2 hours ago
    (2 % missing, 0.5 % BR)."""
    from sklearn.dummy import DummyClassifier

    tmp_path = tmp_path_factory.mktemp("drift-gaps-log")
    env = {
        **os.environ,
        "MLSHIP_HOME": str(tmp_path / "home"),
        "MLSHIP_DB_URL": f"sqlite:///{tmp_path / 'mlship.db'}",
        "COLUMNS": "200",
    }
    train = pd.DataFrame({"amount": _amounts(10_000, 0.01, 1), "country": _countries(10_000, 0, 1)})
    labels = np.random.default_rng(0).integers(0, 2, len(train))
    registry = Registry.from_env(env)
    registry.register(DummyClassifier().fit(train, labels), "gaps", train_data=train)
    now = utcnow()
    batches = {
        "bad": (10.0, _amounts(10_000, 0.25, 2), _countries(10_000, 0.02, 2)),
        "good": (2.0, _amounts(10_000, 0.02, 3), _countries(10_000, 0.005, 3)),
    }
    with PredictionLog(registry.store, tmp_path / "spill") as plog:
        for prefix, (hours, amounts, countries) in batches.items():
            frame = pd.DataFrame({"amount": amounts, "country": countries})
            frame = frame.sample(frac=1.0, random_state=0)  # the gaps spread over requests
            for i in range(20):
                rows = frame.iloc[i * 500 : (i + 1) * 500]
                inputs = rows.astype(object).where(rows.notna(), None).to_dict("records")
                at = now - timedelta(hours=hours, minutes=20 - i)
                record = PredictionRecord(
                    f"{prefix}-{i}", at, "gaps", 1, "stable", inputs, [0] * len(rows), 1.0
                )
                plog.record(record)
        assert plog.flush()
    registry.close()
    return {"run": _cli(tmp_path, env), "now": now}


def test_the_training_profile_judges_missing_values_and_new_categories(
    gaps_logged: dict[str, Any],
) -> None:
    """Check the profile path: the reference is the stored profile's counts."""
    run, now = gaps_logged["run"], gaps_logged["now"]
    bad = ["gaps", "--since", (now - timedelta(hours=12)).isoformat(), "--window", "4h"]
    out = json.loads(run(*bad, "--json").stdout)
    assert out["reference"] == {"source": "profile", "rows": 10_000}
    assert out["source"]["window"]["rows"] == 10_000
    amount, country = out["features"]["amount"], out["features"]["country"]
    assert amount["drift_reasons"] == ["missing"]
    assert (amount["missing"]["reference"], amount["missing"]["current"]) == (0.01, 0.25)
    assert "new_categories" in country["drift_reasons"]
    assert country["new_categories"]["values"] == ["BR"]
    assert country["new_categories"]["share"] == 0.02
    assert out["dataset_drift"] is True
    table = run(*bad)
    assert table.returncode == 0, table.stderr
    rows = _rows(table.stdout)
    assert "DRIFT: missing 1 % → 25 %" in rows["amount"]
    assert "new categories 2 % (BR)" in rows["country"]

    good = run("gaps", "--window", "3h", "--json")
    assert good.returncode == 0, good.stderr
    out = json.loads(good.stdout)
    assert out["source"]["window"]["rows"] == 10_000
    assert out["dataset_drift"] is False
    assert {name: f["drift"] for name, f in out["features"].items()} == {
        "amount": False,
        "country": False,
    }
    assert out["features"]["amount"]["missing"]["current"] == 0.02
    assert out["features"]["country"]["new_categories"]["share"] == 0.005
