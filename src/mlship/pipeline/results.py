"""What a pipeline run produces: a :class:`StageResult` per stage, one :class:`PipelineResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from mlship.errors import CheckFailed, GateFailed, MlshipError

if TYPE_CHECKING:
    from mlship.checks.results import Report

STAGES = ("test", "validate", "train", "sanity", "gate", "deploy")
"""The stages in order: the project's tests (CI layer 1), data validation (2), training and
registration, model sanity (3), gates (4), deployment."""
TITLES = {
    "test": "Code tests",
    "validate": "Data validation",
    "train": "Train and register",
    "sanity": "Model sanity",
    "gate": "Gates",
    "deploy": "Deploy",
}
StageStatus = Literal["pass", "fail", "skip"]


@dataclass(frozen=True, slots=True)
class StageResult:
    """The outcome of one stage."""

    stage: str
    status: StageStatus
    message: str
    """One sentence with the figures, e.g. ``f1 0.861 vs 0.858 (fraud@1): passed``."""
    duration_s: float = 0.0
    report: Report | None = field(default=None, compare=False)
    """The check or gate report of ``validate``, ``sanity`` and ``gate``."""
    output: str | None = None
    """The tail of a command's output (``test``, ``train``)."""
    details: dict[str, Any] = field(default_factory=dict)
    error: MlshipError | None = field(default=None, compare=False)
    """The error that stopped the stage, when it was one (bad data, a busy deployment)."""

    def to_dict(self) -> dict[str, Any]:
        """What the ledger keeps of the stage (reports are stored on the version already)."""
        data: dict[str, Any] = {
            "stage": self.stage,
            "status": self.status,
            "duration_s": round(self.duration_s, 3),
            "message": self.message,
        }
        if self.report is not None:
            data["report"] = {
                "verdict": self.report.verdict,
                "counts": self.report.counts(),
                "failed": [r.name for r in self.report.results if r.failed],
            }
        if self.output:
            data["output_tail"] = self.output
        if self.details:
            data["details"] = self.details
        return data


@dataclass(frozen=True, slots=True)
class PipelineResult:
    """One ``mlship run``: every stage's result, the version it registered, the baseline."""

    run_id: str
    model: str
    stages: tuple[StageResult, ...]
    started_at: datetime
    duration_s: float
    until: str = "deploy"
    version: int | None = None
    """The version registered by the train stage (None if it did not get that far)."""
    baseline: str | None = None
    """The production version the data and the gates were compared with."""
    recorded: bool = False
    """Whether the run is in the ledger (a model with no version yet has no ledger)."""

    @property
    def passed(self) -> bool:
        return not any(s.status == "fail" for s in self.stages)

    @property
    def failed_stage(self) -> StageResult | None:
        return next((s for s in self.stages if s.status == "fail"), None)

    @property
    def ref(self) -> str | None:
        return f"{self.model}@{self.version}" if self.version is not None else None

    def error(self) -> MlshipError | None:
        """The error the run ends with: None when it passed; the failed stage's own error, or
        :class:`~mlship.errors.GateFailed` (gate) / :class:`~mlship.errors.CheckFailed`."""
        failed = self.failed_stage
        if failed is None:
            return None
        if failed.error is not None:
            return failed.error
        message = f"The pipeline stopped at stage '{failed.stage}': {failed.message}"
        return (GateFailed if failed.stage == "gate" else CheckFailed)(message)

    def ledger_details(self) -> dict[str, Any]:
        """What the ``pipeline_run`` event keeps: every stage's verdict and time, and why the
        run stopped (the reports are stored on the version by the stages themselves)."""
        failed = self.failed_stage
        details: dict[str, Any] = {
            "run_id": self.run_id,
            "verdict": "pass" if self.passed else "fail",
            "until": self.until,
            "baseline": self.baseline,
            "duration_s": round(self.duration_s, 3),
            "stages": [
                {"stage": s.stage, "status": s.status, "duration_s": round(s.duration_s, 3)}
                for s in self.stages
            ],
        }
        if failed is not None:
            details.update(failed_stage=failed.stage, failure=failed.message)
        return details

    def to_dict(self) -> dict[str, Any]:
        failed = self.failed_stage
        return {
            "run_id": self.run_id,
            "model": self.model,
            "version": self.version,
            "baseline": self.baseline,
            "verdict": "pass" if self.passed else "fail",
            "failed_stage": failed.stage if failed is not None else None,
            "until": self.until,
            "started_at": self.started_at.isoformat(),
            "duration_s": round(self.duration_s, 3),
            "stages": [s.to_dict() for s in self.stages],
        }
