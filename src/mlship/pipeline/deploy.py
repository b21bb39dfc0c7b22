"""The last stage of ``mlship run``: roll the blessed version out as ``[rollout]`` says.

The first deployment of a model goes live at once (and takes the ``production`` alias); later
ones start a canary (which the controller of ``mlship serve`` or ``mlship controller`` moves on),
a shadow, or a blue-green switch after the same smoke test as ``mlship deploy --strategy
blue-green``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlship.errors import ModelNotFound, NotFound, SmokeTestFailed, VersionNotFound
from mlship.pipeline.results import StageResult

if TYPE_CHECKING:
    from mlship.pipeline.stages import RunContext
    from mlship.registry import ModelVersion, Registry
    from mlship.rollout import Deployment, Rollouts


def production_version(registry: Registry, name: str) -> ModelVersion | None:
    """The version serving ``name`` in production: the ``production`` alias, else the stable
    version of its deployment, else None (a model never deployed)."""
    from mlship.rollout import DeploymentStore

    try:
        return registry.get(f"{name}@production")
    except ModelNotFound:
        return None
    except VersionNotFound:
        pass
    deployment = DeploymentStore(registry).get(name)
    if deployment is None:
        return None
    return registry.get(f"{name}@{deployment.stable_version}")


def deploy(ctx: RunContext) -> StageResult:
    """Start the rollout of the version the run registered (it passed its gates)."""
    from mlship.rollout import DeploymentStore, Rollouts

    version = ctx.version
    assert version is not None  # train_and_register ran
    registry, settings = ctx.registry, ctx.config.rollout
    rollouts = Rollouts(registry)
    first = DeploymentStore(registry).get(version.name) is None
    reason = f"mlship run {ctx.run_id}"
    if settings.strategy == "blue-green":
        deployment = _switch(rollouts, version.ref, settings.standby_s, reason)
    elif settings.strategy == "shadow":
        deployment = rollouts.start_shadow(version.ref, settings.mirror_percent, reason=reason)
    else:
        deployment = rollouts.start_canary(version.ref, settings.canary, reason=reason)
    if first:
        _take_production(registry, version, reason)
    return StageResult(
        "deploy",
        "pass",
        _describe(deployment, version, first),
        details={
            "strategy": "first deployment" if first else settings.strategy,
            "state": deployment.state,
            "stable_version": deployment.stable_version,
            "candidate_version": deployment.candidate_version,
            "traffic": deployment.traffic,
        },
    )


def _switch(rollouts: Rollouts, ref: str, standby_s: float, reason: str) -> Deployment:
    """Smoke-test green in this process, then switch (servers load and warm it first)."""
    from mlship.serving.smoke import record_failure, smoke_test_in_process

    registry = rollouts.registry
    pinned = rollouts.check_switch(ref).ref
    report = smoke_test_in_process(registry, pinned)
    if not report.passed:
        record_failure(registry, report, reason)
        raise SmokeTestFailed(report.message(), report)
    return rollouts.switch(pinned, reason=reason, standby_s=standby_s, smoke=report.summary())


def _take_production(registry: Registry, version: ModelVersion, reason: str) -> None:
    """The first deployment makes its version ``production`` (the gates' next baseline)."""
    try:
        registry.get(f"{version.name}@production")
    except NotFound:
        registry.set_alias(version.ref, "production", reason=f"first deployment ({reason})")


def _describe(deployment: Deployment, version: ModelVersion, first: bool) -> str:
    v = f"v{version.version}"
    if first:
        return f"{version.ref} is live: it serves all traffic (the model's first deployment)."
    if deployment.state == "canary":
        steps = deployment.config.get("steps", [])
        interval = float(deployment.config.get("interval_s", 0))
        return (
            f"canary started: {deployment.traffic:.0%} of traffic on {v}, the rest on "
            f"v{deployment.stable_version}; steps {steps} every {interval:g} s, judged by the "
            f"controller (mlship serve or mlship controller). Follow it: mlship status "
            f"{version.name} --watch"
        )
    if deployment.state == "shadow":
        return (
            f"shadow started: {v} gets a copy of {deployment.mirror_percent:g}% of requests; "
            f"users get v{deployment.stable_version}. Compare: mlship status {version.name} "
            "--report"
        )
    standby = deployment.standby_version
    kept = f"; v{standby} on standby for an instant rollback" if standby is not None else ""
    return f"switched: {v} serves all traffic after its smoke test{kept}."
