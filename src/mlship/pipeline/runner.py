"""``mlship run``: the stages in order, stopping at the first that fails, and the run in the ledger.

Example (what ``mlship run --until gate`` does)::

    result = run_pipeline(Registry.from_env(), load_pipeline_config("mlship.toml"), until="gate")
    result.passed, result.ref, [s.status for s in result.stages]
    # (True, 'fraud_detector@2', ['pass', 'pass', 'pass', 'pass', 'pass', 'skip'])
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from mlship.config import StoreSettings
from mlship.errors import ConfigError, MlshipError, ModelNotFound
from mlship.pipeline.deploy import deploy, production_version
from mlship.pipeline.results import STAGES, PipelineResult, StageResult
from mlship.pipeline.stages import (
    RunContext,
    code_tests,
    gates,
    model_sanity,
    train_and_register,
    validate_data,
)
from mlship.store import utcnow

if TYPE_CHECKING:
    from mlship.pipeline.config import PipelineConfig
    from mlship.registry import Registry

log = logging.getLogger(__name__)

STAGE_FUNCTIONS: Mapping[str, Callable[[RunContext], StageResult]] = {
    "test": code_tests,
    "validate": validate_data,
    "train": train_and_register,
    "sanity": model_sanity,
    "gate": gates,
    "deploy": deploy,
}


class StageObserver(Protocol):
    """Told when each stage starts and ends (the CLI's progress view is one)."""

    def stage_started(self, stage: str) -> None: ...

    def stage_finished(self, result: StageResult) -> None: ...


def run_pipeline(
    registry: Registry,
    config: PipelineConfig,
    *,
    until: str = "deploy",
    observer: StageObserver | None = None,
    environ: Mapping[str, str] | None = None,
) -> PipelineResult:
    """Run the stages up to and including ``until``; stop at the first failure.

    A failed check or gate is a failed stage, not an exception; so is an error the user can fix
    (missing data file, a deployment busy with another rollout), kept on the stage
    (:meth:`PipelineResult.error` gives the error to raise). The run is recorded as a
    ``pipeline_run`` event of the model (once it has a version).
    """
    if until not in STAGES:
        raise ConfigError(
            f"The 'until' option must be one of {', '.join(STAGES)}. Got {until!r} instead."
        )
    started, clock = utcnow(), time.perf_counter()
    run_id = f"{started:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"
    ctx = RunContext(
        registry=registry,
        config=config,
        run_id=run_id,
        run_dir=StoreSettings.from_env(environ).home.resolve() / "runs" / run_id,
        environ=environ,
        baseline=production_version(registry, config.model.name),
    )
    results: list[StageResult] = []
    skipped: str | None = None
    for stage in STAGES:
        if skipped is not None:
            results.append(StageResult(stage, "skip", skipped))
            if observer is not None:
                observer.stage_finished(results[-1])
            continue
        if observer is not None:
            observer.stage_started(stage)
        result = _run_stage(stage, ctx)
        results.append(result)
        if observer is not None:
            observer.stage_finished(result)
        if result.status == "fail":
            skipped = f"Not run: stage '{stage}' failed."
        elif stage == until:
            skipped = f"Not run (--until {until})."
    outcome = PipelineResult(
        run_id=run_id,
        model=config.model.name,
        stages=tuple(results),
        started_at=started,
        duration_s=time.perf_counter() - clock,
        until=until,
        version=ctx.version.version if ctx.version is not None else None,
        baseline=ctx.baseline.ref if ctx.baseline is not None else None,
    )
    return dataclasses.replace(outcome, recorded=_record(registry, outcome))


def _run_stage(stage: str, ctx: RunContext) -> StageResult:
    clock = time.perf_counter()
    try:
        result = STAGE_FUNCTIONS[stage](ctx)
    except MlshipError as exc:
        result = StageResult(stage, "fail", exc.message, error=exc)
    return dataclasses.replace(result, duration_s=time.perf_counter() - clock)


def _record(registry: Registry, result: PipelineResult) -> bool:
    """A ``pipeline_run`` event in the model's ledger; False when the model has no ledger yet
    (a first run that stopped before registering a version)."""
    failed = result.failed_stage
    reason = (
        f"mlship run {result.run_id}: passed"
        if failed is None
        else f"mlship run {result.run_id}: stopped at {failed.stage}"
    )
    try:
        registry.record_event(
            result.model,
            "pipeline_run",
            version=result.version,
            reason=reason,
            details=result.ledger_details(),
        )
    except ModelNotFound:
        log.info("Run %s not recorded: %s has no version yet", result.run_id, result.model)
        return False
    return True
