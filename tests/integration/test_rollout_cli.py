"""The rollout commands from the shell: deploy, status, pause, resume, promote, rollback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mlship.registry import Registry
from tests.conftest import fit_logreg

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def test_canary_lifecycle_from_the_shell(
    tmp_path: Path, db_url: str, numeric_frame: pd.DataFrame
) -> None:
    env = {**os.environ, "MLSHIP_HOME": str(tmp_path), "MLSHIP_DB_URL": db_url, "COLUMNS": "200"}
    registry = Registry.from_env(env)
    model = fit_logreg(numeric_frame)
    for _ in range(3):
        registry.register(model, "fraud")
    registry.record_check_run("fraud@2", kind="gate", passed=True, report={})
    registry.close()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mlship", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    first = run("deploy", "fraud@1", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["stable_version"] == 1
    refused = run("deploy", "fraud@3")
    assert refused.returncode == 2 and "never gated" in refused.stderr
    bad_steps = run("deploy", "fraud@2", "--steps", "5,50,25")
    assert bad_steps.returncode == 2 and "increasing percentages ending at 100" in bad_steps.stderr
    started = run("deploy", "fraud@2", "--steps", "10,100", "--interval", "1m", "--json")
    assert json.loads(started.stdout)["traffic"] == 0.1
    assert run("pause", "fraud", "--reason", "look first").returncode == 0
    status = json.loads(run("status", "fraud", "--json").stdout)
    assert status["state"] == "paused" and status["candidate_version"] == 2
    assert run("resume", "fraud").returncode == 0
    table = run("status", "fraud")
    assert "candidate" in table.stdout and "canary_started" in table.stdout
    promoted = run("promote", "fraud", "--json")
    assert json.loads(promoted.stdout)["stable_version"] == 2
    shown = json.loads(run("models", "show", "fraud@production", "--json").stdout)
    assert shown["version"] == 2
    back = run("rollback", "fraud", "--json")
    assert json.loads(back.stdout)["stable_version"] == 1
    forced = run("deploy", "fraud@3", "--force", "--reason", "hotfix", "--json")
    assert forced.returncode == 0 and json.loads(forced.stdout)["candidate_version"] == 3
    assert run("abort", "fraud").returncode == 0
