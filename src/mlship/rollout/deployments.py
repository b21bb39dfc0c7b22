"""The persisted deployment of each model: the stable version, and during a rollout a candidate
(a canary with its share of traffic, or a shadow that gets copies of requests).

Every change is one transaction that bumps ``revision`` and appends an event to the model's ledger;
servers poll the revisions to notice changes within a second.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from mlship.errors import NotFound, VersionNotFound
from mlship.store import Store, as_utc, utcnow
from mlship.store.schema import aliases, deployments, events, models

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from mlship.registry import Event, ModelVersion, Registry


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

    @property
    def shadow_version(self) -> int | None:
        """The version that gets copies of requests while the state is ``shadow``."""
        return self.candidate_version if self.state == "shadow" else None

    @property
    def mirror_percent(self) -> float:
        """Percent of requests copied to the shadow (0 when there is none)."""
        if self.state != "shadow":
            return 0.0
        return float(self.config.get("mirror_percent", 100.0))

    @property
    def standby_version(self) -> int | None:
        """After a blue-green switch, the previous stable version (blue) that servers keep
        loaded, not routed, until :attr:`standby_until`, so that a rollback is instant."""
        version = self.config.get("standby_version") if self.state == "idle" else None
        return int(version) if version is not None else None

    @property
    def standby_until(self) -> datetime | None:
        """When the standby window of :attr:`standby_version` ends (servers then unload it)."""
        until = self.config.get("standby_until") if self.standby_version is not None else None
        return as_utc(datetime.fromisoformat(str(until))) if until else None

    def standby_at(self, now: datetime) -> int | None:
        """The standby version if its window is still open at ``now``."""
        until = self.standby_until
        return self.standby_version if until is not None and now < until else None

    def to_dict(self) -> dict[str, Any]:
        until = self.standby_until
        return {
            "model": self.model,
            "stable_version": self.stable_version,
            "candidate_version": self.candidate_version,
            "strategy": self.strategy,
            "state": self.state,
            "traffic": self.traffic,
            "shadow_version": self.shadow_version,
            "mirror_percent": self.mirror_percent,
            "standby_version": self.standby_version,
            "standby_until": until.isoformat() if until else None,
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


def move_alias(
    conn: Connection,
    actor: str,
    model: str,
    version: int,
    reason: str | None,
    *,
    alias: str = "production",
) -> None:
    """Point ``alias`` at ``version`` inside the caller's transaction (with an ``alias_set``
    event), so that the alias and the deployment never disagree."""
    model_id = conn.execute(sa.select(models.c.id).where(models.c.name == model)).scalar_one()
    previous = conn.execute(
        sa.select(aliases.c.version).where(aliases.c.model_id == model_id, aliases.c.alias == alias)
    ).scalar()
    if previous == version:
        return
    now = utcnow()
    if previous is None:
        conn.execute(
            sa.insert(aliases).values(
                model_id=model_id, alias=alias, version=version, updated_at=now
            )
        )
    else:
        conn.execute(
            sa.update(aliases)
            .where(aliases.c.model_id == model_id, aliases.c.alias == alias)
            .values(version=version, updated_at=now)
        )
    conn.execute(
        sa.insert(events).values(
            at=now,
            model=model,
            version=version,
            kind="alias_set",
            actor=actor,
            reason=reason,
            details={"alias": alias, "previous_version": previous},
        )
    )


def previous_stable(conn: Connection, model: str, current: int) -> int | None:
    """The stable version before ``current``, from the ledger of deployments."""
    rows = conn.execute(
        sa.select(events.c.kind, events.c.version, events.c.details)
        .where(events.c.model == model, events.c.kind.in_(("deployed", "promoted", "rolled_back")))
        .order_by(events.c.id)
    ).all()
    stables: list[int] = []
    for kind, version, details in rows:
        if kind == "deployed" and version is not None:
            stables.append(int(version))
        elif (
            kind in ("promoted", "rolled_back") and isinstance(details, dict) and details.get("to")
        ):
            stables.append(int(details["to"]))
    earlier = [v for v in stables if v != current]
    return earlier[-1] if earlier else None


@contextmanager
def locked(store: Store, model: str) -> Iterator[tuple[Connection, Deployment]]:
    """A write transaction holding ``model``'s deployment row (``FOR UPDATE`` on PostgreSQL;
    SQLite's ``BEGIN IMMEDIATE`` already serialises writers)."""
    with store.write() as conn:
        query = sa.select(deployments).where(deployments.c.model == model)
        if store.dialect == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise NotFound(
                f"{model!r} has no deployment. Deploy it first: mlship deploy {model}@VERSION"
            )
        yield conn, deployment_from_row(row._mapping)


def write_transition(
    conn: Connection,
    actor: str,
    current: Deployment,
    kind: str,
    reason: str | None,
    details: dict[str, Any],
    **values: Any,
) -> Deployment:
    """Apply ``values`` to the deployment row, bump its revision and append one ``kind`` event,
    inside the caller's transaction; returns the deployment as written."""
    now = utcnow()
    conn.execute(
        sa.update(deployments)
        .where(deployments.c.model == current.model)
        .values(revision=deployments.c.revision + 1, updated_at=now, **values)
    )
    version = values.get("stable_version", current.stable_version)
    if kind.startswith(("canary", "shadow")) or kind in (
        "rolled_back",
        "aborted",
        "paused",
        "resumed",
    ):
        # The event is about the candidate: the one starting, or the one leaving.
        version = values.get("candidate_version") or current.candidate_version or version
    conn.execute(
        sa.insert(events).values(
            at=now,
            model=current.model,
            version=version,
            kind=kind,
            actor=actor,
            reason=reason,
            details=details,
        )
    )
    row = conn.execute(sa.select(deployments).where(deployments.c.model == current.model)).one()
    return deployment_from_row(row._mapping)


def serving_version(registry: Registry, model: str) -> ModelVersion:
    """The version answering users: the deployment's stable one, else ``@production``, else the
    latest (an unknown model raises :class:`~mlship.errors.ModelNotFound`)."""
    deployment = DeploymentStore(registry).get(model)
    if deployment is not None:
        return registry.get(f"{model}@{deployment.stable_version}")
    try:
        return registry.get(f"{model}@production")
    except VersionNotFound:
        return registry.get(model)


# Ledger events that are not about rollouts: left out of a deployment's status.
_NOT_ROLLOUT_EVENTS = ("registered", "updated")


def status_document(deployment: Deployment, history: list[Event]) -> dict[str, Any]:
    """The deployment and its rollout events (every ledger event but registrations and metadata
    updates), JSON-ready: what ``mlship status NAME --json`` prints and the admin API returns."""
    rollout_events = [e.to_dict() for e in history if e.kind not in _NOT_ROLLOUT_EVENTS]
    return {**deployment.to_dict(), "events": rollout_events}
