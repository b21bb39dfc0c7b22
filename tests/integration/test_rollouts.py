"""Rollout transitions in the store, on every backend: one transaction and one event each."""

from __future__ import annotations

import pandas as pd
import pytest

from mlship.errors import ConfigError, Conflict, NotFound
from mlship.registry import Registry
from mlship.rollout import CanaryConfig, DeploymentStore, Rollouts
from tests.conftest import fit_logreg


@pytest.fixture
def three(registry: Registry, numeric_frame: pd.DataFrame) -> Registry:
    model = fit_logreg(numeric_frame)
    for _ in range(3):
        registry.register(model, "fraud")
    for version in (2, 3):
        registry.record_check_run(f"fraud@{version}", kind="gate", passed=True, report={})
    return registry


def test_first_deployment_goes_live(three: Registry) -> None:
    deployment = Rollouts(three).start_canary("fraud@1")
    assert (deployment.stable_version, deployment.state, deployment.traffic) == (1, "idle", 0.0)


def test_canary_walks_every_step_then_promotes_and_moves_production(three: Registry) -> None:
    rollouts = Rollouts(three)
    rollouts.start_canary("fraud@1")
    started = rollouts.start_canary("fraud@2", CanaryConfig(steps=(5, 10, 25, 50, 100)))
    assert (started.state, started.candidate_version, started.traffic) == ("canary", 2, 0.05)
    shares = [rollouts.advance("fraud", {"verdict": "pass"}).traffic for _ in range(4)]
    assert shares == [0.10, 0.25, 0.50, 1.0]
    done = rollouts.advance("fraud", {"verdict": "pass"})
    assert (done.stable_version, done.candidate_version, done.state) == (2, None, "idle")
    assert three.resolve("fraud@production") == ("fraud", 2)
    kinds = [e.kind for e in three.history("fraud")]
    assert kinds[-7:] == [
        "canary_started",
        "canary_step",
        "canary_step",
        "canary_step",
        "canary_step",
        "alias_set",
        "promoted",
    ]
    revisions = DeploymentStore(three).revisions()
    assert revisions["fraud"] == 7


def test_unblessed_version_is_refused_unless_forced(
    three: Registry, numeric_frame: pd.DataFrame
) -> None:
    three.register(fit_logreg(numeric_frame), "fraud")  # v4, never gated
    rollouts = Rollouts(three)
    rollouts.start_canary("fraud@1")
    with pytest.raises(Conflict, match="never gated"):
        rollouts.start_canary("fraud@4")
    three.record_check_run("fraud@4", kind="gate", passed=False, report={})
    with pytest.raises(Conflict, match="failed its latest gate"):
        rollouts.start_canary("fraud@4")
    forced = rollouts.start_canary("fraud@4", force=True, reason="hotfix")
    assert forced.config["forced"] is True
    event = three.history("fraud")[-1]
    assert (event.kind, event.reason, event.details["forced"]) == ("canary_started", "hotfix", True)


def test_rollback_from_a_canary_keeps_stable_and_records_the_analysis(three: Registry) -> None:
    rollouts = Rollouts(three)
    rollouts.start_canary("fraud@1")
    rollouts.start_canary("fraud@2")
    back = rollouts.rollback("fraud", reason="error rate", analysis={"error_rate": 0.1})
    assert (back.stable_version, back.candidate_version, back.traffic) == (1, None, 0.0)
    assert back.state == "rolled_back"
    event = three.history("fraud")[-1]
    assert event.details["analysis"] == {"error_rate": 0.1} and event.version == 2


def test_rollback_without_a_candidate_returns_to_the_previous_stable(three: Registry) -> None:
    rollouts = Rollouts(three)
    rollouts.start_canary("fraud@1")
    rollouts.start_canary("fraud@2")
    rollouts.promote("fraud")
    assert three.resolve("fraud@production") == ("fraud", 2)
    back = rollouts.rollback("fraud", reason="complaints")
    assert back.stable_version == 1
    assert three.resolve("fraud@production") == ("fraud", 1)


def test_pause_resume_abort_check_the_state(three: Registry) -> None:
    rollouts = Rollouts(three)
    rollouts.start_canary("fraud@1")
    with pytest.raises(Conflict, match="idle"):
        rollouts.pause("fraud")
    rollouts.start_canary("fraud@2")
    assert rollouts.pause("fraud", reason="inconclusive").state == "paused"
    with pytest.raises(Conflict):
        rollouts.advance("fraud")
    assert rollouts.resume("fraud").state == "canary"
    with pytest.raises(Conflict, match="already rolling out"):
        rollouts.start_canary("fraud@3")
    aborted = rollouts.abort("fraud")
    assert (aborted.state, aborted.candidate_version, aborted.stable_version) == ("idle", None, 1)
    with pytest.raises(NotFound):
        rollouts.pause("churn")


@pytest.mark.parametrize("steps", [(5, 50, 25, 100), (5, 10), (), (0, 100), (50, 50, 100)])
def test_steps_must_increase_to_100(steps: tuple[int, ...]) -> None:
    with pytest.raises(ConfigError, match="increasing percentages ending at 100"):
        CanaryConfig(steps=steps)


def test_blue_green_switch_needs_a_blessing_after_the_first_deployment(
    three: Registry, numeric_frame: pd.DataFrame
) -> None:
    rollouts = Rollouts(three)
    assert rollouts.switch("fraud@1").stable_version == 1  # first deployment: no gate needed
    three.register(fit_logreg(numeric_frame), "fraud")  # v4, never gated
    with pytest.raises(Conflict, match="never gated"):
        rollouts.switch("fraud@4")
    assert rollouts.switch("fraud@2").stable_version == 2
    assert rollouts.switch("fraud@4", force=True, reason="hotfix").stable_version == 4
