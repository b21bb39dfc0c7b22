"""Rollout transitions of a deployment: a blue-green switch, start a canary or a shadow, advance
a step, promote, roll back, pause, resume, abort. Each is one transaction that locks the
deployment row, checks the state it starts from, bumps ``revision`` and appends one event (who,
why, the figures) to the ledger.

A blue-green :meth:`Rollouts.switch` makes a version stable at once (``idle``) and keeps the one
it replaced on standby (loaded on the servers, not routed) until ``standby_until`` in the plan.

States: ``idle`` (stable only), ``shadow`` (stable answers every user; the candidate gets a copy
of ``mirror_percent`` % of requests in the background), ``canary`` (a share of traffic on the
candidate), ``paused`` (a canary waiting for a human), ``rolled_back`` (stable only, after a
failed or aborted candidate)::

    idle ──start_canary──> canary <──resume── paused
      │                      │  └────pause────────^
      └──start_shadow──> shadow ──promote──> canary (default) or idle (blue-green, promoted)
    shadow | canary | paused ──rollback──> rolled_back;  ──abort──> idle
    any ──switch──> idle (blue on standby);  idle ──rollback──> rolled_back (to blue, at once)

The controller that decides *when* to call these comes on top (it judges canaries only).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

from mlship.errors import ConfigError, Conflict
from mlship.rollout.blue_green import DEFAULT_STANDBY_S, check_standby, write_switch
from mlship.rollout.canary_config import CanaryConfig as CanaryConfig  # re-exported
from mlship.rollout.deployments import (
    Deployment,
    DeploymentStore,
    locked,
    move_alias,
    previous_stable,
    write_transition,
)
from mlship.rollout.traffic import rollout_salt
from mlship.store import utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from mlship.registry import ModelVersion, Registry

PromoteStrategy = Literal["canary", "blue-green"]


class Rollouts:
    """The rollout transitions of every model's deployment."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._deployments = DeploymentStore(registry)

    @property
    def registry(self) -> Registry:
        """The registry acted through (its ``actor`` signs the ledger events)."""
        return self._registry

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
        with self._locked(version.name) as (conn, current):
            _refuse_busy(current, version.version)
            return self._start_canary(conn, current, version.version, config, force, reason)

    def start_shadow(
        self,
        ref: str,
        mirror_percent: float = 100,
        *,
        force: bool = False,
        reason: str | None = None,
    ) -> Deployment:
        """Mirror ``mirror_percent`` % of requests to ``ref`` in the background; users keep
        getting stable's answers. The first deployment of a model simply goes live; an unblessed
        version is refused unless ``force`` (recorded).

        Example: ``Rollouts(registry).start_shadow("fraud@5", 100)``, later
        ``shadow_report(registry, "fraud")``, then ``promote("fraud")`` (a canary) or
        ``rollback("fraud")``.
        """
        if (
            isinstance(mirror_percent, bool)
            or not isinstance(mirror_percent, int | float)
            or not 0 < mirror_percent <= 100
        ):
            raise ConfigError(
                "The 'mirror' option must be a percentage of requests above 0 and at most 100. "
                f"Got {mirror_percent!r} instead."
            )
        version = self._registry.get(ref)
        if self._deployments.get(version.name) is None:
            return self._deployments.set_stable(version.ref, reason=reason or "first deployment")
        _require_blessed(version, force)
        now = utcnow()
        with self._locked(version.name) as (conn, current):
            _refuse_busy(current, version.version)
            plan = {
                "mirror_percent": mirror_percent,
                "started_at": now.isoformat(),
                "forced": force,
                # Which requests are mirrored: a hash of the request id under this salt.
                "salt": rollout_salt(version.name, version.version, now),
            }
            return self._write(
                conn,
                current,
                "shadow_started",
                reason,
                {
                    "shadow": version.version,
                    "stable": current.stable_version,
                    "mirror_percent": mirror_percent,
                    "forced": force,
                },
                candidate_version=version.version,
                strategy="shadow",
                state="shadow",
                traffic=0.0,
                config=plan,
            )

    def switch(
        self,
        ref: str,
        *,
        force: bool = False,
        reason: str | None = None,
        standby_s: float = DEFAULT_STANDBY_S,
        smoke: dict[str, Any] | None = None,
    ) -> Deployment:
        """Blue-green: all traffic to ``ref`` at once (servers load and warm it before the
        switch) and the ``production`` alias with it. The previous stable version (blue) stays
        loaded on the servers, not routed, for ``standby_s`` seconds: a :meth:`rollback` in that
        window needs no load. The first deployment of a model needs no blessing; later ones do,
        or ``force``.

        Smoke-testing green is the caller's part (:mod:`mlship.serving.smoke`), before this;
        ``smoke``, its results, goes into the ledger event.

        Example: ``Rollouts(registry).switch("fraud@5", standby_s=1800)``, then within 30 minutes
        ``rollback("fraud")`` is instant.
        """
        standby_s = check_standby(standby_s)
        version = self.check_switch(ref, force=force)
        if self._deployments.get(version.name) is None:
            return self._deployments.set_stable(version.ref, reason=reason)
        with self._locked(version.name) as (conn, current):
            return write_switch(
                conn,
                self._registry.actor,
                current,
                version.version,
                forced=force,
                reason=reason,
                standby_s=standby_s,
                smoke=smoke,
            )

    def check_switch(self, ref: str, *, force: bool = False) -> ModelVersion:
        """The version ``ref`` names, if :meth:`switch` would take it (blessed, or the first
        deployment, or ``force``): callers check before the work of a smoke test."""
        version = self._registry.get(ref)
        if self._deployments.get(version.name) is not None:
            _require_blessed(version, force)
        return version

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

    def promote(
        self,
        model: str,
        *,
        reason: str | None = None,
        strategy: PromoteStrategy | None = None,
        config: CanaryConfig | None = None,
    ) -> Deployment:
        """Make the candidate of a canary stable now (skipping the remaining steps).

        From a shadow, ``strategy`` says what comes next: ``"canary"`` (the default) starts a
        canary of the shadow version with ``config``; ``"blue-green"`` makes it stable at once
        and moves the production alias. ``strategy`` and ``config`` apply to shadows only.
        """
        if strategy not in (None, "canary", "blue-green"):
            raise ConfigError(
                f"The 'strategy' option must be canary or blue-green. Got {strategy!r} instead."
            )
        with self._locked(model) as (conn, current):
            if current.state == "shadow":
                assert current.candidate_version is not None
                if strategy == "blue-green":
                    return self._promote(conn, current, reason, None)
                forced = bool(current.config.get("forced", False))
                return self._start_canary(
                    conn,
                    current,
                    current.candidate_version,
                    config or CanaryConfig(),
                    forced,
                    reason,
                )
            self._expect(current, "canary", "paused")
            if strategy is not None or config is not None:
                raise Conflict(
                    f"{model} is {current.state}: a strategy or canary steps only apply when "
                    "promoting a shadow. Run mlship promote without them."
                )
            return self._promote(conn, current, reason, None)

    def rollback(
        self, model: str, *, reason: str | None = None, analysis: dict[str, Any] | None = None
    ) -> Deployment:
        """Send 100 % back to stable at once, from any state (a shadow simply ends). Without a
        candidate, the stable version goes back to the one that was stable before it: during
        the standby window of a blue-green switch that is blue, still loaded on the servers."""
        with self._locked(model) as (conn, current):
            if current.candidate_version is not None:
                return self._write(
                    conn,
                    current,
                    "rolled_back",
                    reason,
                    {
                        "candidate": current.candidate_version,
                        "strategy": current.strategy,
                        "analysis": analysis,
                    },
                    candidate_version=None,
                    strategy=None,
                    state="rolled_back",
                    traffic=0.0,
                )
            standby = current.standby_at(utcnow())
            previous = standby or previous_stable(conn, model, current.stable_version)
            if previous is None:
                raise Conflict(f"{model} has no earlier version to roll back to.")
            move_alias(conn, self._registry.actor, model, previous, reason or "rollback")
            return self._write(
                conn,
                current,
                "rolled_back",
                reason,
                {"from": current.stable_version, "to": previous, "from_standby": bool(standby)},
                stable_version=previous,
                state="rolled_back",
                traffic=0.0,
                config={},
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
        """Stop a canary or a shadow without judging the candidate (it is not marked failed)."""
        with self._locked(model) as (conn, current):
            self._expect(current, "canary", "paused", "shadow")
            return self._write(
                conn,
                current,
                "aborted",
                reason,
                {"candidate": current.candidate_version, "strategy": current.strategy},
                candidate_version=None,
                strategy=None,
                state="idle",
                traffic=0.0,
            )

    # ------------------------------------------------------------------------------- helpers

    @contextmanager
    def _locked(self, model: str) -> Iterator[tuple[Connection, Deployment]]:
        with locked(self._registry.store, model) as found:
            yield found

    @staticmethod
    def _expect(current: Deployment, *states: str) -> None:
        if current.state not in states:
            raise Conflict(
                f"{current.model} is {current.state}; this needs it to be {' or '.join(states)}."
            )

    def _start_canary(
        self,
        conn: Connection,
        current: Deployment,
        candidate: int,
        config: CanaryConfig,
        forced: bool,
        reason: str | None,
    ) -> Deployment:
        now = utcnow()
        plan = {
            **config.to_dict(),
            "step": 0,
            "step_started_at": now.isoformat(),
            "started_at": now.isoformat(),
            "forced": forced,
            # Users keep their side for the whole rollout; a new rollout reshuffles them.
            "salt": rollout_salt(current.model, candidate, now),
        }
        details: dict[str, Any] = {
            "candidate": candidate,
            "share": config.steps[0] / 100,
            "forced": forced,
            "steps": list(config.steps),
        }
        if current.state == "shadow":
            details["from"] = "shadow"
        return self._write(
            conn,
            current,
            "canary_started",
            reason,
            details,
            candidate_version=candidate,
            strategy="canary",
            state="canary",
            traffic=config.steps[0] / 100,
            config=plan,
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
        move_alias(
            conn, self._registry.actor, current.model, candidate, reason or "promotion", alias=alias
        )
        details: dict[str, Any] = {
            "from": current.stable_version,
            "to": candidate,
            "analysis": analysis,
        }
        if current.state == "shadow":
            details["strategy"] = "blue-green"
        return self._write(
            conn,
            current,
            "promoted",
            reason,
            details,
            stable_version=candidate,
            candidate_version=None,
            strategy=None,
            state="idle",
            traffic=0.0,
        )

    def _write(
        self,
        conn: Connection,
        current: Deployment,
        kind: str,
        reason: str | None,
        details: dict[str, Any],
        **values: Any,
    ) -> Deployment:
        return write_transition(
            conn, self._registry.actor, current, kind, reason, details, **values
        )


def _refuse_busy(current: Deployment, version: int) -> None:
    """A model rolls out one candidate at a time, and never its own stable version."""
    if current.state in ("canary", "paused", "shadow"):
        raise Conflict(
            f"{current.model} is already rolling out v{current.candidate_version} "
            f"({current.state}); promote, roll back or abort it first."
        )
    if current.stable_version == version:
        raise Conflict(f"{current.model}@{version} is already the stable version.")


def _require_blessed(version: ModelVersion, force: bool) -> None:
    """Refuse a version whose latest gate did not pass, unless forced (the caller records it)."""
    if version.blessed is not True and not force:
        state = "failed its latest gate" if version.blessed is False else "was never gated"
        raise Conflict(
            f"{version.ref} {state}. Run mlship gate {version.ref} --against "
            f"{version.name}@production, or deploy with --force (recorded in the ledger)."
        )
