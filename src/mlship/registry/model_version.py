"""The registry's domain values: versions, signatures, events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

OutputKind = Literal["classification", "regression", "unknown"]


@dataclass(frozen=True, slots=True)
class Feature:
    """One input column the model expects: its name and a dtype family."""

    name: str
    dtype: str
    """One of ``float``, ``int``, ``bool``, ``string``, ``category``, ``datetime``."""

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "dtype": self.dtype}


@dataclass(frozen=True, slots=True)
class Signature:
    """What goes into a model and what comes out."""

    features: tuple[Feature, ...]
    output_kind: OutputKind
    classes: tuple[Any, ...] | None = None
    """Class labels in the order of ``predict_proba`` columns, for classifiers."""
    has_proba: bool = False

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": [f.to_dict() for f in self.features],
            "output_kind": self.output_kind,
            "classes": list(self.classes) if self.classes is not None else None,
            "has_proba": self.has_proba,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signature:
        classes = data.get("classes")
        return cls(
            features=tuple(Feature(f["name"], f["dtype"]) for f in data["features"]),
            output_kind=data["output_kind"],
            classes=tuple(classes) if classes is not None else None,
            has_proba=bool(data.get("has_proba", False)),
        )


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One registered, immutable version of a model (tags, description and aliases may change)."""

    name: str
    version: int
    created_at: datetime
    status: str
    format: str
    artifact_uri: str
    artifact_sha256: str
    artifact_size: int
    signature: Signature | None
    metrics: dict[str, float]
    params: dict[str, Any]
    tags: dict[str, str]
    description: str | None
    label: str | None
    data_fingerprint: str | None
    data_profile: dict[str, Any] | None
    row_count: int | None
    environment: dict[str, Any]
    git_commit: str | None
    parent_version: int | None
    aliases: tuple[str, ...] = ()
    load_spec: dict[str, Any] = field(default_factory=dict)
    blessed: bool | None = None
    """Whether the latest gate run passed; None when the version was never gated."""

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (what ``--json`` prints)."""
        return {
            "name": self.name,
            "version": self.version,
            "created_at": self.created_at.isoformat(),
            "status": self.status,
            "aliases": list(self.aliases),
            "blessed": self.blessed,
            "format": self.format,
            "artifact": {
                "uri": self.artifact_uri,
                "sha256": self.artifact_sha256,
                "size": self.artifact_size,
            },
            "signature": self.signature.to_dict() if self.signature else None,
            "metrics": self.metrics,
            "params": self.params,
            "tags": self.tags,
            "description": self.description,
            "label": self.label,
            "data": {
                "fingerprint": self.data_fingerprint,
                "rows": self.row_count,
                "profile": self.data_profile,
            },
            "environment": self.environment,
            "git_commit": self.git_commit,
            "parent_version": self.parent_version,
        }


@dataclass(frozen=True, slots=True)
class ModelSummary:
    """One line of ``models list``."""

    name: str
    latest_version: int
    versions: int
    aliases: dict[str, int]
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "latest_version": self.latest_version,
            "versions": self.versions,
            "aliases": self.aliases,
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of the append-only ledger."""

    id: int
    at: datetime
    model: str
    version: int | None
    kind: str
    actor: str
    reason: str | None
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "model": self.model,
            "version": self.version,
            "kind": self.kind,
            "actor": self.actor,
            "reason": self.reason,
            "details": self.details,
        }


@dataclass(frozen=True, slots=True)
class CheckRun:
    """One stored run of ``check`` or ``gate`` on a version: its verdict and full report."""

    id: int
    name: str
    version: int
    kind: str
    passed: bool
    baseline: str | None
    data_fingerprint: str | None
    created_at: datetime
    report: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.name,
            "version": self.version,
            "kind": self.kind,
            "passed": self.passed,
            "baseline": self.baseline,
            "data_fingerprint": self.data_fingerprint,
            "created_at": self.created_at.isoformat(),
            "report": self.report,
        }
