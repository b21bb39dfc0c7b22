"""The stages of ``mlship run`` before deployment: the project's tests (CI layer 1), data
validation (layer 2), training and registration, model sanity (layer 3) and gates (layer 4).

Each stage reads and extends one :class:`RunContext` and returns a
:class:`~mlship.pipeline.results.StageResult`; a problem of the user's making is raised as an
:class:`~mlship.errors.MlshipError` (the runner keeps it on the stage and stops).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlship.errors import InvalidInput
from mlship.pipeline.commands import command_environment, run_command
from mlship.pipeline.provenance import DataFile, Provenance
from mlship.pipeline.results import StageResult
from mlship.pipeline.training import train
from mlship.store import utcnow

if TYPE_CHECKING:
    import pandas as pd

    from mlship.checks.results import CheckResult, Report
    from mlship.pipeline.config import PipelineConfig
    from mlship.registry import ModelVersion, Registry


@dataclass(slots=True)
class RunContext:
    """What the stages of one run share; each stage fills in what the next ones need."""

    registry: Registry
    config: PipelineConfig
    run_id: str
    run_dir: Path
    """Where the commands' logs go (``$MLSHIP_HOME/runs/<run id>``)."""
    environ: Mapping[str, str] | None = None
    baseline: ModelVersion | None = None
    """The production version when the run started (None: the first model)."""
    train_frame: pd.DataFrame | None = None
    holdout_frame: pd.DataFrame | None = None
    data_files: dict[str, DataFile] = field(default_factory=dict)
    version: ModelVersion | None = None


def code_tests(ctx: RunContext) -> StageResult:
    """``[checks] code``: the project's own tests, in the project folder."""
    command = ctx.config.code
    if command is None:
        return StageResult("test", "skip", "No [checks] code command: the project's tests skipped.")
    done = run_command(
        command,
        cwd=ctx.config.project_dir,
        env=command_environment(ctx.environ),
        log=ctx.run_dir / "test.log",
    )
    if done.ok:
        return StageResult("test", "pass", f"`{command}` passed.")
    return StageResult(
        "test",
        "fail",
        f"{done.describe()}; log: {ctx.run_dir / 'test.log'}.",
        output=done.tail(),
    )


def validate_data(ctx: RunContext) -> StageResult:
    """Training and holdout data against the production version's training profile (the first
    model: the holdout against the training data's own profile)."""
    from mlship.checks.expectations import expectations_for_version, expectations_from_profile
    from mlship.checks.results import Report
    from mlship.checks.validation import validate_frame
    from mlship.registry.profile import fingerprint_frame, profile_frame

    started, clock = utcnow(), time.perf_counter()
    config = ctx.config
    label = config.model.label
    frames = {"train": _read(config, "data"), "holdout": _read(config, "holdout")}
    ctx.train_frame, ctx.holdout_frame = frames["train"], frames["holdout"]
    for key, path in (("train", config.train.data), ("holdout", config.train.holdout)):
        frame = frames[key]
        ctx.data_files[key] = DataFile(path, fingerprint_frame(frame), len(frame))
    baseline = ctx.baseline
    if baseline is not None and baseline.data_profile is not None:
        expectations = expectations_for_version(baseline, include_label=True)
        against = f"the training profile of {baseline.ref} (production)"
    else:
        expectations = expectations_from_profile(
            profile_frame(frames["train"]), label=label, include_label=True
        )
        against = f"the profile of {config.train.data} (no production version yet)"
    results: list[CheckResult] = []
    for key, frame in frames.items():
        for result in validate_frame(frame, expectations, config.validation):
            results.append(dataclasses.replace(result, name=f"{key}/{result.name}"))
    report = Report(
        kind="check",
        subject=f"{config.train.data}, {config.train.holdout}",
        results=tuple(results),
        started_at=started,
        duration_s=time.perf_counter() - clock,
        baseline=baseline.ref if baseline is not None else None,
        summary={k: len(f) for k, f in frames.items()} | {"against": against},
    )
    rows = f"train {len(frames['train']):,} rows, holdout {len(frames['holdout']):,} rows"
    return _from_report("validate", report, f"{rows} against {against}")


def train_and_register(ctx: RunContext) -> StageResult:
    """Train as ``[train]`` says, then register the model with its provenance."""
    from mlship.registry.environment import git_commit

    config, frame = ctx.config, ctx.train_frame
    assert frame is not None  # validate_data ran
    by = f"{config.train.entry} t" if config.train.entry else "T"
    with tempfile.TemporaryDirectory(prefix="mlship-train-") as tmp:
        trained = train(
            config.model,
            config.train,
            config.project_dir,
            frame,
            Path(tmp),
            environ=ctx.environ,
            log=ctx.run_dir / "train.log",
        )
        if not trained.ok:
            return StageResult("train", "fail", f"{trained.problem}", output=trained.tail() or None)
        provenance = Provenance(
            run_id=ctx.run_id,
            training={
                "command": config.train.command,
                "entry": config.train.entry,
                "timeout_s": config.train.timeout_s,
                "git_commit": git_commit(config.project_dir),
            },
            config=config.document,
            data=dict(ctx.data_files),
        )
        version = ctx.registry.register(
            trained.source,
            config.model.name,
            train_data=frame,
            label=config.model.label,
            metrics=trained.metrics,
            params=trained.params,
            provenance_tags=provenance.tags(),
            description=config.model.description,
            format=config.model.format,
            trusted=config.model.trusted,
            reason=f"mlship run {ctx.run_id}",
        )
    ctx.version = version
    return StageResult(
        "train",
        "pass",
        f"{by}rained in {trained.duration_s:.1f} s; registered {version.ref} "
        f"({version.format}, {version.artifact_size / 1024:.0f} KiB).",
        details={"version": version.version, "metrics": version.metrics},
    )


def model_sanity(ctx: RunContext) -> StageResult:
    """The sanity checks of ``mlship check`` on the holdout rows (stored on the version); memory
    is a gate (``max_memory_mb``), not measured twice."""
    from mlship.checks.check_run import CheckRun, run_check
    from mlship.checks.sanity import SanityConfig

    version = ctx.version
    assert version is not None  # train_and_register ran
    report = run_check(
        ctx.registry,
        CheckRun(
            ref=version.ref,
            data=ctx.holdout_frame,
            sanity_only=True,
            sanity=SanityConfig(measure_memory=False),
        ),
    )
    latency = next((r for r in report.results if r.name == "sanity:latency"), None)
    return _from_report("sanity", report, latency.message if latency else version.ref)


def gates(ctx: RunContext) -> StageResult:
    """The gates of ``[gates]`` against the production version on the holdout (stored on the
    version: it is blessed when they pass). The first model has no baseline: its metric is
    reported (and held to ``min_metric`` if set)."""
    from mlship.checks.gates import GateRun, run_gates

    version, holdout = ctx.version, ctx.holdout_frame
    assert version is not None and holdout is not None
    baseline = ctx.baseline
    report = run_gates(
        ctx.registry,
        GateRun(
            candidate=version.ref,
            baseline=baseline.ref if baseline is not None else None,
            data=holdout,
            label=ctx.config.model.label,
            config=ctx.config.gates,
        ),
    )
    s = report.summary
    if s.get("baseline") is not None:
        headline = (
            f"{s['metric']} {s['candidate']:.4f} vs {s['baseline']:.4f} of {report.baseline} "
            f"(difference {s['difference']:+.4f})"
        )
    else:
        headline = (
            f"{s['metric']} {s['candidate']:.4f}; no production version to compare with "
            "(the first model): gated on absolute budgets only"
        )
    if report.passed:
        headline += f"; {version.ref} is blessed"
    return _from_report("gate", report, headline)


def _from_report(stage: str, report: Report, headline: str) -> StageResult:
    counts = report.counts()
    headline = headline.rstrip(".")
    if report.passed:
        warned = f", {counts['warn']} warning(s)" if counts["warn"] else ""
        return StageResult(
            stage, "pass", f"{headline}: {counts['pass']} check(s) passed{warned}.", report=report
        )
    failed = [r for r in report.results if r.failed]
    shown = ", ".join(r.name for r in failed[:5]) + (" ..." if len(failed) > 5 else "")
    if len(failed) == 1:
        shown = f"{failed[0].name} ({failed[0].message.rstrip('.')})"
    return StageResult(
        stage,
        "fail",
        f"{headline}: {len(failed)} failing check(s): {shown}.",
        report=report,
    )


def _read(config: PipelineConfig, key: str) -> pd.DataFrame:
    from mlship.registry.dataio import read_table

    path = config.train.data if key == "data" else config.train.holdout
    try:
        return read_table(config.project_dir / path)
    except InvalidInput as exc:
        raise InvalidInput(f"{exc.message} (set in {config.where('train', key)})") from None
