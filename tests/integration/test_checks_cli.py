"""``mlship check`` and ``mlship gate`` from the shell: exit codes, reports CI systems read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.integration.test_gates import fit, make_frame

# The store contract runs on every backend elsewhere; the shell behaviour needs one.
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def fitted() -> dict[str, object]:
    """The two models and the data, fitted once for the module."""
    train = make_frame(3000, 1)
    weak = train.copy()
    weak["x2"] = np.random.default_rng(5).permutation(weak["x2"].to_numpy())
    return {"train": train, "weak": fit(weak), "good": fit(train), "holdout": make_frame(2000, 2)}


@pytest.fixture
def project(tmp_path: Path, db_url: str, fitted: dict[str, object]) -> dict[str, object]:
    from mlship.registry import Registry

    holdout = fitted["holdout"]
    assert isinstance(holdout, pd.DataFrame)
    holdout.to_parquet(tmp_path / "holdout.parquet")
    holdout.drop(columns=["x3"]).to_csv(tmp_path / "no_x3.csv", index=False)
    env = {
        **os.environ,
        "MLSHIP_HOME": str(tmp_path / "home"),
        "MLSHIP_DB_URL": db_url,
        "COLUMNS": "200",
    }
    # Registration through the CLI is tested in test_cli.py; here the API is quicker.
    registry = Registry.from_env(env)
    for name in ("weak", "good"):
        registry.register(fitted[name], "fraud", train_data=fitted["train"], label="label")
    registry.close()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mlship", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )

    return {"run": run, "dir": tmp_path}


def test_gate_pass_writes_junit_markdown_json_and_blesses(project: dict[str, object]) -> None:
    from junitparser import JUnitXml

    run, folder = project["run"], project["dir"]
    assert isinstance(folder, Path)
    result = run(
        "gate",
        "fraud@2",
        "--against",
        "fraud@1",
        "--data",
        "holdout.parquet",
        "--metric",
        "f1",
        "--slice",
        "country",
        "--resamples",
        "300",
        "--junit",
        "out/gate.xml",
        "--markdown",
        "out/gate.md",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "GATE PASS fraud@2 against fraud@1" in result.stdout
    suites = JUnitXml.fromfile(str(folder / "out" / "gate.xml"))
    suite = next(iter(suites))
    assert suite.tests >= 6 and suite.failures == 0
    names = {case.name for case in suite}
    assert {"gate:f1", "gate:f1:bootstrap", "gate:f1:slice:country=FR"} <= names
    markdown = (folder / "out" / "gate.md").read_text()
    assert "mlship gate: fraud@2" in markdown and "| f1 |" in markdown
    shown = json.loads(run("models", "show", "fraud@2", "--json").stdout)
    assert shown["blessed"] is True


def test_gate_fail_exits_1_and_says_why(project: dict[str, object]) -> None:
    run = project["run"]
    result = run(
        "gate",
        "fraud@1",
        "--against",
        "fraud@2",
        "--data",
        "holdout.parquet",
        "--resamples",
        "200",
        "--json",
    )
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["verdict"] == "fail" and report["summary"]["difference"] < -0.1
    assert "gate failed for fraud@1" in result.stderr and "gate:f1" in result.stderr
    shown = run("models", "show", "fraud@1")
    assert "NO (latest gate failed)" in shown.stdout


def test_check_fails_on_missing_column_with_junit(project: dict[str, object]) -> None:
    from junitparser import JUnitXml

    run, folder = project["run"], project["dir"]
    assert isinstance(folder, Path)
    result = run(
        "check",
        "fraud@2",
        "--data",
        "no_x3.csv",
        "--no-memory",
        "--junit",
        "check.xml",
    )
    assert result.returncode == 1
    assert "x3" in result.stdout
    suite = next(iter(JUnitXml.fromfile(str(folder / "check.xml"))))
    assert suite.failures >= 1


def test_check_passes_on_clean_data(project: dict[str, object]) -> None:
    result = project["run"]("check", "fraud@2", "--data", "holdout.parquet", "--no-memory")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "CHECK PASS" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--label", "nope"], "no label column 'nope'"),
        (["--slice", "device"], "Slice column(s) not in the holdout: device"),
        (["--metric", "f2"], "roc_auc"),
        (["--tolerance", "-1"], "'tolerance' option must be a number >= 0"),
    ],
)
def test_gate_usage_errors_exit_2(
    project: dict[str, object], args: list[str], message: str
) -> None:
    result = project["run"](
        "gate",
        "fraud@2",
        "--against",
        "fraud@1",
        "--data",
        "holdout.parquet",
        *args,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_gates_from_mlship_toml_with_flag_override(project: dict[str, object]) -> None:
    run, folder = project["run"], project["dir"]
    assert isinstance(folder, Path)
    (folder / "mlship.toml").write_text(
        '[gates]\nmetric = "roc_auc"\ntolerance = 0.5\nresamples = 200\n'
    )
    loose = run(
        "gate",
        "fraud@1",
        "--against",
        "fraud@2",
        "--data",
        "holdout.parquet",
        "--json",
    )
    assert json.loads(loose.stdout)["summary"]["metric"] == "roc_auc"
    assert loose.returncode == 0
    strict = run(
        "gate",
        "fraud@1",
        "--against",
        "fraud@2",
        "--data",
        "holdout.parquet",
        "--tolerance",
        "0.01",
        "--json",
    )
    assert strict.returncode == 1
    (folder / "mlship.toml").write_text("[gates]\nmetrik = 'f1'\n")
    typo = run("gate", "fraud@1", "--data", "holdout.parquet")
    assert typo.returncode == 2 and "Unknown gate option(s): metrik" in typo.stderr
