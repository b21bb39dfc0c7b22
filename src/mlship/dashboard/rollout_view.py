"""The deployment page of one model: its deployment (split, state, plan), the steps of its
current or last canary with each step's analysis (stable against candidate), the countdown of the
running step, and the timeline of its rollout events; JSON values.

A step's analysis is the one recorded by the event that ended it: ``canary_step`` (the previous
step passed), ``promoted`` (the last step passed, or a person promoted) or ``rolled_back``. The
running step's figures are not in the ledger yet: ``judge`` (the controller's analysis of the
step so far, without acting) supplies them, marked ``live``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlship.rollout import DeploymentStore
from mlship.rollout.deployments import previous_stable
from mlship.store import as_utc

if TYPE_CHECKING:
    from mlship.registry import Event, Registry
    from mlship.rollout import Deployment

# Ledger events that are not part of a rollout's story (as `mlship status` leaves them out).
_NOT_ROLLOUT_EVENTS = ("registered", "updated")
_ENDING_EVENTS = ("promoted", "rolled_back", "aborted", "deployed", "shadow_started")
MAX_EVENTS = 100

Judge = Callable[["Deployment"], "dict[str, Any] | None"]


def rollout_view(
    registry: Registry, name: str, now: datetime, judge: Judge | None = None
) -> dict[str, Any]:
    """The deployment page of ``name`` at ``now`` (an unknown model raises ``ModelNotFound``)."""
    history = registry.history(name)
    deployment = DeploymentStore(registry).get(name)
    steps = canary_steps(history, deployment)
    running = next((s for s in steps if s["status"] in ("running", "paused")), None)
    live_error = None
    if running is not None and deployment is not None and deployment.state == "canary" and judge:
        try:
            running["analysis"] = judge(deployment)
            running["live"] = True
        except Exception as exc:  # the page shows the rest; the figures come on a later poll
            live_error = f"The running step could not be analysed yet: {exc}"
    events = [e for e in history if e.kind not in _NOT_ROLLOUT_EVENTS][-MAX_EVENTS:]
    return {
        "model": name,
        "now": now.isoformat(),
        "deployment": deployment.to_dict() if deployment is not None else None,
        "rollback_to": rollback_target(registry, deployment, now),
        "countdown": countdown(deployment, now),
        "steps": steps,
        "live_error": live_error,
        "events": [e.to_dict() for e in reversed(events)],
    }


def rollback_target(registry: Registry, deployment: Deployment | None, now: datetime) -> int | None:
    """The version a rollback would make stable now, as :meth:`Rollouts.rollback` picks it
    (None: nothing to roll back to, the page disables its button)."""
    if deployment is None:
        return None
    if deployment.candidate_version is not None:
        return deployment.stable_version
    standby = deployment.standby_at(now)
    if standby is not None:
        return standby
    with registry.store.read() as conn:
        return previous_stable(conn, deployment.model, deployment.stable_version)


def countdown(deployment: Deployment | None, now: datetime) -> dict[str, Any] | None:
    """For a running canary: its step, and the seconds until the controller first judges it
    (``judge_in_s``, 0 once due) and until an inconclusive step pauses (``pause_in_s``)."""
    if deployment is None or deployment.state not in ("canary", "paused"):
        return None
    plan = deployment.config
    steps = [int(s) for s in plan.get("steps", [])]
    step = int(plan.get("step", 0))
    started_text = plan.get("step_started_at")
    started = as_utc(datetime.fromisoformat(str(started_text))) if started_text else None
    elapsed = (now - started).total_seconds() if started is not None else 0.0
    interval = float(plan.get("interval_s", 0))
    max_wait = float(plan.get("max_wait_s", 0))
    return {
        "step": step,
        "steps": steps,
        "percent": steps[step] if 0 <= step < len(steps) else None,
        "step_started_at": started.isoformat() if started is not None else None,
        "interval_s": interval,
        "min_requests": plan.get("min_requests"),
        "judge_in_s": max(0.0, interval - elapsed),
        "pause_in_s": max(0.0, max_wait - elapsed),
        "paused": deployment.state == "paused",
    }


def canary_steps(history: list[Event], deployment: Deployment | None) -> list[dict[str, Any]]:
    """The steps of the model's current or last canary, from its ledger: each step's share,
    status (``pending``, ``running``, ``paused``, ``passed``, ``failed``, ``promoted``,
    ``rolled_back``, ``aborted``, ``skipped``), times and analysis."""
    starts = [i for i, e in enumerate(history) if e.kind == "canary_started"]
    start = starts[-1] if starts else None
    if start is None:
        return []
    first = history[start]
    planned = first.details.get("steps")
    if not planned and deployment is not None:
        planned = deployment.config.get("steps")
    steps: list[dict[str, Any]] = [
        {
            "step": i,
            "percent": int(p),
            "status": "pending",
            "started_at": None,
            "ended_at": None,
            "analysis": None,
            "live": False,
        }
        for i, p in enumerate(planned or [])
    ]
    if not steps:
        return []
    steps[0].update(status="running", started_at=first.at.isoformat())
    current = 0
    for event in history[start + 1 :]:
        at = event.at.isoformat()
        analysis = event.details.get("analysis")
        if event.kind == "canary_step":
            step = int(event.details.get("step", current + 1))
            if not 0 < step < len(steps):
                continue
            steps[step - 1].update(status="passed", ended_at=at, analysis=analysis)
            steps[step].update(status="running", started_at=at)
            current = step
        elif event.kind == "paused":
            steps[current]["status"] = "paused"
        elif event.kind == "resumed":
            steps[current]["status"] = "running"
        elif event.kind in _ENDING_EVENTS:
            status = _ended(event.kind, analysis)
            steps[current].update(status=status, ended_at=at, analysis=analysis)
            for later in steps[current + 1 :]:
                later["status"] = "skipped"
            break
    return steps


def _ended(kind: str, analysis: Any) -> str:
    """The status of the step a rollout ended at."""
    judged = isinstance(analysis, dict)
    if kind == "promoted":
        return "passed" if judged else "promoted"
    if kind == "rolled_back":
        return "failed" if judged and analysis.get("verdict") == "fail" else "rolled_back"
    return "aborted"
