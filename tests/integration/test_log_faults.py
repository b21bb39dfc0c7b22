"""Faults under load through a real ``mlship serve``: a full disk, a PostgreSQL restart, a killed
log writer. Clients send a unique ``X-Request-ID`` each; what they were answered is compared with
what reached the prediction log. The same harness prints the table of ``bench/faults_bench.py``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from mlship.registry import ArtifactStore, Registry
from mlship.rollout import Rollouts
from mlship.store import open_store
from tests.conftest import fit_logreg, free_port
from tests.integration.conftest import provided
from tests.integration.faults import (
    Server,
    fill,
    load,
    logged_ids,
    private_postgres,
    small_disk,
    wait_for_ids,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """MLSHIP_HOME on a 64 MB tmpfs: the SQLite store and the spill journal fill it together."""
    with provided(small_disk(tmp_path / "home", 64)) as path:
        yield path


def served(
    tmp_path: Path, db_url: str, home: Path, frame: pd.DataFrame, *args: str
) -> tuple[Server, dict[str, Any]]:
    """Register a model on ``db_url`` (artifacts on the roomy disk); a server for it."""
    artifacts = tmp_path / "artifacts"
    registry = Registry(open_store(db_url), ArtifactStore(str(artifacts)), cache_dir=home / "cache")
    registry.register(fit_logreg(frame), "fraud", train_data=frame, label="is_fraud")
    Rollouts(registry).start_canary("fraud@1")  # the first deployment goes live at once
    registry.close()
    env = {
        **os.environ,
        "MLSHIP_HOME": str(home),
        "MLSHIP_DB_URL": db_url,
        "MLSHIP_ARTIFACTS": str(artifacts),
        "MLSHIP_SPILL_SEGMENT_MB": "0.25",
    }
    server = Server(env, free_port(), tmp_path / "server.log", args)
    row = frame.drop(columns=["is_fraud"]).iloc[0].to_dict()
    return server, row


def mlship_status(server: Server, *, as_json: bool = True) -> Any:
    """``mlship status fraud`` run as a user would, with the server's environment."""
    command = [sys.executable, "-m", "mlship", "status", "fraud", *(["--json"] if as_json else [])]
    done = subprocess.run(
        command, env={**server.env, "COLUMNS": "200"}, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if as_json else done.stdout


def log_state(server: Server) -> dict[str, Any]:
    return dict(httpx.get(f"{server.url}/readyz", timeout=5).json()["prediction_log"])


def lost_metric(server: Server) -> int:
    text = httpx.get(f"{server.url}/metrics", timeout=5).text
    return sum(
        int(float(v))
        for v in re.findall(r"^mlship_prediction_log_lost_total\{[^}]*\} (\S+)$", text, re.M)
    )


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.1)


def empty_segments(home: Path) -> list[Path]:
    return [p for p in (home / "spill").glob("slot-*/*.jsonl") if p.stat().st_size == 0]


def test_a_short_full_disk_loses_no_answered_request(
    tmp_path: Path, disk: Path, numeric_frame: pd.DataFrame
) -> None:
    db_url = f"sqlite:///{disk / 'mlship.db'}"
    server, row = served(tmp_path, db_url, disk, numeric_frame, "--log-memory-records", "50000")
    server.start()
    try:
        with load(server.url, row) as traffic:
            time.sleep(1.0)
            filler = fill(disk)
            wait_until(lambda: log_state(server)["state"] == "disk_full", 60, "the disk filled")
            time.sleep(2.0)
            held = log_state(server)["held_in_memory"]
            filler.unlink()
            wait_until(lambda: log_state(server)["state"] == "ok", 30, "space came back")
            time.sleep(1.0)
        assert traffic.failed == [], traffic.failed[:5]
        assert held > 0
        found = wait_for_ids(db_url, traffic.answered, timeout=60)
        assert len(found) == len(traffic.answered), "an answered request is missing from the log"
        assert lost_metric(server) == 0
        assert empty_segments(disk) == []
    finally:
        stopped_in = server.terminate()
    assert stopped_in < 30
    text = server.log.read_text()
    assert text.count("disk is full: cannot reserve") == 1, text[-3000:]
    assert "Traceback" not in text, text[-3000:]


def test_a_long_full_disk_counts_every_loss_stops_in_time_and_restarts_fast(
    tmp_path: Path, disk: Path, numeric_frame: pd.DataFrame
) -> None:
    db_url = f"sqlite:///{disk / 'mlship.db'}"
    server, row = served(
        tmp_path,
        db_url,
        disk,
        numeric_frame,
        "--log-memory-records",
        "1000",
        "--drain-timeout",
        "15",
    )
    server.start()
    with load(server.url, row) as traffic:
        time.sleep(1.0)
        filler = fill(disk)
        wait_until(lambda: lost_metric(server) > 0, 60, "records were lost beyond memory")
        time.sleep(1.0)
        state = log_state(server)
        shown = mlship_status(server)
        table = mlship_status(server, as_json=False)
    assert traffic.failed == [], traffic.failed[:5]  # answer mode: every request answered
    (seen,) = shown["prediction_log"]  # `mlship status` on the machine sees the full disk
    assert seen["disk_full_since"] is not None and seen["held"] == 1000
    assert seen["lost"]["fraud"] > 0
    assert "prediction log" in table and "disk full since" in table
    assert state["state"] == "disk_full" and state["held_in_memory"] == 1000
    assert "disk full since" in state["detail"]
    stopped_in = server.terminate()  # the disk still full: memory's records are lost, counted
    assert stopped_in < 15 + 2, f"SIGTERM took {stopped_in:.1f} s"
    assert empty_segments(disk) == []

    filler.unlink()
    restarted_in = server.start()
    assert restarted_in < 30
    previous = re.search(r"lost ([\d,]+) record\(s\)", server.log.read_text())
    assert previous is not None, f"no loss reported: {server.log.read_text()[-3000:]}"
    lost = int(previous.group(1).replace(",", ""))
    try:
        wait_for_ids(db_url, traffic.answered, timeout=20)
        found = logged_ids(db_url) & set(traffic.answered)
        assert len(traffic.answered) - len(found) == lost  # exact: every loss counted, once
        assert lost > 1000
    finally:
        server.terminate()
    assert "Traceback" not in server.log.read_text()


def test_a_postgresql_restart_under_load_loses_nothing(
    tmp_path: Path, numeric_frame: pd.DataFrame
) -> None:
    with provided(private_postgres(free_port())) as postgres:
        home = tmp_path / "home"
        server, row = served(tmp_path, postgres.url, home, numeric_frame)
        server.start()
        try:
            with load(server.url, row) as traffic:
                time.sleep(1.0)
                down_s = postgres.restart()
                time.sleep(2.0)
            assert traffic.failed == [], traffic.failed[:5]
            found = wait_for_ids(postgres.url, traffic.answered, timeout=60)
            assert len(found) == len(traffic.answered)
            assert down_s > 0
        finally:
            server.terminate()


def test_a_killed_log_writer_under_load_loses_nothing(
    tmp_path: Path, numeric_frame: pd.DataFrame
) -> None:
    home = tmp_path / "home"
    db_url = f"sqlite:///{tmp_path / 'mlship.db'}"
    server, row = served(tmp_path, db_url, home, numeric_frame)
    server.start()
    try:
        with load(server.url, row) as traffic:
            time.sleep(1.0)
            writers = server.writer_pids()
            assert writers, "no log writer process found"
            for pid in writers:
                os.kill(pid, signal.SIGKILL)
            time.sleep(3.0)
        assert traffic.failed == [], traffic.failed[:5]
        found = wait_for_ids(db_url, traffic.answered, timeout=60)
        assert len(found) == len(traffic.answered)
        assert "the store writer process exited" in server.log.read_text()
    finally:
        server.terminate()


def test_refuse_mode_answers_503_instead_of_losing_an_answered_request(
    tmp_path: Path, disk: Path, numeric_frame: pd.DataFrame
) -> None:
    db_url = f"sqlite:///{disk / 'mlship.db'}"
    server, row = served(
        tmp_path,
        db_url,
        disk,
        numeric_frame,
        "--log-memory-records",
        "500",
        "--on-log-full",
        "refuse",
    )
    server.start()
    try:
        with load(server.url, row) as traffic:
            time.sleep(1.0)
            filler = fill(disk)
            wait_until(lambda: traffic.statuses.get(503, 0) > 0, 60, "requests were refused")
            ready = httpx.get(f"{server.url}/readyz", timeout=5)
            filler.unlink()
            wait_until(
                lambda: httpx.get(f"{server.url}/readyz", timeout=5).status_code == 200,
                30,
                "the server was ready again",
            )
            time.sleep(1.0)
        assert ready.status_code == 503  # a load balancer sends the traffic elsewhere
        assert ready.json()["prediction_log"]["state"] == "refusing"
        refused = [body for status, body in traffic.failed if status == 503]
        assert len(refused) == len(traffic.failed), traffic.failed[:5]
        assert "disk is full" in refused[0] and "--on-log-full" in refused[0]
        found = wait_for_ids(db_url, traffic.answered, timeout=60)
        assert len(found) == len(traffic.answered), "an answered request is missing from the log"
        assert lost_metric(server) == 0
    finally:
        server.terminate()
