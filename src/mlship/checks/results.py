"""What a check or gate run produces: a CheckResult per check, a Report per run.

Statuses: ``pass``; ``fail`` (an error-severity check did not hold: the run fails); ``warn`` (a
warning-severity check did not hold: reported, the run still passes); ``skip`` (not applicable, e.g.
a slice with too few rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Status = Literal["pass", "fail", "warn", "skip"]
Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check: e.g. ``missingness`` of column ``amount``."""

    name: str
    """Stable identifier, e.g. ``missingness:amount`` or ``gate:f1:slice:country=DE``."""
    category: str
    """Group: ``schema``, ``types``, ``ranges``, ``missingness``, ``categories``, ``rows``,
    ``sanity``, ``performance``, ``statistical``, ``slice``, ``latency``, ``memory``."""
    status: Status
    message: str
    """One sentence a person can act on, with the figures."""
    severity: Severity = "error"
    figures: dict[str, Any] = field(default_factory=dict)
    """The numbers behind the verdict (observed, threshold, reference, ...)."""

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "category": self.category,
            "status": self.status,
            "severity": self.severity,
            "message": self.message,
            "figures": self.figures,
        }


def outcome(ok: bool, severity: Severity) -> Status:
    """``pass`` when ``ok``, else ``fail`` for errors and ``warn`` for warnings."""
    if ok:
        return "pass"
    return "fail" if severity == "error" else "warn"


@dataclass(frozen=True, slots=True)
class Report:
    """One run of ``check`` or ``gate`` on one model version."""

    kind: Literal["check", "gate"]
    subject: str
    """The version checked, ``name@version``."""
    results: tuple[CheckResult, ...]
    started_at: datetime
    duration_s: float
    baseline: str | None = None
    data_fingerprint: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    """Headline figures (e.g. metric values and the bootstrap interval)."""

    @property
    def passed(self) -> bool:
        return not any(r.failed for r in self.results)

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "fail"

    def counts(self) -> dict[str, int]:
        counts = {"pass": 0, "fail": 0, "warn": 0, "skip": 0}
        for r in self.results:
            counts[r.status] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "verdict": self.verdict,
            "passed": self.passed,
            "baseline": self.baseline,
            "data_fingerprint": self.data_fingerprint,
            "started_at": self.started_at.isoformat(),
            "duration_s": round(self.duration_s, 4),
            "counts": self.counts(),
            "summary": self.summary,
            "results": [r.to_dict() for r in self.results],
        }
