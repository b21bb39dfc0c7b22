"""``mlship serve`` and ``mlship logs`` as a user runs them: a real process, signals, exports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from mlship.registry import Registry
from tests.conftest import fit_logreg, free_port
from tests.integration.replicas import wait_ready

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _env(tmp_path: Path, db_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "MLSHIP_HOME": str(tmp_path / "home"),
        "MLSHIP_DB_URL": db_url,
        "MLSHIP_ARTIFACTS": str(tmp_path / "artifacts"),
        **extra,
    }


def test_serve_refuses_a_public_host_without_a_token(tmp_path: Path, db_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mlship", "serve", "--host", "0.0.0.0", "--port", "0"],
        env=_env(tmp_path, db_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "MLSHIP_TOKEN" in result.stderr and "--insecure" in result.stderr


def test_serve_answers_then_logs_export_after_sigterm(
    tmp_path: Path, db_url: str, registry_factory, numeric_frame: pd.DataFrame
) -> None:
    registry: Registry = registry_factory(artifacts=str(tmp_path / "artifacts"))
    registry.register(
        fit_logreg(numeric_frame), "fraud", train_data=numeric_frame, label="is_fraud"
    )
    registry.set_alias("fraud@1", "production")
    port = free_port()
    env = _env(tmp_path, db_url)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlship",
            "serve",
            "--model",
            "fraud@production",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, proc.communicate, "mlship serve did not become ready")
        rows = numeric_frame.drop(columns=["is_fraud"]).head(20).to_dict("records")
        for row in rows:
            assert (
                httpx.post(f"{url}/models/fraud/predict", json={"inputs": [row]}).status_code == 200
            )
        assert httpx.get(f"{url}/docs").status_code == 404  # only with --docs (a CDN's script)
        assert "/models/{name}/predict" in httpx.get(f"{url}/openapi.json").json()["paths"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    out = tmp_path / "log.parquet"
    exported = subprocess.run(
        [sys.executable, "-m", "mlship", "logs", "fraud", "--since", "1h", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert exported.returncode == 0, exported.stderr
    frame = pd.read_parquet(out)
    assert len(frame) == 20
    assert set(frame["version"]) == {1}


def _start(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlship", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, proc, proc.communicate, "mlship serve did not become ready")
    return proc


def test_kill_9_mid_canary_then_restart_resumes_the_same_step(
    tmp_path: Path, db_url: str, registry_factory, numeric_frame: pd.DataFrame
) -> None:
    from mlship.rollout import CanaryConfig, DeploymentStore, Rollouts

    registry: Registry = registry_factory(artifacts=str(tmp_path / "artifacts"))
    for seed in (1, 2):
        registry.register(
            fit_logreg(numeric_frame.sample(frac=1.0, random_state=seed)),
            "fraud",
            train_data=numeric_frame,
            label="is_fraud",
        )
    registry.record_check_run("fraud@2", kind="gate", passed=True, report={})
    rollouts = Rollouts(registry)
    rollouts.start_canary("fraud@1")
    # Long steps: the controller never moves on during the test; only the kill happens.
    rollouts.start_canary("fraud@2", CanaryConfig(steps=(25, 100), interval_s=3600))
    env = _env(tmp_path, db_url)
    port = free_port()
    proc = _start(env, port)
    url = f"http://127.0.0.1:{port}/models/fraud/predict"
    row = {"inputs": numeric_frame.drop(columns=["is_fraud"]).head(1).to_dict("records")}
    keys = [f"user-{i}" for i in range(200)]
    before = {
        k: httpx.post(url, json=row, headers={"x-routing-key": k}).json()["version"] for k in keys
    }
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    state = DeploymentStore(registry).get("fraud")
    assert (state.state, state.candidate_version, state.traffic) == ("canary", 2, 0.25)
    proc = _start(env, port)
    try:
        after = {
            k: httpx.post(url, json=row, headers={"x-routing-key": k}).json()["version"]
            for k in keys
        }
        assert after == before  # same split, same users on the candidate
        assert 0.15 < sum(v == 2 for v in after.values()) / len(keys) < 0.35
        rollouts.rollback("fraud", reason="test")
        deadline = time.monotonic() + 5
        while any(
            httpx.post(url, json=row, headers={"x-routing-key": k}).json()["version"] == 2
            for k in keys[:50]
        ):
            assert time.monotonic() < deadline, "a rolled-back version still took traffic"
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
