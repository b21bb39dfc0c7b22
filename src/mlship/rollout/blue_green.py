"""The blue-green switch: all traffic to green in one transaction, the ``production`` alias with
it, and blue kept on standby (loaded on the servers, not routed) until ``standby_until``.

The window lives in the deployment's plan (``config``: ``standby_version``, ``standby_until``),
so no migration is needed; servers read it on their next poll (:mod:`mlship.serving.state`) and
unload blue once it has passed. A rollback inside the window returns to blue without a load.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from mlship.errors import ConfigError
from mlship.rollout.deployments import Deployment, move_alias, write_transition
from mlship.store import utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

DEFAULT_STANDBY_S = 1800.0
"""How long blue stays loaded after a switch (``mlship deploy --standby 30m``)."""
MAX_STANDBY_S = 30 * 86400.0
"""Thirty days: a longer standby is a second deployment, not a rollback window."""


def check_standby(standby_s: object) -> float:
    """``standby_s`` as seconds, or a :class:`~mlship.errors.ConfigError` naming the option."""
    if (
        isinstance(standby_s, bool)
        or not isinstance(standby_s, int | float)
        or not math.isfinite(standby_s)
        or not 0 <= standby_s <= MAX_STANDBY_S
    ):
        raise ConfigError(
            "The 'standby' option must be a duration from 0 to 30 days (how long the previous "
            f"version stays loaded for an instant rollback), such as 30m. Got {standby_s!r} "
            "instead."
        )
    return float(standby_s)


def write_switch(
    conn: Connection,
    actor: str,
    current: Deployment,
    green: int,
    *,
    forced: bool,
    reason: str | None,
    standby_s: float,
    smoke: dict[str, Any] | None = None,
) -> Deployment:
    """Make ``green`` stable inside the caller's locked transaction: one ``deployed`` event
    (strategy ``blue-green``, with the ``smoke`` test's results), the production alias moved,
    blue's standby window in the plan."""
    blue = current.stable_version
    details: dict[str, Any] = {"strategy": "blue-green", "previous_version": blue, "forced": forced}
    if smoke is not None:
        details["smoke"] = smoke
    plan: dict[str, Any] = {}
    if standby_s > 0 and blue != green:
        until = (utcnow() + timedelta(seconds=standby_s)).isoformat()
        plan = {"standby_version": blue, "standby_until": until}
        details["standby_until"] = until
    move_alias(conn, actor, current.model, green, reason or "blue-green switch")
    return write_transition(
        conn,
        actor,
        current,
        "deployed",
        reason,
        details,
        stable_version=green,
        candidate_version=None,
        strategy=None,
        state="idle",
        traffic=0.0,
        config=plan,
    )
