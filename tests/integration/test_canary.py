"""Canaries end to end: a real server, real load from other threads, the controller deciding."""

from __future__ import annotations

import time
from collections.abc import Callable

import pandas as pd
import pytest

from mlship.registry import Registry
from mlship.rollout import CanaryConfig, Controller, DeploymentStore, Rollouts
from tests.conftest import fit_logreg
from tests.integration import rollout_models
from tests.integration.conftest import ServeFactory
from tests.integration.traffic import load

# One worker runs them one after the other: their latency checks need a CPU that is not shared
# with three other canaries.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("canary")]

FAST = CanaryConfig(steps=(5, 10, 25, 50, 100), interval_s=0.4, min_requests=60, max_wait_s=300)


def wait_for(
    check: Callable[[], bool], timeout: float = 180.0, explain: Callable[[], str] = str
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out\n{explain()}"
        time.sleep(0.1)


def ledger(registry: Registry) -> str:
    """The rollout events of ``fraud`` with the figures of each check, then the analysis of the
    running step if a canary still runs: what a failure message needs."""
    lines = []

    def show(analysis: dict) -> None:
        for check in analysis.get("checks", []):
            figures = {k: check[k] for k in ("stable", "candidate", "value", "threshold")}
            lines.append(f"    {check['name']} {check['status']} {figures} {check['figures']}")
            lines.append(f"        {check['reason']}")

    for event in registry.history("fraud"):
        details = {k: v for k, v in event.details.items() if k != "analysis"}
        lines.append(f"{event.kind} {event.reason or ''} {details}")
        show(event.details.get("analysis") or {})
    deployment = DeploymentStore(registry).get("fraud")
    if deployment is not None and deployment.state == "canary":
        lines.append(f"running step {deployment.config.get('step')}, now:")
        show(Controller(registry).judge(deployment).to_dict())
    return "\n".join(lines)


@pytest.fixture
def setup(registry: Registry, numeric_frame: pd.DataFrame, serve_factory: ServeFactory):
    base = fit_logreg(numeric_frame)
    registry.register(base, "fraud", train_data=numeric_frame, label="is_fraud")
    Rollouts(registry).start_canary("fraud@1")
    server = serve_factory(registry, refresh_interval_s=0.05, controller_interval_s=0.2)
    rows = numeric_frame.drop(columns=["is_fraud"]).to_dict("records")
    return registry, server, rows, base


def candidate(registry: Registry, model: object, frame: pd.DataFrame) -> str:
    version = registry.register(model, "fraud", train_data=frame, label="is_fraud", trusted=True)
    registry.record_check_run(version.ref, kind="gate", passed=True, report={})
    return version.ref


def test_good_candidate_walks_every_step_and_becomes_production(
    setup, numeric_frame: pd.DataFrame
) -> None:
    registry, server, rows, _ = setup
    ref = candidate(
        registry, fit_logreg(numeric_frame.sample(frac=1.0, random_state=4)), numeric_frame
    )
    with load(server, rows) as counts:
        Rollouts(registry).start_canary(ref, FAST)
        wait_for(
            lambda: DeploymentStore(registry).get("fraud").state != "canary",
            explain=lambda: ledger(registry),
        )
    assert DeploymentStore(registry).get("fraud").stable_version == 2, ledger(registry)
    assert counts["failed"] == []
    assert counts["versions"] == {1, 2}
    kinds = [e.kind for e in registry.history("fraud")]
    assert kinds.count("canary_step") == 4 and kinds[-1] == "promoted", ledger(registry)
    assert registry.resolve("fraud@production") == ("fraud", 2)
    step = next(e for e in registry.history("fraud") if e.kind == "canary_step")
    assert step.details["analysis"]["verdict"] == "pass"
    # At 100 % stable's traffic is from earlier steps: errors are compared, latency is not.
    final = {
        c["name"]: c["status"] for c in registry.history("fraud")[-1].details["analysis"]["checks"]
    }
    assert final["error_rate"] == "pass" and final["latency_p95"] == "skip"


@pytest.mark.parametrize(
    ("fault", "check"),
    [("Flaky", "error_rate"), ("Slow", "latency_p95"), ("Shifted", "divergence")],
)
def test_faulty_candidate_is_rolled_back_at_the_first_step(
    setup, numeric_frame: pd.DataFrame, fault: str, check: str
) -> None:
    registry, server, rows, base = setup
    faulty = getattr(rollout_models, fault)(base)
    ref = candidate(registry, faulty, numeric_frame)
    with load(server, rows) as counts:
        Rollouts(registry).start_canary(ref, FAST)
        wait_for(
            lambda: DeploymentStore(registry).get("fraud").state == "rolled_back",
            explain=lambda: ledger(registry),
        )
    assert counts["failed"] == []  # a raising candidate falls back to stable for the user
    history = registry.history("fraud")
    rolled = history[-1]
    assert rolled.kind == "rolled_back" and check in (rolled.reason or ""), ledger(registry)
    checks = {c["name"]: c["status"] for c in rolled.details["analysis"]["checks"]}
    assert checks[check] == "fail", ledger(registry)
    assert "canary_step" not in [e.kind for e in history], ledger(registry)
    assert DeploymentStore(registry).get("fraud").stable_version == 1
