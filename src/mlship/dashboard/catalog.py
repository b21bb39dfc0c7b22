"""The models page: every model with its versions, aliases, key metrics, gate verdict (blessed or
not, and which gates failed), its deployment, and the ledger of its alias moves; JSON values.

Read-only, a few queries per model: the page polls it every 2 s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from mlship.rollout import DeploymentStore
from mlship.store import as_utc
from mlship.store.schema import check_runs, models

if TYPE_CHECKING:
    from mlship.registry import ModelVersion, Registry
    from mlship.store import Store

ALIAS_EVENTS = ("alias_set", "alias_deleted")
MAX_METRICS = 6
"""Metric columns shown per model: the latest version's first, then the others by name."""
MAX_MOVES = 25
"""Alias moves shown per model, the most recent."""


def catalog(registry: Registry) -> dict[str, Any]:
    """``{"models": [...]}``: one entry per model, by name (see the module docstring)."""
    deployments = {d.model: d for d in DeploymentStore(registry).list()}
    gates = latest_gates(registry.store)
    found = []
    for summary in registry.list_models():
        versions = registry.list_versions(summary.name)
        moves = [e for e in registry.history(summary.name) if e.kind in ALIAS_EVENTS]
        deployment = deployments.get(summary.name)
        found.append(
            {
                "name": summary.name,
                "latest_version": summary.latest_version,
                "aliases": summary.aliases,
                "updated_at": summary.updated_at.isoformat(),
                "deployment": deployment.to_dict() if deployment is not None else None,
                "metric_names": metric_names(versions),
                "versions": [_version(v, gates.get((v.name, v.version))) for v in versions],
                "alias_moves": [
                    {
                        "at": e.at.isoformat(),
                        "kind": e.kind,
                        "alias": e.details.get("alias"),
                        "version": e.version,
                        "previous_version": e.details.get("previous_version"),
                        "actor": e.actor,
                        "reason": e.reason,
                    }
                    for e in reversed(moves[-MAX_MOVES:])
                ],
            }
        )
    return {"models": found}


def metric_names(versions: list[ModelVersion]) -> list[str]:
    """The metrics worth a column: the newest version's, then any other version's, by name."""
    names: list[str] = []
    for version in versions:  # newest first
        names.extend(sorted(n for n in version.metrics if n not in names))
    return names[:MAX_METRICS]


def _version(version: ModelVersion, gate: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "version": version.version,
        "created_at": version.created_at.isoformat(),
        "status": version.status,
        "aliases": list(version.aliases),
        "format": version.format,
        "rows": version.row_count,
        "metrics": version.metrics,
        "blessed": version.blessed,
        "gate": gate,
        "description": version.description,
    }


def latest_gates(store: Store) -> dict[tuple[str, int], dict[str, Any]]:
    """The latest gate run of every gated version, by ``(model, version)``: passed or not, when,
    against what, and the names of the gates that failed (one query)."""
    latest = (
        sa.select(sa.func.max(check_runs.c.id))
        .where(check_runs.c.kind == "gate")
        .group_by(check_runs.c.model_id, check_runs.c.version)
    )
    query = (
        sa.select(
            models.c.name,
            check_runs.c.version,
            check_runs.c.passed,
            check_runs.c.baseline,
            check_runs.c.created_at,
            check_runs.c.report,
        )
        .join(models, models.c.id == check_runs.c.model_id)
        .where(check_runs.c.id.in_(latest))
    )
    with store.read() as conn:
        rows = conn.execute(query).all()
    return {
        (name, int(version)): {
            "passed": bool(passed),
            "baseline": baseline,
            "at": as_utc(created_at).isoformat() if created_at is not None else None,
            "failed": failed_gates(report),
        }
        for name, version, passed, baseline, created_at, report in rows
    }


def failed_gates(report: Any) -> list[dict[str, str]]:
    """The failing results of a stored gate report (``Report.to_dict`` shape): name, message."""
    results = report.get("results") if isinstance(report, dict) else None
    if not isinstance(results, list):
        return []
    return [
        {"name": str(r["name"]), "message": str(r.get("message") or "")}
        for r in results
        if isinstance(r, dict) and r.get("status") == "fail" and r.get("name")
    ]
