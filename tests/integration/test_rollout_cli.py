"""The rollout commands from the shell: deploy, status, pause, resume, promote, rollback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from mlship.registry import Registry
from mlship.rollout import Rollouts
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
    # The override is visible where people look, not only in the JSON's details.
    assert "FORCED past its gate: hotfix" in run("status", "fraud").stdout
    assert run("abort", "fraud").returncode == 0


def _canary_of_fraud(tmp_path: Path, db_url: str, frame: pd.DataFrame) -> dict[str, str]:
    """A store where fraud@1 is stable and fraud@2 a canary; the environment that opens it."""
    env = {**os.environ, "MLSHIP_HOME": str(tmp_path), "MLSHIP_DB_URL": db_url}
    registry = Registry.from_env(env)
    model = fit_logreg(frame)
    for _ in range(2):
        registry.register(model, "fraud")
    registry.record_check_run("fraud@2", kind="gate", passed=True, report={})
    rollouts = Rollouts(registry)
    rollouts.start_canary("fraud@1")
    rollouts.start_canary("fraud@2")
    registry.close()
    return env


_WATCH = [sys.executable, "-m", "mlship", "status", "fraud", "--watch", "--json"]


def test_status_watch_json_prints_one_status_a_line_until_ctrl_c(
    tmp_path: Path, db_url: str, numeric_frame: pd.DataFrame
) -> None:
    """Check that ``status --watch --json`` prints the ``status --json`` object on one line
    every second, flushed, and exits 0 on Ctrl-C: ``mlship status fraud --watch --json | jq``."""
    env = _canary_of_fraud(tmp_path, db_url, numeric_frame)
    once = subprocess.run(
        [sys.executable, "-m", "mlship", "status", "fraud", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert once.returncode == 0, once.stderr
    keys = set(json.loads(once.stdout))
    lines: list[str] = []
    with subprocess.Popen(
        _WATCH, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as watch:
        assert watch.stdout is not None and watch.stderr is not None
        stdout = watch.stdout

        def gather() -> None:  # lines as they come: each must be flushed when printed
            for line in stdout:
                lines.append(line)

        reader = threading.Thread(target=gather, daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 60  # the first line waits for the CLI's imports
            while not lines and watch.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(2)
            watch.send_signal(signal.SIGINT)
            returncode = watch.wait(timeout=30)
        finally:
            watch.kill()
        reader.join(timeout=10)  # stdout ends with the process
        assert returncode == 0, watch.stderr.read()
    assert len(lines) >= 2
    for line in lines:
        assert line.endswith("\n")
        status = json.loads(line)
        assert set(status) == keys
        assert (status["model"], status["state"], status["candidate_version"]) == (
            "fraud",
            "canary",
            2,
        )


def test_status_watch_json_ends_quietly_when_the_reader_goes_away(
    tmp_path: Path, db_url: str, numeric_frame: pd.DataFrame
) -> None:
    """Check that ``status --watch --json | head -n 1`` ends with exit code 0 and no traceback
    once the reader has closed the pipe."""
    env = _canary_of_fraud(tmp_path, db_url, numeric_frame)
    with subprocess.Popen(
        _WATCH, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as watch:
        assert watch.stdout is not None and watch.stderr is not None
        try:
            first = watch.stdout.readline()
            watch.stdout.close()  # as head -n 1 does
            returncode = watch.wait(timeout=30)
        finally:
            watch.kill()
        assert (returncode, watch.stderr.read()) == (0, "")
    assert json.loads(first)["model"] == "fraud"
