"""Turning database rows into the registry's domain values."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from mlship.registry.model_version import CheckRun, Event, ModelVersion, Signature
from mlship.store import as_utc


def from_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def to_version(
    row: sa.RowMapping, alias_names: tuple[str, ...], blessed: bool | None = None
) -> ModelVersion:
    signature = from_json(row["signature"])
    return ModelVersion(
        name=row["name"],
        version=int(row["version"]),
        created_at=as_utc(row["created_at"]),
        status=row["status"],
        format=row["format"],
        artifact_uri=row["artifact_uri"],
        artifact_sha256=row["artifact_sha256"],
        artifact_size=int(row["artifact_size"]),
        signature=Signature.from_dict(signature) if signature else None,
        metrics=from_json(row["metrics"]),
        params=from_json(row["params"]),
        tags=from_json(row["tags"]),
        description=row["description"],
        label=row["label"],
        data_fingerprint=row["data_fingerprint"],
        data_profile=from_json(row["data_profile"]),
        row_count=row["row_count"],
        environment=from_json(row["environment"]),
        git_commit=row["git_commit"],
        parent_version=row["parent_version"],
        aliases=alias_names,
        blessed=blessed,
        load_spec=from_json(row["load_spec"]),
    )


def to_event(row: sa.RowMapping) -> Event:
    return Event(
        id=int(row["id"]),
        at=as_utc(row["at"]),
        model=row["model"],
        version=row["version"],
        kind=row["kind"],
        actor=row["actor"],
        reason=row["reason"],
        details=from_json(row["details"]) or {},
    )


def to_check_run(row: sa.RowMapping, name: str) -> CheckRun:
    return CheckRun(
        id=int(row["id"]),
        name=name,
        version=int(row["version"]),
        kind=row["kind"],
        passed=bool(row["passed"]),
        baseline=row["baseline"],
        data_fingerprint=row["data_fingerprint"],
        created_at=as_utc(row["created_at"]),
        report=from_json(row["report"]) or {},
    )
