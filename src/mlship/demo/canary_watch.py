"""Follow a rollout through the ledger while the server's controller runs it, and narrate each
event: a step passed (with its analysis), a promotion, a rollback."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from mlship.demo.context import NAME, Demo
from mlship.demo.timeline import DemoFailed

if TYPE_CHECKING:
    from mlship.registry import Event
    from mlship.rollout import Deployment


def last_event_id(demo: Demo) -> int:
    """The id of the newest event of the demo's model (0: none yet)."""
    history = demo.registry.history(NAME)
    return history[-1].id if history else 0


def follow(demo: Demo, since: int, *, timeout: float | None = None) -> tuple[Deployment, Event]:
    """Narrate the rollout events after event ``since`` until the canary ends; the deployment
    and the event that ended it (``promoted`` or ``rolled_back``)."""
    from mlship.rollout import Controller, DeploymentStore

    deployments = DeploymentStore(demo.registry)
    limit = timeout or demo.pace.max_wait_s * 5 + 60
    deadline = time.monotonic() + limit
    seen = since
    while True:
        for event in demo.registry.history(NAME):
            if event.id <= seen:
                continue
            seen = event.id
            _narrate(demo, event)
            if event.kind in ("promoted", "rolled_back"):
                deployment = deployments.get(NAME)
                assert deployment is not None
                return deployment, event
            if event.kind == "paused":
                raise DemoFailed(f"The canary paused: {event.reason}")
        if time.monotonic() > deadline:
            deployment = deployments.get(NAME)
            why = ""
            if deployment is not None and deployment.state == "canary":
                why = " Analysis now: " + Controller(demo.registry).judge(deployment).reason
            raise DemoFailed(f"The canary did not finish within {limit:.0f} s.{why}")
        time.sleep(0.2)


def _narrate(demo: Demo, event: Event) -> None:
    t = demo.timeline
    details = event.details
    analysis: dict[str, Any] = details.get("analysis") or {}
    if event.kind == "canary_started":
        steps = " → ".join(f"{s} %" for s in details.get("steps", []))
        t.note(f"Canary of v{details.get('candidate')} started: {steps}")
    elif event.kind == "canary_step":
        share = round(float(details.get("share", 0)) * 100)
        t.ok(f"Step passed ({figures(analysis)}); v{event.version} now gets {share} %")
    elif event.kind == "promoted":
        t.ok(
            f"Last step passed ({figures(analysis)}): v{details.get('to')} promoted, "
            f"production → v{details.get('to')}"
        )
    elif event.kind == "rolled_back":
        t.bad(f"Rolled back automatically: {failing(analysis) or event.reason}")


def figures(analysis: dict[str, Any]) -> str:
    """The analysis of a step in one line: error rates, p95 latencies, divergence."""
    checks = {c["name"]: c for c in analysis.get("checks", [])}
    parts = []
    errors = checks.get("error_rate")
    if errors is not None:
        f = errors.get("figures", {})
        parts.append(
            f"errors {f.get('candidate_errors', 0)}/{f.get('candidate_requests', 0):,} vs "
            f"{f.get('stable_errors', 0)}/{f.get('stable_requests', 0):,}"
        )
    latency = checks.get("latency_p95")
    if latency is not None and latency.get("status") != "skip":
        parts.append(f"p95 {_ms(latency.get('candidate'))} vs {_ms(latency.get('stable'))} ms")
    divergence = checks.get("divergence")
    if divergence is not None and divergence.get("status") != "skip":
        value = divergence.get("value")
        parts.append(f"divergence {value:.3f}" if isinstance(value, float) else "divergence ok")
    return ", ".join(parts) + " (candidate vs stable)" if parts else "no figures"


def failing(analysis: dict[str, Any]) -> str:
    """The reasons of the failing checks."""
    return " ".join(
        f"{c['name']}: {c['reason']}" for c in analysis.get("checks", []) if c["status"] == "fail"
    )


def _ms(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, int | float) else "-"
