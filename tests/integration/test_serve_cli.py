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
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "mlship serve did not become ready"
            time.sleep(0.2)
        rows = numeric_frame.drop(columns=["is_fraud"]).head(20).to_dict("records")
        for row in rows:
            assert (
                httpx.post(f"{url}/models/fraud/predict", json={"inputs": [row]}).status_code == 200
            )
        assert httpx.get(f"{url}/docs").status_code == 200
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
