"""The ``mlship models`` commands, run as a user runs them: a subprocess, exit code and output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import fit_logreg

RunCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_cli(tmp_path: Path, db_url: str) -> RunCli:
    env = {
        **os.environ,
        "MLSHIP_HOME": str(tmp_path / "home"),
        "MLSHIP_DB_URL": db_url,
        "MLSHIP_ACTOR": "cli-test",
        "COLUMNS": "200",
    }

    def run(
        *args: str, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mlship", *args],
            env={**env, **(extra_env or {})},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


@pytest.fixture
def files(tmp_path: Path, numeric_frame: pd.DataFrame) -> dict[str, Path]:
    import joblib
    import skops.io as sio

    model = fit_logreg(numeric_frame)
    paths = {
        "skops": tmp_path / "model.skops",
        "joblib": tmp_path / "model.joblib",
        "train": tmp_path / "train.parquet",
        "metrics": tmp_path / "metrics.json",
    }
    sio.dump(model, paths["skops"])
    joblib.dump(model, paths["joblib"])
    numeric_frame.to_parquet(paths["train"])
    paths["metrics"].write_text('{"f1": 0.81, "auc": 0.9}')
    return paths


def test_register_show_list_alias_history_diff(run_cli: RunCli, files: dict[str, Path]) -> None:
    first = run_cli(
        "models",
        "register",
        "fraud",
        str(files["skops"]),
        "--train-data",
        str(files["train"]),
        "--label",
        "is_fraud",
        "--metrics",
        str(files["metrics"]),
        "--params",
        '{"C": 1.0}',
        "--tag",
        "team=risk",
        "--json",
    )
    assert first.returncode == 0, first.stderr
    v1 = json.loads(first.stdout)
    assert (v1["name"], v1["version"], v1["metrics"]["f1"]) == ("fraud", 1, 0.81)
    assert v1["tags"] == {"team": "risk"}
    assert v1["data"]["rows"] == 600

    second = run_cli(
        "models",
        "register",
        "fraud",
        str(files["skops"]),
        "--metrics",
        '{"f1": 0.85}',
        "--alias",
        "production",
    )
    assert second.returncode == 0, second.stderr
    assert "Registered fraud@2" in second.stdout

    shown = run_cli("models", "show", "fraud@production")
    assert shown.returncode == 0
    assert "fraud@2" in shown.stdout and "production" in shown.stdout and "0.85" in shown.stdout

    listed = json.loads(run_cli("models", "list", "--json").stdout)
    assert listed[0]["name"] == "fraud" and listed[0]["aliases"] == {"production": 2}
    versions = run_cli("models", "list", "fraud")
    assert versions.returncode == 0 and "f1=0.81" in versions.stdout

    moved = run_cli("models", "alias", "fraud@1", "production", "--reason", "roll back")
    assert moved.returncode == 0 and "version 1" in moved.stdout

    history = json.loads(run_cli("models", "history", "fraud", "--json").stdout)
    assert [e["kind"] for e in history] == ["registered", "registered", "alias_set", "alias_set"]
    assert history[-1]["reason"] == "roll back" and history[-1]["actor"] == "cli-test"
    at = run_cli(
        "models", "history", "fraud", "--alias", "production", "--at", history[2]["at"], "--json"
    )
    assert json.loads(at.stdout)["version"] == 2

    diff = json.loads(run_cli("models", "diff", "fraud@1", "fraud@2", "--json").stdout)
    f1 = diff["sections"]["metrics"]["f1"]
    assert (f1["a"], f1["b"]) == (0.81, 0.85)
    assert f1["delta"] == pytest.approx(0.04)
    table = run_cli("models", "diff", "fraud@1", "fraud@2")
    assert table.returncode == 0 and "+0.04" in table.stdout


def test_archive_refused_while_aliased(run_cli: RunCli, files: dict[str, Path]) -> None:
    run_cli("models", "register", "fraud", str(files["skops"]), "--alias", "production")
    refused = run_cli("models", "archive", "fraud@1")
    assert refused.returncode == 2
    assert "carries the alias(es) production" in refused.stderr
    run_cli("models", "alias", "fraud", "production", "--delete")
    assert run_cli("models", "archive", "fraud@1").returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["models", "show", "frud"], "No model named 'frud'"),
        (["models", "register", "fraud", "model.joblib"], "pass trusted=True (CLI: --trusted)"),
        (["models", "register", "fraud", "model.skops", "--metrics", "{bad"], "invalid JSON"),
        (["models", "register", "fraud", "model.skops", "--tag", "nokey"], "KEY=VALUE"),
        (
            ["models", "register", "fraud", "model.skops", "--tag", "mlship.train={}"],
            "The tag 'mlship.train' is reserved: tags starting with 'mlship.' are mlship's own",
        ),
        (
            [
                "models",
                "register",
                "fraud",
                "model.skops",
                "--train-data",
                "train.parquet",
                "--label",
                "fraud",
            ],
            "no label column 'fraud'",
        ),
        (["models", "alias", "fraud@1", "latest"], "reserved"),
    ],
)
def test_user_errors_are_one_line_with_exit_code_2(
    run_cli: RunCli, files: dict[str, Path], args: list[str], message: str
) -> None:
    if args[1] in ("show", "alias"):
        run_cli("models", "register", "fraud", str(files["skops"]))
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_trusted_joblib_registers(run_cli: RunCli, files: dict[str, Path]) -> None:
    result = run_cli("models", "register", "fraud", str(files["joblib"]), "--trusted", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["format"] == "sklearn"


def test_show_says_what_loading_the_artifact_trusts(
    run_cli: RunCli, files: dict[str, Path]
) -> None:
    assert run_cli("models", "register", "fraud", str(files["skops"])).returncode == 0
    trusted = run_cli("models", "register", "fraud", str(files["joblib"]), "--trusted")
    assert trusted.returncode == 0, trusted.stderr

    untrusted_text = run_cli("models", "show", "fraud@1").stdout
    trusted_text = run_cli("models", "show", "fraud@2").stdout
    assert re.search(r"^trusted +no *$", untrusted_text, flags=re.M), untrusted_text
    assert re.search(
        r"^trusted +yes \(joblib pickle: loading runs the artifact's code\) *$",
        trusted_text,
        flags=re.M,
    ), trusted_text
    shown = [json.loads(run_cli("models", "show", f"fraud@{v}", "--json").stdout) for v in (1, 2)]
    assert shown[0]["trust"] == {"trusted": False, "serializer": "skops", "trusted_types": []}
    assert shown[1]["trust"] == {"trusted": True, "serializer": "joblib", "trusted_types": []}
    history = json.loads(run_cli("models", "history", "fraud", "--json").stdout)
    assert [(e["kind"], e["details"]["trusted"]) for e in history] == [
        ("registered", False),
        ("registered", True),
    ]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_unreachable_database_is_one_line_with_masked_password(run_cli: RunCli) -> None:
    result = run_cli(
        "models",
        "list",
        extra_env={"MLSHIP_DB_URL": "postgresql+psycopg://bob:s3cret@127.0.0.1:1/mlship"},
    )
    assert result.returncode == 2
    assert "bob:***@127.0.0.1:1/mlship" in result.stderr
    assert "s3cret" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
