"""Blue-green end to end: green smoke-tested inside the server, the switch under continuous load,
blue on standby for an instant rollback and unloaded when the window ends; a canary promotion
under the same load. Every response of the load is counted."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from mlship.errors import ConfigError, Conflict
from mlship.registry import Registry
from mlship.rollout import DeploymentStore, Rollouts
from mlship.serving.state import ServerState
from mlship.store import utcnow
from mlship.store.schema import predictions
from tests.conftest import fit_logreg
from tests.integration import rollout_models
from tests.integration.conftest import RunningServer, ServeFactory
from tests.integration.traffic import load

TOKEN = "blue-green-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


class RaisesOnRecorded(rollout_models.Wrapped):
    """Fine on rows drawn from the training profile, raises on the real rows users send."""

    def __init__(self, model: Any, real_amounts: set[float]) -> None:
        super().__init__(model)
        self.real_amounts = real_amounts

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if not isinstance(frame, pd.DataFrame) or frame["amount"].isin(self.real_amounts).any():
            raise RuntimeError("cannot handle a real request")
        return super().predict_proba(frame)


# ------------------------------------------------------------------------------------ helpers


def wait_for(check: Callable[[], bool], timeout: float = 120.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def answered_since(counts: dict[str, Any], n: int) -> Callable[[], bool]:
    """True once ``n`` more requests were answered than when this was called."""
    start = counts["ok"]
    return lambda: counts["ok"] >= start + n


def post(server: RunningServer, path: str, body: object = None) -> httpx.Response:
    return httpx.post(
        f"{server.url}/admin/models/fraud/{path}",
        json={} if body is None else body,
        headers=AUTH,
        timeout=120,
    )


def loaded(server: RunningServer) -> dict[int, str]:
    """``{version: role}`` of ``fraud`` from the server's ``mlship_model_loaded`` gauge."""
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    found = {}
    for labels in re.findall(r"^mlship_model_loaded\{([^}]*)\} 1\.0$", text, re.MULTILINE):
        pairs = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if pairs["model"] == "fraud":
            found[int(pairs["version"])] = pairs["role"]
    return found


def server_state(server: RunningServer) -> ServerState:
    state: ServerState = server.server.config.app.state.mlship
    return state


def versions_served(server: RunningServer, rows: list[dict[str, Any]], keys: int = 40) -> set[int]:
    seen = set()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for i in range(keys):
            response = client.post(
                "/models/fraud/predict",
                json={"inputs": [rows[i % len(rows)]]},
                headers={"x-routing-key": f"user-{i}"},
            )
            assert response.status_code == 200, response.text
            seen.add(response.json()["version"])
    return seen


def logged_requests(registry: Registry) -> int:
    """Stable's requests of ``fraud`` in the prediction log (written in the background)."""
    t = predictions.c
    with registry.store.read() as conn:
        query = sa.select(sa.func.count()).where(t.model == "fraud", t.role == "stable")
        return int(conn.execute(query).scalar_one())


def register(registry: Registry, model: object, frame: pd.DataFrame, *, bless: bool = True) -> str:
    version = registry.register(model, "fraud", train_data=frame, label="is_fraud", trusted=True)
    if bless:
        registry.record_check_run(version.ref, kind="gate", passed=True, report={})
    return version.ref


@pytest.fixture
def blue(
    registry: Registry, numeric_frame: pd.DataFrame, serve_factory: ServeFactory
) -> tuple[Registry, RunningServer, list[dict[str, Any]]]:
    """``fraud`` v1 (blue) serving, v2 (green) gated; a server with a token."""
    register(registry, fit_logreg(numeric_frame), numeric_frame, bless=False)
    register(registry, fit_logreg(numeric_frame.sample(frac=1.0, random_state=1)), numeric_frame)
    DeploymentStore(registry).set_stable("fraud@1")
    server = serve_factory(registry, token=TOKEN, refresh_interval_s=0.05)
    rows = numeric_frame.drop(columns=["is_fraud"]).to_dict("records")
    return registry, server, rows


# ------------------------------------------------------------------------ the store (no server)


def test_switch_keeps_blue_on_standby_and_moves_production(
    registry: Registry, numeric_frame: pd.DataFrame
) -> None:
    model = fit_logreg(numeric_frame)
    for version in range(3):
        register(registry, model, numeric_frame, bless=version > 0)
    rollouts = Rollouts(registry)
    first = rollouts.switch("fraud@1", standby_s=600)
    assert (first.stable_version, first.standby_version) == (1, None)  # nothing to stand by

    before = utcnow()
    switched = rollouts.switch("fraud@2", standby_s=600, reason="release", smoke={"ok": "pass"})
    assert (switched.stable_version, switched.state, switched.standby_version) == (2, "idle", 1)
    until = switched.standby_until
    assert until is not None and before + timedelta(seconds=599) < until
    assert switched.to_dict()["standby_until"] == until.isoformat()
    assert switched.standby_at(until - timedelta(seconds=1)) == 1
    assert switched.standby_at(until) is None
    assert registry.resolve("fraud@production") == ("fraud", 2)
    event = [e for e in registry.history("fraud") if e.kind == "deployed"][-1]
    assert event.reason == "release" and event.version == 2
    assert event.details["strategy"] == "blue-green" and event.details["previous_version"] == 1
    assert event.details["smoke"] == {"ok": "pass"}

    back = rollouts.rollback("fraud")
    assert (back.stable_version, back.state, back.standby_version, back.config) == (
        1,
        "rolled_back",
        None,
        {},
    )
    assert registry.resolve("fraud@production") == ("fraud", 1)
    assert registry.history("fraud")[-1].details == {"from": 2, "to": 1, "from_standby": True}


def test_standby_is_optional_and_validated(registry: Registry, numeric_frame: pd.DataFrame) -> None:
    model = fit_logreg(numeric_frame)
    for _ in range(3):
        register(registry, model, numeric_frame)
    rollouts = Rollouts(registry)
    rollouts.switch("fraud@1")
    assert rollouts.switch("fraud@2", standby_s=0).standby_version is None
    again = rollouts.switch("fraud@2")  # the same version: no standby of itself
    assert (again.stable_version, again.standby_version) == (2, None)
    for bad in (-1, float("nan"), float("inf"), 1e308, True, "30m"):
        with pytest.raises(ConfigError, match="'standby' option must be a duration from 0"):
            rollouts.switch("fraud@3", standby_s=bad)  # type: ignore[arg-type]
    # A canary ends the standby: the plan is the canary's now.
    started = rollouts.switch("fraud@3")
    assert started.standby_version == 2
    assert rollouts.start_canary("fraud@1").standby_version is None
    unblessed = register(registry, model, numeric_frame, bless=False)
    with pytest.raises(Conflict, match="was never gated"):
        rollouts.check_switch(unblessed)


# ---------------------------------------------------------------------------- under live load


@pytest.mark.slow
def test_blue_green_switch_under_load_fails_no_request(blue) -> None:
    registry, server, rows = blue
    with load(server, rows) as counts:
        wait_for(answered_since(counts, 100), what="traffic on blue")
        wait_for(lambda: logged_requests(registry) > 0, what="the prediction log")
        switched = post(server, "deploy", {"ref": "2", "strategy": "blue-green", "standby_s": 600})
        assert switched.status_code == 200, switched.text
        assert (switched.json()["stable_version"], switched.json()["standby_version"]) == (2, 1)
        wait_for(answered_since(counts, 200), what="traffic after the switch")
    assert counts["failed"] == []
    assert counts["versions"] == {1, 2} and counts["last"] == 2
    assert versions_served(server, rows) == {2}
    assert loaded(server) == {1: "standby", 2: "stable"}
    smoke = [e for e in registry.history("fraud") if e.kind == "deployed"][-1].details["smoke"]
    assert smoke["sanity:predicts"] == "pass" and smoke["smoke:replay"] == "pass"
    assert smoke["replayed"]["requests"] > 0


@pytest.mark.slow
@SQLITE_ONLY
def test_rollback_within_the_standby_window_is_instant_and_loads_nothing(blue) -> None:
    registry, server, rows = blue
    state = server_state(server)
    blue_runtime = state.loaded("fraud")[1]
    assert post(server, "deploy", {"ref": "2", "standby_s": 600}).status_code == 200
    assert versions_served(server, rows) == {2}
    assert state.loaded("fraud")[1] is blue_runtime and not blue_runtime.closing
    with load(server, rows) as counts:
        wait_for(answered_since(counts, 100), what="traffic on green")
        back = post(server, "rollback", {"reason": "complaints"})
        assert back.status_code == 200, back.text
        assert back.json()["stable_version"] == 1
        wait_for(answered_since(counts, 200), what="traffic after the rollback")
    assert counts["failed"] == []
    assert counts["versions"] == {1, 2} and counts["last"] == 1
    assert versions_served(server, rows) == {1}
    # Blue was never unloaded nor loaded again: the very runtime that served before the switch.
    assert state.loaded("fraud") == {1: blue_runtime}
    assert loaded(server) == {1: "stable"}
    assert not blue_runtime.closing
    assert registry.history("fraud")[-1].details["from_standby"] is True


@pytest.mark.slow
@SQLITE_ONLY
def test_blue_is_unloaded_when_the_standby_window_ends(blue) -> None:
    _, server, rows = blue
    assert post(server, "deploy", {"ref": "2", "standby_s": 3}).status_code == 200
    status = httpx.get(f"{server.url}/admin/models/fraud/status", headers=AUTH).json()
    assert status["standby_version"] == 1
    until = datetime.fromisoformat(status["standby_until"])
    now_loaded = loaded(server)
    if utcnow() < until - timedelta(seconds=0.5):  # a busy machine may already be past it
        assert now_loaded == {1: "standby", 2: "stable"}
    wait_for(lambda: loaded(server) == {2: "stable"}, timeout=30, what="blue to be unloaded")
    assert 1 not in server_state(server).loaded("fraud")  # closed and dropped, not just hidden
    assert versions_served(server, rows) == {2}
    # After the window a rollback still works; it just has to load blue again.
    assert post(server, "rollback").json()["stable_version"] == 1
    assert versions_served(server, rows) == {1}
    assert loaded(server) == {1: "stable"}


@pytest.mark.slow
@SQLITE_ONLY
@pytest.mark.parametrize("fault", ["sanity", "replay"])
def test_green_that_fails_its_smoke_test_is_refused(
    blue, numeric_frame: pd.DataFrame, fault: str
) -> None:
    """Check that a green raising on profile rows (sanity) or only on the real requests blue
    answered (replay) is refused with the failing check named, and blue keeps serving."""
    registry, server, rows = blue
    base = fit_logreg(numeric_frame)
    if fault == "sanity":
        green, check = rollout_models.Flaky(base), "sanity:predicts"
    else:
        green = RaisesOnRecorded(base, set(numeric_frame["amount"]))
        check = "smoke:replay"
    ref = register(registry, green, numeric_frame)
    assert versions_served(server, rows) == {1}
    wait_for(lambda: logged_requests(registry) > 0, what="the prediction log")
    before = DeploymentStore(registry).get("fraud")

    refused = post(server, "deploy", {"ref": ref, "strategy": "blue-green"})
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert f"{ref} failed its smoke test" in error and check in error
    after = DeploymentStore(registry).get("fraud")
    assert after == before  # nothing changed: not even the revision
    event = registry.history("fraud")[-1]
    assert event.kind == "smoke_test_failed" and event.version == 3
    failed = [r["name"] for r in event.details["results"] if r["status"] == "fail"]
    assert check in failed
    assert versions_served(server, rows) == {1}
    assert loaded(server) == {1: "stable"}
    assert 3 not in server_state(server).loaded("fraud")  # green was unloaded again


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"ref": "2", "standby_s": -1}, "greater than or equal to 0"),
        ({"ref": "2", "standby_s": 1e9}, "less than or equal to 2592000"),
        ({"ref": "2", "strategy": "canary", "standby_s": 60}, "blue-green strategy only"),
    ],
)
def test_a_bad_standby_over_http_is_a_422_naming_it(blue, body: dict, expected: str) -> None:
    registry, server, _ = blue
    refused = post(server, "deploy", body)
    assert refused.status_code == 422 and refused.json()["field"] == "standby_s", refused.text
    assert expected in refused.json()["error"]
    assert DeploymentStore(registry).get("fraud").stable_version == 1


@pytest.mark.slow
@SQLITE_ONLY
def test_canary_promotion_and_rollback_under_load_fail_no_request(blue) -> None:
    registry, server, rows = blue
    with load(server, rows) as counts:
        wait_for(answered_since(counts, 50), what="traffic on blue")
        started = post(
            server,
            "deploy",
            {"ref": "2", "strategy": "canary", "steps": [25, 100], "interval_s": 3600},
        )
        assert started.status_code == 200, started.text
        wait_for(lambda: 2 in counts["versions"], what="the candidate to answer")
        wait_for(answered_since(counts, 100), what="traffic during the canary")
        promoted = post(server, "promote")
        assert promoted.json()["stable_version"] == 2, promoted.text
        wait_for(answered_since(counts, 100), what="traffic after the promotion")
        seen_after_promotion = counts["last"]
        assert post(server, "rollback").json()["stable_version"] == 1
        wait_for(answered_since(counts, 100), what="traffic after the rollback")
    assert counts["failed"] == []
    assert counts["versions"] == {1, 2} and seen_after_promotion == 2 and counts["last"] == 1
    assert versions_served(server, rows) == {1}
    kinds = [e.kind for e in registry.history("fraud")]
    assert kinds[-3:] == ["promoted", "alias_set", "rolled_back"]


# ---------------------------------------------------------------------------------- the shell


@pytest.mark.slow
@SQLITE_ONLY
def test_blue_green_from_the_shell(
    tmp_path: Path, db_url: str, numeric_frame: pd.DataFrame
) -> None:
    env = {**os.environ, "MLSHIP_HOME": str(tmp_path), "MLSHIP_DB_URL": db_url, "COLUMNS": "200"}
    registry = Registry.from_env(env)
    register(registry, fit_logreg(numeric_frame), numeric_frame)
    register(registry, fit_logreg(numeric_frame.sample(frac=1.0, random_state=1)), numeric_frame)
    register(registry, rollout_models.Flaky(fit_logreg(numeric_frame)), numeric_frame)
    DeploymentStore(registry).set_stable("fraud@1")
    registry.close()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mlship", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    bad = run("deploy", "fraud@2", "--strategy", "blue-green", "--standby", "soon")
    assert bad.returncode == 2 and "'standby' option must be a duration" in bad.stderr
    wrong = run("deploy", "fraud@2", "--strategy", "canary", "--standby", "5m")
    assert wrong.returncode == 2 and "applies to --strategy blue-green only" in wrong.stderr
    refused = run("deploy", "fraud@3", "--strategy", "blue-green")
    assert refused.returncode == 1, refused.stderr
    assert "fraud@3 failed its smoke test" in refused.stderr and "sanity:predicts" in refused.stderr

    switched = run("deploy", "fraud@2", "--strategy", "blue-green", "--standby", "10m", "--json")
    assert switched.returncode == 0, switched.stderr
    shown = json.loads(switched.stdout)
    assert (shown["stable_version"], shown["standby_version"]) == (2, 1)
    table = run("status", "fraud")
    assert table.returncode == 0, table.stderr
    assert "standby" in table.stdout and "v1 loaded until" in table.stdout
    assert "smoke_test_failed" in table.stdout
