"""Shadow rollouts: the state machine on every backend, and a real server where the shadow raises
or sleeps and users never notice."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from mlship.errors import ConfigError, Conflict
from mlship.registry import Registry
from mlship.rollout import CanaryConfig, Controller, DeploymentStore, Rollouts
from mlship.rollout.shadow_html import render_html
from mlship.rollout.shadow_report import shadow_report
from mlship.serving.state import ServerState
from mlship.store.schema import predictions
from tests.conftest import fit_logreg
from tests.integration.conftest import RunningServer, ServeFactory
from tests.integration.rollout_models import Shifted, Wrapped


class Raising(Wrapped):
    """A shadow that fails on every input."""

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        raise RuntimeError("broken shadow")


class Sleepy(Wrapped):
    """A shadow that takes 200 ms per call."""

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        time.sleep(0.2)
        return super().predict_proba(frame)


# ------------------------------------------------------------------------------- state machine


@pytest.fixture
def three(registry: Registry, numeric_frame: pd.DataFrame) -> Registry:
    model = fit_logreg(numeric_frame)
    for _ in range(3):
        registry.register(model, "fraud")
    for version in (2, 3):
        registry.record_check_run(f"fraud@{version}", kind="gate", passed=True, report={})
    return registry


def test_first_shadow_deployment_goes_live(three: Registry) -> None:
    deployment = Rollouts(three).start_shadow("fraud@1")
    assert (deployment.stable_version, deployment.state, deployment.shadow_version) == (
        1,
        "idle",
        None,
    )


def test_shadow_starts_in_one_event_and_refuses_a_second_rollout(three: Registry) -> None:
    rollouts = Rollouts(three)
    rollouts.start_shadow("fraud@1")
    for bad in (0, 101, -5, True):
        with pytest.raises(ConfigError, match="'mirror' option"):
            rollouts.start_shadow("fraud@2", bad)
    started = rollouts.start_shadow("fraud@2", 50, reason="compare first")
    assert (started.state, started.strategy, started.candidate_version) == ("shadow", "shadow", 2)
    assert (started.traffic, started.shadow_version, started.mirror_percent) == (0.0, 2, 50)
    assert started.to_dict()["mirror_percent"] == 50
    event = three.history("fraud")[-1]
    assert (event.kind, event.version, event.reason) == ("shadow_started", 2, "compare first")
    assert event.details == {"shadow": 2, "stable": 1, "mirror_percent": 50, "forced": False}
    with pytest.raises(Conflict, match="already rolling out v2 \\(shadow\\)"):
        rollouts.start_canary("fraud@3")
    with pytest.raises(Conflict, match="already rolling out"):
        rollouts.start_shadow("fraud@3")
    with pytest.raises(Conflict, match="shadow; this needs it to be canary"):
        rollouts.pause("fraud")
    with pytest.raises(Conflict):
        rollouts.advance("fraud")
    assert DeploymentStore(three).revisions()["fraud"] == 2


def test_unblessed_shadow_is_refused_unless_forced(
    three: Registry, numeric_frame: pd.DataFrame
) -> None:
    three.register(fit_logreg(numeric_frame), "fraud")  # v4, never gated
    rollouts = Rollouts(three)
    rollouts.start_shadow("fraud@1")
    with pytest.raises(Conflict, match="never gated"):
        rollouts.start_shadow("fraud@4")
    forced = rollouts.start_shadow("fraud@4", force=True, reason="look at it")
    assert forced.config["forced"] is True
    canary = rollouts.promote("fraud")
    assert canary.config["forced"] is True  # the canary keeps the record


def test_promote_from_shadow_starts_a_canary(three: Registry) -> None:
    rollouts = Rollouts(three)
    rollouts.start_shadow("fraud@1")
    rollouts.start_shadow("fraud@2")
    canary = rollouts.promote("fraud", config=CanaryConfig(steps=(10, 100)), reason="looks good")
    assert (canary.state, canary.strategy, canary.candidate_version) == ("canary", "canary", 2)
    assert (canary.traffic, canary.shadow_version, canary.config["steps"]) == (0.1, None, [10, 100])
    event = three.history("fraud")[-1]
    assert (event.kind, event.version, event.details["from"]) == ("canary_started", 2, "shadow")
    with pytest.raises(Conflict, match="only apply when promoting a shadow"):
        rollouts.promote("fraud", strategy="blue-green")
    assert rollouts.promote("fraud").stable_version == 2


def test_promote_from_shadow_blue_green_switches_and_moves_production(three: Registry) -> None:
    rollouts = Rollouts(three)
    rollouts.start_shadow("fraud@1")
    rollouts.start_shadow("fraud@2")
    done = rollouts.promote("fraud", strategy="blue-green")
    assert (done.stable_version, done.candidate_version, done.state) == (2, None, "idle")
    assert three.resolve("fraud@production") == ("fraud", 2)
    event = three.history("fraud")[-1]
    assert (event.kind, event.details["strategy"], event.details["to"]) == (
        "promoted",
        "blue-green",
        2,
    )
    assert rollouts.rollback("fraud").stable_version == 1  # the ledger knows v1 came before


def test_rollback_and_abort_end_a_shadow(three: Registry) -> None:
    rollouts = Rollouts(three)
    rollouts.start_shadow("fraud@1")
    rollouts.start_shadow("fraud@2")
    back = rollouts.rollback("fraud", reason="disagrees too often")
    assert (back.state, back.stable_version, back.candidate_version) == ("rolled_back", 1, None)
    event = three.history("fraud")[-1]
    assert (event.kind, event.version, event.details["strategy"]) == ("rolled_back", 2, "shadow")
    rollouts.start_shadow("fraud@3")
    aborted = rollouts.abort("fraud")
    assert (aborted.state, aborted.stable_version, aborted.shadow_version) == ("idle", 1, None)


def test_controller_leaves_shadows_alone(three: Registry) -> None:
    rollouts = Rollouts(three)
    rollouts.start_shadow("fraud@1")
    before = rollouts.start_shadow("fraud@2")
    assert Controller(three).tick() == []
    assert DeploymentStore(three).get("fraud") == before


# ------------------------------------------------------------------------------------ a server

sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def state_of(server: RunningServer) -> ServerState:
    state = server.server.config.app.state.mlship
    assert isinstance(state, ServerState)
    return state


def wait_for(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def has_shadow(server: RunningServer, version: int | None) -> Callable[[], bool]:
    def check() -> bool:
        shadow = state_of(server).router.routes("fraud").shadow
        return (shadow.version if shadow is not None else None) == version

    return check


@pytest.fixture
def served(registry: Registry, numeric_frame: pd.DataFrame, serve_factory: ServeFactory):
    """fraud v1 live on a server; returns a function that registers a blessed shadow model."""
    base = fit_logreg(numeric_frame)
    registry.register(base, "fraud", train_data=numeric_frame, label="is_fraud")
    Rollouts(registry).start_canary("fraud@1")
    server = serve_factory(registry, refresh_interval_s=0.05, controller_interval_s=0.2)
    frame = numeric_frame.drop(columns=["is_fraud"])

    def register(model: Any) -> str:
        version = registry.register(
            model, "fraud", train_data=numeric_frame, label="is_fraud", trusted=True
        )
        registry.record_check_run(version.ref, kind="gate", passed=True, report={})
        return version.ref

    return registry, server, frame, base, register


def ask(client: httpx.Client, frame: pd.DataFrame, i: int) -> tuple[dict, float]:
    row = frame.iloc[[i % len(frame)]].to_dict("records")
    started = time.perf_counter()
    response = client.post("/models/fraud/predict", json={"inputs": row})
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return response.json(), elapsed


def assert_stable_answers(answers: list[tuple[int, dict]], frame: pd.DataFrame, base: Any) -> None:
    expected = base.predict(frame)
    proba = base.predict_proba(frame)
    for i, body in answers:
        assert body["version"] == 1
        assert body["predictions"] == [expected[i % len(frame)]]
        assert body["probabilities"][0] == pytest.approx(proba[i % len(frame)].tolist())


def flush(server: RunningServer) -> None:
    plog = state_of(server).prediction_log
    assert plog is not None and plog.flush(timeout=30)


@sqlite_only
@pytest.mark.slow
@pytest.mark.xdist_group("canary")
def test_a_raising_shadow_never_changes_a_users_answer(served) -> None:
    registry, server, frame, base, register = served
    Rollouts(registry).start_shadow(register(Raising(base)), 100)
    wait_for(has_shadow(server, 2))

    def worker(offset: int) -> list[tuple[int, dict]]:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            return [(i, ask(client, frame, i)[0]) for i in range(offset, 160, 4)]

    with ThreadPoolExecutor(4) as pool:
        answers = [a for part in pool.map(worker, range(4)) for a in part]
    assert len(answers) == 160
    assert_stable_answers(answers, frame, base)
    mirror = state_of(server).shadow
    wait_for(lambda: mirror.stats.errors == 160)
    assert (mirror.stats.mirrored, mirror.stats.dropped) == (0, 0)
    flush(server)
    with registry.store.read() as conn:
        rows = conn.execute(
            sa.select(predictions.c.request_id, predictions.c.role, predictions.c.error).where(
                predictions.c.model == "fraud", predictions.c.version == 2
            )
        ).all()
    assert {r.role for r in rows} == {"shadow"} and len(rows) == 160
    assert all("RuntimeError: broken shadow" in r.error for r in rows)
    ids = {body["request_id"] for _, body in answers}
    assert {r.request_id for r in rows} == ids  # the stable answers' request ids
    report = shadow_report(registry, "fraud")
    assert (report.paired_requests, report.rows_compared, report.agreement) == (160, 0, None)
    assert (report.shadow.requests, report.shadow.error_rate) == (160, 1.0)
    assert report.stable.errors == 0


@sqlite_only
@pytest.mark.slow
@pytest.mark.xdist_group("canary")
def test_a_sleeping_shadow_does_not_slow_users_down(served) -> None:
    registry, server, frame, base, register = served
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for i in range(20):  # warm the connection and the batcher
            ask(client, frame, i)
        baseline = [ask(client, frame, i)[1] for i in range(150)]
        Rollouts(registry).start_shadow(register(Sleepy(base)), 100)
        wait_for(has_shadow(server, 2))
        measured = [ask(client, frame, i) for i in range(150)]
    assert_stable_answers([(i, body) for i, (body, _) in enumerate(measured)], frame, base)
    without, with_shadow = statistics.median(baseline), statistics.median(t for _, t in measured)
    # Waiting for a 200 ms shadow would add 200 ms; copies in the background add next to nothing.
    assert with_shadow < 2 * without + 0.02, (without, with_shadow)
    stats = state_of(server).shadow.stats
    assert stats.offered == 150 and stats.dropped == 0
    assert stats.mirrored + stats.queued + stats.in_flight >= 140  # still working through them
    Rollouts(registry).rollback("fraud", reason="done looking")
    wait_for(has_shadow(server, None))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert ask(client, frame, 0)[0]["version"] == 1


@sqlite_only
@pytest.mark.slow
@pytest.mark.xdist_group("canary")
def test_a_full_shadow_queue_drops_copies_and_counts_them(
    registry: Registry,
    numeric_frame: pd.DataFrame,
    serve_factory: ServeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLSHIP_SHADOW_QUEUE_SIZE", "5")
    monkeypatch.setenv("MLSHIP_SHADOW_CONCURRENCY", "1")
    base = fit_logreg(numeric_frame)
    registry.register(base, "fraud", train_data=numeric_frame, label="is_fraud")
    Rollouts(registry).start_canary("fraud@1")
    slow = registry.register(
        Sleepy(base), "fraud", train_data=numeric_frame, label="is_fraud", trusted=True
    )
    Rollouts(registry).start_shadow(slow.ref, force=True)
    server = serve_factory(registry, refresh_interval_s=0.05)
    frame = numeric_frame.drop(columns=["is_fraud"])
    wait_for(has_shadow(server, 2))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        answers = [(i, ask(client, frame, i)[0]) for i in range(60)]
        assert_stable_answers(answers, frame, base)
        stats = state_of(server).shadow.stats
        assert stats.offered == 60
        assert stats.dropped >= 60 - 5 - 1 - 10, stats  # a few may have run meanwhile
        metrics = client.get("/metrics").text
    line = next(m for m in metrics.splitlines() if m.startswith("mlship_shadow_dropped_total{"))
    assert 'model="fraud"' in line and 'version="2"' in line
    assert float(line.rsplit(" ", 1)[1]) == stats.dropped
    wait_for(lambda: state_of(server).shadow.stats.queued == 0, timeout=30)
    flush(server)
    report = shadow_report(registry, "fraud")
    assert report.stable.requests == 60 and report.shadow.requests < 20


@sqlite_only
@pytest.mark.slow
@pytest.mark.xdist_group("canary")
def test_shadow_report_then_promote_to_a_canary(served, tmp_path: Path) -> None:
    registry, server, frame, base, register = served
    Rollouts(registry).start_shadow(register(Shifted(base)), 50)
    wait_for(has_shadow(server, 2))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        answers = [(i, ask(client, frame, i)[0]) for i in range(200)]
    assert_stable_answers(answers, frame, base)
    mirror = state_of(server).shadow
    assert 60 < mirror.stats.offered < 140  # about half, by a hash of the request id
    wait_for(lambda: mirror.stats.mirrored == mirror.stats.offered)
    flush(server)
    report = shadow_report(registry, "fraud")
    stable_says = base.predict(frame)
    assert report.paired_requests == report.rows_compared == mirror.stats.offered
    ones = [
        stable_says[i % len(frame)]
        for i, body in answers
        if body["request_id"] in _shadow_ids(registry)
    ]
    assert report.agreement == pytest.approx(sum(ones) / len(ones))  # the shadow always says 1
    assert {(a, b) for a, b, _ in report.class_pairs} <= {(0, 1), (1, 1)}
    assert report.mirror_percent == 50
    page = tmp_path / "shadow.html"
    page.write_text(render_html(report))
    assert "<svg" in page.read_text()
    canary = Rollouts(registry).promote("fraud", config=CanaryConfig(interval_s=3600))
    assert (canary.state, canary.candidate_version, canary.traffic) == ("canary", 2, 0.05)
    wait_for(lambda: state_of(server).router.routes("fraud").candidate is not None)
    routes = state_of(server).router.routes("fraud")
    assert routes.shadow is None and routes.candidate is not None and routes.candidate.version == 2
    kinds = [e.kind for e in registry.history("fraud")]
    assert kinds[-2:] == ["shadow_started", "canary_started"]  # the controller left the shadow
    # The report of the shadow that ended still reads its own window.
    assert shadow_report(registry, "fraud").paired_requests == report.paired_requests


def _shadow_ids(registry: Registry) -> set[str]:
    with registry.store.read() as conn:
        return set(
            conn.execute(
                sa.select(predictions.c.request_id).where(predictions.c.role == "shadow")
            ).scalars()
        )


# --------------------------------------------------------------------------------------- the CLI


@sqlite_only
def test_shadow_from_the_shell(tmp_path: Path, db_url: str, numeric_frame: pd.DataFrame) -> None:
    env = {**os.environ, "MLSHIP_HOME": str(tmp_path), "MLSHIP_DB_URL": db_url, "COLUMNS": "200"}
    registry = Registry.from_env(env)
    model = fit_logreg(numeric_frame)
    for _ in range(2):
        registry.register(model, "fraud", train_data=numeric_frame, label="is_fraud")
    registry.record_check_run("fraud@2", kind="gate", passed=True, report={})
    Rollouts(registry).start_canary("fraud@1")
    registry.close()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mlship", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    wrong = run("deploy", "fraud@2", "--mirror", "50")
    assert wrong.returncode == 2 and "--strategy shadow only" in wrong.stderr
    started = run("deploy", "fraud@2", "--strategy", "shadow", "--mirror", "50", "--json")
    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout)["state"] == "shadow"
    status = run("status", "fraud")
    assert "shadow" in status.stdout and "50% of requests" in status.stdout
    page = tmp_path / "report.html"
    report = run("status", "fraud", "--report", "--html", str(page), "--json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["shadow_version"] == 2 and page.is_file()
    shown = run("status", "fraud", "--report")
    assert "Shadow v2 against stable v1" in shown.stdout
    promoted = run("promote", "fraud", "--steps", "20,100", "--json")
    assert promoted.returncode == 0, promoted.stderr
    assert (json.loads(promoted.stdout)["state"], json.loads(promoted.stdout)["traffic"]) == (
        "canary",
        0.2,
    )
    assert run("rollback", "fraud").returncode == 0
    assert run("deploy", "fraud@2", "--strategy", "shadow", "--json").returncode == 0
    back = run("abort", "fraud", "--json")
    assert json.loads(back.stdout)["state"] == "idle"
