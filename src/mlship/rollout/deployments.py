"""The persisted deployment of each model: the stable version (and later a candidate and its share).

Every change is one transaction that bumps ``revision`` and appends an event to the model's ledger;
servers poll the revisions to notice changes within a second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from mlship.store import as_utc, utcnow
from mlship.store.schema import deployments, events

if TYPE_CHECKING:
    from mlship.registry import Registry


@dataclass(frozen=True, slots=True)
class Deployment:
    """What serves for one model."""

    model: str
    stable_version: int
    candidate_version: int | None = None
    strategy: str | None = None
    state: str = "idle"
    traffic: float = 0.0
    """Share of requests (0..1) routed to the candidate."""
    revision: int = 1
    updated_at: datetime | None = None
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "stable_version": self.stable_version,
            "candidate_version": self.candidate_version,
            "strategy": self.strategy,
            "state": self.state,
            "traffic": self.traffic,
            "revision": self.revision,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "config": self.config,
        }


class DeploymentStore:
    """Reads and changes deployments through a registry (which checks names and versions)."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def list(self) -> list[Deployment]:
        with self._registry.store.read() as conn:
            rows = conn.execute(sa.select(deployments).order_by(deployments.c.model)).all()
        return [deployment_from_row(r._mapping) for r in rows]

    def get(self, model: str) -> Deployment | None:
        with self._registry.store.read() as conn:
            row = conn.execute(sa.select(deployments).where(deployments.c.model == model)).first()
        return deployment_from_row(row._mapping) if row is not None else None

    def revisions(self) -> dict[str, int]:
        """``{model: revision}``: one cheap query for pollers."""
        with self._registry.store.read() as conn:
            rows = conn.execute(sa.select(deployments.c.model, deployments.c.revision)).all()
        return {model: int(revision) for model, revision in rows}

    def set_stable(self, ref: str, *, reason: str | None = None) -> Deployment:
        """Make the version ``ref`` names the one that serves all traffic of its model."""
        name, version = self._registry.resolve(ref)
        now = utcnow()
        store = self._registry.store
        insert: Any
        if store.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        with store.write() as conn:
            # Insert-if-absent, then lock the row: concurrent first deploys cannot collide.
            conn.execute(
                insert(deployments)
                .values(
                    model=name,
                    stable_version=version,
                    state="idle",
                    traffic=0.0,
                    config={},
                    revision=0,
                    updated_at=now,
                )
                .on_conflict_do_nothing(index_elements=["model"])
            )
            query = sa.select(deployments.c.stable_version, deployments.c.revision).where(
                deployments.c.model == name
            )
            if store.dialect == "postgresql":
                query = query.with_for_update()
            current = conn.execute(query).one()
            previous = current.stable_version if current.revision > 0 else None
            conn.execute(
                sa.update(deployments)
                .where(deployments.c.model == name)
                .values(
                    stable_version=version,
                    candidate_version=None,
                    strategy=None,
                    state="idle",
                    traffic=0.0,
                    revision=deployments.c.revision + 1,
                    updated_at=now,
                )
            )
            conn.execute(
                sa.insert(events).values(
                    at=now,
                    model=name,
                    version=version,
                    kind="deployed",
                    actor=self._registry.actor,
                    reason=reason,
                    details={"strategy": "direct", "previous_version": previous},
                )
            )
            row = conn.execute(sa.select(deployments).where(deployments.c.model == name)).one()
        return deployment_from_row(row._mapping)


def deployment_from_row(row: sa.RowMapping) -> Deployment:
    """A :class:`Deployment` from a row of the ``deployments`` table."""
    config = row["config"]
    return Deployment(
        model=row["model"],
        stable_version=int(row["stable_version"]),
        candidate_version=row["candidate_version"],
        strategy=row["strategy"],
        state=row["state"],
        traffic=float(row["traffic"]),
        revision=int(row["revision"]),
        updated_at=as_utc(row["updated_at"]),
        config=config if isinstance(config, dict) else {},
    )
