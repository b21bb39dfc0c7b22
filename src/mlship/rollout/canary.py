"""Rollout transitions of a deployment: start a canary, advance a step, promote, roll back,
pause, resume, abort. Each is one transaction that locks the deployment row, checks the state it
starts from, bumps ``revision`` and appends one event (who, why, the figures) to the ledger.

States: ``idle`` (stable only), ``canary`` (a share of traffic on the candidate), ``paused``
(a canary waiting for a human), ``rolled_back`` (stable only, after a failed or aborted
candidate). The controller that decides *when* to call these comes on top.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from mlship.errors import ConfigError, Conflict, NotFound
from mlship.rollout.deployments import Deployment, DeploymentStore, deployment_from_row
from mlship.rollout.traffic import rollout_salt
from mlship.store import utcnow
from mlship.store.schema import aliases, deployments, events, models

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from mlship.registry import ModelVersion, Registry


@dataclass(frozen=True, slots=True)
class CanaryConfig:
    """How a canary moves: the traffic steps and how long each lasts at least."""

    steps: tuple[int, ...] = (5, 10, 25, 50, 100)
    """Percent of traffic on the candidate at each step; increasing, ending at 100."""
    interval_s: float = 300.0
    min_requests: int = 200
    """Candidate requests a step needs before it can be judged."""
    max_wait_s: float = 1800.0
    """How long an inconclusive step may wait before the canary pauses for a human."""
    promote_alias: str = "production"

    def __post_init__(self) -> None:
        steps = list(self.steps)
        if (
            not steps
            or any(not isinstance(s, int) or not 0 < s <= 100 for s in steps)
            or steps != sorted(set(steps))
            or steps[-1] != 100
        ):
            raise ConfigError(
                "The 'steps' option must be increasing percentages ending at 100. "
                f"Got {steps} instead."
            )
        for name in ("interval_s", "max_wait_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"The {name!r} option must be a number >= 0. Got {value!r}.")
        if not isinstance(self.min_requests, int) or self.min_requests < 0:
            raise ConfigError(
                f"The 'min_requests' option must be an integer >= 0. Got {self.min_requests!r}."
            )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["steps"] = list(self.steps)
        return data


class Rollouts:
    """The rollout transitions of every model's deployment."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._deployments = DeploymentStore(registry)

    # --------------------------------------------------------------------------------- start

    def start_canary(
        self,
        ref: str,
        config: CanaryConfig | None = None,
        *,
        force: bool = False,
        reason: str | None = None,
    ) -> Deployment:
        """Send ``config.steps[0]`` % of traffic to ``ref``. The first deployment of a model
        simply goes live; an unblessed version is refused unless ``force`` (recorded)."""
        config = config or CanaryConfig()
        version = self._registry.get(ref)
        if self._deployments.get(version.name) is None:
            return self._deployments.set_stable(version.ref, reason=reason or "first deployment")
        _require_blessed(version, force)
        now = utcnow().isoformat()
        with self._locked(version.name) as (conn, current):
            if current.state in ("canary", "paused"):
                raise Conflict(
                    f"{version.name} is already rolling out v{current.candidate_version} "
                    f"({current.state}); promote, roll back or abort it first."
                )
            if current.stable_version == version.version:
                raise Conflict(f"{version.ref} is already the stable version.")
            plan = {
                **config.to_dict(),
                "step": 0,
                "step_started_at": now,
                "started_at": now,
                "forced": force,
                # Users keep their side for the whole rollout; a new rollout reshuffles them.
                "salt": rollout_salt(version.name, version.version, utcnow()),
            }
            return self._write(
                conn,
                current,
                "canary_started",
                reason,
                {
                    "candidate": version.version,
                    "share": config.steps[0] / 100,
                    "forced": force,
                    "steps": list(config.steps),
                },
                candidate_version=version.version,
                strategy="canary",
                state="canary",
                traffic=config.steps[0] / 100,
                config=plan,
            )

    def switch(self, ref: str, *, force: bool = False, reason: str | None = None) -> Deployment:
        """Blue-green: all traffic to ``ref`` at once (servers load and warm it before the
        switch). The first deployment of a model needs no blessing; later ones do, or ``force``."""
        version = self._registry.get(ref)
        if self._deployments.get(version.name) is not None:
            _require_blessed(version, force)
        return self._deployments.set_stable(version.ref, reason=reason)

    # ------------------------------------------------------------------------------ progress

    def advance(self, model: str, analysis: dict[str, Any] | None = None) -> Deployment:
        """The step passed: move to the next share, or promote after the last one."""
        with self._locked(model) as (conn, current):
            self._expect(current, "canary")
            steps = list(current.config.get("steps", [100]))
            step = int(current.config.get("step", 0)) + 1
            if step >= len(steps):
                return self._promote(conn, current, "step passed: promoted", analysis)
            plan = {**current.config, "step": step, "step_started_at": utcnow().isoformat()}
            return self._write(
                conn,
                current,
                "canary_step",
                None,
                {"step": step, "share": steps[step] / 100, "analysis": analysis},
                traffic=steps[step] / 100,
                config=plan,
            )

    def promote(self, model: str, *, reason: str | None = None) -> Deployment:
        """Make the candidate stable now (skipping the remaining steps)."""
        with self._locked(model) as (conn, current):
            self._expect(current, "canary", "paused")
            return self._promote(conn, current, reason, None)

    def rollback(
        self, model: str, *, reason: str | None = None, analysis: dict[str, Any] | None = None
    ) -> Deployment:
        """Send 100 % back to stable at once, from any state. Without a candidate, the stable
        version goes back to the one that was stable before it."""
        with self._locked(model) as (conn, current):
            if current.candidate_version is not None:
                return self._write(
                    conn,
                    current,
                    "rolled_back",
                    reason,
                    {"candidate": current.candidate_version, "analysis": analysis},
                    candidate_version=None,
                    strategy=None,
                    state="rolled_back",
                    traffic=0.0,
                )
            previous = self._previous_stable(conn, model, current.stable_version)
            if previous is None:
                raise Conflict(f"{model} has no earlier version to roll back to.")
            self._move_alias(conn, model, previous, reason, "rollback")
            return self._write(
                conn,
                current,
                "rolled_back",
                reason,
                {"from": current.stable_version, "to": previous},
                stable_version=previous,
                state="rolled_back",
                traffic=0.0,
            )

    def pause(self, model: str, *, reason: str | None = None) -> Deployment:
        with self._locked(model) as (conn, current):
            self._expect(current, "canary")
            return self._write(conn, current, "paused", reason, {}, state="paused")

    def resume(self, model: str, *, reason: str | None = None) -> Deployment:
        with self._locked(model) as (conn, current):
            self._expect(current, "paused")
            plan = {**current.config, "step_started_at": utcnow().isoformat()}
            return self._write(conn, current, "resumed", reason, {}, state="canary", config=plan)

    def abort(self, model: str, *, reason: str | None = None) -> Deployment:
        """Stop a rollout without judging the candidate (it is not marked as failed)."""
        with self._locked(model) as (conn, current):
            self._expect(current, "canary", "paused")
            return self._write(
                conn,
                current,
                "aborted",
                reason,
                {"candidate": current.candidate_version},
                candidate_version=None,
                strategy=None,
                state="idle",
                traffic=0.0,
            )

    # ------------------------------------------------------------------------------- helpers

    @contextmanager
    def _locked(self, model: str) -> Iterator[tuple[Connection, Deployment]]:
        store = self._registry.store
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

    @staticmethod
    def _expect(current: Deployment, *states: str) -> None:
        if current.state not in states:
            raise Conflict(
                f"{current.model} is {current.state}; this needs it to be {' or '.join(states)}."
            )

    def _promote(
        self,
        conn: Connection,
        current: Deployment,
        reason: str | None,
        analysis: dict[str, Any] | None,
    ) -> Deployment:
        candidate = current.candidate_version
        assert candidate is not None
        alias = str(current.config.get("promote_alias") or "production")
        self._move_alias(conn, current.model, candidate, reason, "promotion", alias=alias)
        return self._write(
            conn,
            current,
            "promoted",
            reason,
            {"from": current.stable_version, "to": candidate, "analysis": analysis},
            stable_version=candidate,
            candidate_version=None,
            strategy=None,
            state="idle",
            traffic=0.0,
        )

    def _move_alias(
        self,
        conn: Connection,
        model: str,
        version: int,
        reason: str | None,
        why: str,
        *,
        alias: str = "production",
    ) -> None:
        """Point ``alias`` at ``version`` in the same transaction as the deployment change."""
        model_id = conn.execute(sa.select(models.c.id).where(models.c.name == model)).scalar_one()
        previous = conn.execute(
            sa.select(aliases.c.version).where(
                aliases.c.model_id == model_id, aliases.c.alias == alias
            )
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
                actor=self._registry.actor,
                reason=reason or why,
                details={"alias": alias, "previous_version": previous},
            )
        )

    @staticmethod
    def _previous_stable(conn: Connection, model: str, current: int) -> int | None:
        """The stable version before ``current``, from the ledger of deployments."""
        rows = conn.execute(
            sa.select(events.c.kind, events.c.version, events.c.details)
            .where(
                events.c.model == model, events.c.kind.in_(("deployed", "promoted", "rolled_back"))
            )
            .order_by(events.c.id)
        ).all()
        stables: list[int] = []
        for kind, version, details in rows:
            if kind == "deployed" and version is not None:
                stables.append(int(version))
            elif kind == "promoted" and isinstance(details, dict) and details.get("to"):
                stables.append(int(details["to"]))
            elif kind == "rolled_back" and isinstance(details, dict) and details.get("to"):
                stables.append(int(details["to"]))
        earlier = [v for v in stables if v != current]
        return earlier[-1] if earlier else None

    def _write(
        self,
        conn: Connection,
        current: Deployment,
        kind: str,
        reason: str | None,
        details: dict[str, Any],
        **values: Any,
    ) -> Deployment:
        now = utcnow()
        conn.execute(
            sa.update(deployments)
            .where(deployments.c.model == current.model)
            .values(revision=deployments.c.revision + 1, updated_at=now, **values)
        )
        version = values.get("stable_version", current.stable_version)
        if kind.startswith("canary") or kind in ("rolled_back", "aborted", "paused", "resumed"):
            version = current.candidate_version or version
        conn.execute(
            sa.insert(events).values(
                at=now,
                model=current.model,
                version=version,
                kind=kind,
                actor=self._registry.actor,
                reason=reason,
                details=details,
            )
        )
        row = conn.execute(sa.select(deployments).where(deployments.c.model == current.model)).one()
        return deployment_from_row(row._mapping)


def _require_blessed(version: ModelVersion, force: bool) -> None:
    """Refuse a version whose latest gate did not pass, unless forced (the caller records it)."""
    if version.blessed is not True and not force:
        state = "failed its latest gate" if version.blessed is False else "was never gated"
        raise Conflict(
            f"{version.ref} {state}. Run mlship gate {version.ref} --against "
            f"{version.name}@production, or deploy with --force (recorded in the ledger)."
        )
