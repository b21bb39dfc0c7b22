"""``mlship demo --fast`` is the end-to-end test: a real server, real traffic, every step of the
life cycle; it must exit 0, narrate each milestone and leave a store that tells the same story."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlship.demo import make_transactions
from mlship.demo.models import DeviceNames, ToEuro
from mlship.registry import Registry
from mlship.rollout import DeploymentStore

NAME = "fraud_detector"
MILESTONES = (
    "Registered",
    "Gate fraud_detector@2 against fraud_detector@1",
    "95 % interval",
    "v2 promoted, production → v2",
    "Gate fraud_detector@3 failed: roc_auc on country=BR",
    "Deploying fraud_detector@3 is refused",
    "Check fraud_detector@4 failed: predict raised KeyError: 'tablet'",
    "Rolled back automatically: error_rate",
    "No user saw an error",
    "Drift alert on v2",
    "received: fraud_detector@2: data drift in amount, device_type",
    "Retraining finished",
    "Shadow report",
    "v5 promoted, production → v5",
    "the alert is resolved",
    "blocked by the slice gate (country=BR)",
    "mlship models history fraud_detector",
    "Every step behaved as narrated",
)


# The end-to-end tests share one run of the demo (about a minute), marked slow. It holds three
# canaries judged on latency: in the canary group, not next to other canaries on a shared CPU.
@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("demo") / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLSHIP_")}
    env.update(COLUMNS="200", MLSHIP_HOME=str(home.parent / "not-this-one"))
    done = subprocess.run(
        [sys.executable, "-m", "mlship", "demo", "--home", str(home), "--fast"],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return home, output


@pytest.fixture
def registry(demo_run: tuple[Path, str]) -> Iterator[Registry]:
    home, _ = demo_run
    opened = Registry.from_env({"MLSHIP_HOME": str(home)})
    yield opened
    opened.close()


@pytest.mark.slow
@pytest.mark.xdist_group("canary")
def test_demo_narrates_every_milestone(demo_run: tuple[Path, str]) -> None:
    home, output = demo_run
    text = " ".join(output.split())  # a long line may wrap: compare the words
    missing = [m for m in MILESTONES if m not in text]
    assert not missing, f"missing {missing} in:\n{output}"
    assert "Traceback" not in output
    assert not (home.parent / "not-this-one").exists()  # the demo never uses the user's store


@pytest.mark.slow
@pytest.mark.xdist_group("canary")
def test_demo_leaves_five_versions_and_v5_in_production(registry: Registry) -> None:
    versions = sorted(v.version for v in registry.list_versions(NAME))
    assert versions == [1, 2, 3, 4, 5]
    assert registry.resolve(f"{NAME}@production") == (NAME, 5)
    deployment = DeploymentStore(registry).get(NAME)
    assert deployment is not None
    assert (deployment.stable_version, deployment.state) == (5, "idle")
    blessed = {v.version: v.blessed for v in registry.list_versions(NAME)}
    assert blessed == {1: True, 2: True, 3: False, 4: None, 5: True}


@pytest.mark.slow
@pytest.mark.xdist_group("canary")
def test_v3_gate_failure_names_the_country_slice(registry: Registry) -> None:
    (run,) = registry.check_runs(f"{NAME}@3", kind="gate")
    failed = [r for r in run.report["results"] if r["status"] == "fail"]
    assert [r["name"] for r in failed] == ["gate:roc_auc:slice:country=BR"]
    figures = failed[0]["figures"]
    assert figures["baseline"] - figures["candidate"] > figures["allowed_loss"]
    overall = next(r for r in run.report["results"] if r["name"] == "gate:roc_auc")
    assert overall["status"] == "pass"  # better overall: only the slice gate catches it
    kinds = [e.kind for e in registry.history(NAME) if e.version == 3]
    assert "gate_failed" in kinds and "canary_started" not in kinds


@pytest.mark.slow
@pytest.mark.xdist_group("canary")
def test_v4_was_forced_then_rolled_back_on_its_error_rate(registry: Registry) -> None:
    events = [e for e in registry.history(NAME) if e.version == 4]
    kinds = [e.kind for e in events]
    assert "check_failed" in kinds
    started = next(e for e in events if e.kind == "canary_started")
    assert started.details["forced"] is True
    rolled = [e for e in registry.history(NAME) if e.kind == "rolled_back"]
    assert len(rolled) == 1 and rolled[0].details["candidate"] == 4
    analysis = rolled[0].details["analysis"]
    assert "error_rate" in analysis["failed"]
    errors = next(c for c in analysis["checks"] if c["name"] == "error_rate")
    assert errors["status"] == "fail" and errors["candidate"] > errors["stable"] + 0.01
    assert errors["figures"]["candidate_errors"] > 0
    assert "canary_step" not in kinds  # caught at the first step


@pytest.mark.slow
@pytest.mark.xdist_group("canary")
def test_drift_alert_retrains_v5_which_is_shadowed_then_promoted(
    registry: Registry, demo_run: tuple[Path, str]
) -> None:
    home, _ = demo_run
    history = registry.history(NAME)
    alert = next(e for e in history if e.kind == "alert_raised")
    assert alert.version == 2 and alert.details["kind"] == "data_drift"
    assert {"amount", "device_type"} <= set(alert.details["features"])
    assert Path(alert.details["report"]).is_file()
    finished = next(e for e in history if e.kind == "retrain_finished")
    assert finished.details["exit_code"] == 0 and finished.details["new_version"] == 5
    assert registry.get(f"{NAME}@5").parent_version == 2
    v5 = [e.kind for e in history if e.version == 5]
    for kind in ("registered", "check_passed", "gate_passed", "shadow_started", "canary_started"):
        assert kind in v5, v5
    assert v5.count("canary_step") == 4 and "promoted" in v5
    assert any(e.kind == "alert_resolved" for e in history)
    assert (home / "reports" / "shadow-v5.html").is_file()


def test_transactions_are_two_percent_fraud_and_shift_on_request() -> None:
    frame = make_transactions(20_000, seed=1)
    assert 0.015 < frame["is_fraud"].mean() < 0.03
    assert "smartwatch" not in set(frame["device_type"])
    shifted = make_transactions(20_000, seed=1, amount_scale=1.5, smartwatch_share=0.2)
    assert 0.17 < (shifted["device_type"] == "smartwatch").mean() < 0.23
    assert shifted["amount"].median() > 1.4 * frame["amount"].median()


def test_faulty_steps_break_only_what_the_demo_says() -> None:
    frame = make_transactions(2_000, seed=2).drop(columns=["is_fraud"])
    converted = ToEuro({"DE": 1.0, "US": 0.5}).transform(frame)
    brazil = (frame["country"] == "BR").to_numpy()
    assert (converted["amount"][brazil] == 0).all()
    us = (frame["country"] == "US").to_numpy()
    assert converted["amount"][us].tolist() == (frame["amount"][us] * 0.5).tolist()
    names = DeviceNames({"mobile": "mobile", "desktop": "desktop", "pos": "pos"})
    assert names.transform(frame[frame["device_type"] != "tablet"]).shape == (
        int((frame["device_type"] != "tablet").sum()),
        frame.shape[1],
    )
    with pytest.raises(KeyError, match="tablet"):
        names.transform(frame)
