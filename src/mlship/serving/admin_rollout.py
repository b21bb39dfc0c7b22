"""Admin routes that steer rollouts: deploy (blue-green, canary, shadow), status, promote, rollback,
pause, resume, abort. The same transitions as ``mlship deploy|status|promote|...``, through the
same :class:`~mlship.rollout.Rollouts`; every one needs the bearer token (:func:`require_token`).

The ledger names who acted as ``"http <client address>"``, or ``"<actor> via http <client>"``
when the body names an ``actor`` (a CI job, a person), as the CLI records ``MLSHIP_ACTOR``.
After a change this replica refreshes its routing table at once; the others follow on their next
poll of the store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import Field

from mlship.errors import InvalidInput, NotFound, SmokeTestFailed
from mlship.registry import Registry
from mlship.rollout import CanaryConfig, Rollouts
from mlship.rollout.blue_green import DEFAULT_STANDBY_S, MAX_STANDBY_S
from mlship.rollout.deployments import status_document
from mlship.serving.admin import (
    ActionBody,
    DeployBody,
    PromoteBody,
    parse_body,
    require_token,
    schema_of,
)
from mlship.serving.http import json_response, state_of
from mlship.serving.smoke import record_failure, smoke_test

if TYPE_CHECKING:
    from mlship.rollout import Deployment
    from mlship.serving.runtime import VersionRuntime
    from mlship.serving.state import ServerState

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin", tags=["admin"])


class SwitchableDeployBody(DeployBody):
    """Body of deploy, with the blue-green standby window."""

    standby_s: float | None = Field(
        None,
        ge=0,
        le=MAX_STANDBY_S,
        allow_inf_nan=False,
        description="Blue-green: seconds the previous version stays loaded (not routed) so "
        "that a rollback is instant (default 1800; 0 unloads it at once).",
    )


def _acting(state: ServerState, request: Request, body: ActionBody) -> Rollouts:
    """Rollouts whose ledger events name the HTTP client (the server's registry is shared)."""
    client = request.client.host if request.client is not None else "unknown"
    actor = f"{body.actor} via http {client}" if body.actor else f"http {client}"
    shared = state.registry
    return Rollouts(Registry(shared.store, shared.artifacts, actor=actor))


async def _changed(state: ServerState, deployment: Deployment) -> Response:
    """The committed change; this replica obeys it now, the others on their next poll."""
    try:
        await state.refresh(force=True)
    except Exception as exc:  # committed all the same: the watcher retries, the client must know
        log.warning("Refreshing after a rollout change failed (the poll retries): %s", exc)
    return json_response(deployment.to_dict())


@router.post("/models/{name}/deploy", openapi_extra=schema_of(SwitchableDeployBody, required=True))
async def deploy(name: str, request: Request) -> Response:
    """Roll ``ref`` out: ``blue-green`` (default) switches all traffic once the version is loaded,
    warm and smoke-tested here (sanity checks, recorded requests replayed), and keeps the previous
    version loaded for ``standby_s`` for an instant rollback; ``canary`` sends ``steps[0]`` % to
    it and lets the controller judge each step; ``shadow`` copies ``mirror_percent`` % of
    requests to it while stable answers every user."""
    require_token(request)
    state = state_of(request)
    body = await parse_body(request, SwitchableDeployBody, required=True)
    ref = str(body.ref)
    ref = ref if "@" in ref else f"{name}@{ref}"
    if ref.partition("@")[0] != name:
        raise InvalidInput(f"{ref!r} is not a version of {name!r}.", field="ref")
    given = body.canary_options()
    if body.strategy != "canary" and given:
        raise InvalidInput(
            f"The {', '.join(map(repr, given))} option(s) apply to the canary strategy only; "
            'send "strategy": "canary", or leave them out.',
            field=next(iter(given)),
        )
    if body.strategy != "shadow" and body.mirror_percent is not None:
        raise InvalidInput(
            "The 'mirror_percent' option applies to the shadow strategy only.",
            field="mirror_percent",
        )
    if body.strategy != "blue-green" and body.standby_s is not None:
        raise InvalidInput(
            "The 'standby_s' option applies to the blue-green strategy only.", field="standby_s"
        )
    config = CanaryConfig(**given)  # checked before anything is loaded
    rollouts = _acting(state, request, body)
    target, version = await asyncio.to_thread(state.registry.resolve, ref)
    # Load and warm first: a version that cannot serve is refused and the store is untouched.
    shadow = body.strategy == "shadow"  # a shadow runs on its own executor: load that one
    runtime = await asyncio.get_running_loop().run_in_executor(
        state.control_executor, lambda: state.load_runtime(target, version, shadow=shadow)
    )
    pinned = f"{target}@{version}"
    try:
        deployment = await _start(state, rollouts, runtime, pinned, body, config)
    except Exception:
        # Refused (unblessed, busy, failed smoke test): the version loaded for it goes again.
        await state.discard(target, version, shadow=shadow)
        raise
    return await _changed(state, deployment)


async def _start(
    state: ServerState,
    rollouts: Rollouts,
    runtime: VersionRuntime,
    pinned: str,
    body: SwitchableDeployBody,
    config: CanaryConfig,
) -> Deployment:
    """The deploy's transition, ``pinned`` loaded and warm in ``runtime``."""
    if body.strategy == "canary":
        return await asyncio.to_thread(
            lambda: rollouts.start_canary(pinned, config, force=body.force, reason=body.reason)
        )
    if body.strategy == "shadow":
        mirror = 100.0 if body.mirror_percent is None else body.mirror_percent
        return await asyncio.to_thread(
            lambda: rollouts.start_shadow(pinned, mirror, force=body.force, reason=body.reason)
        )
    # An unblessed version is refused before the smoke test's work.
    await asyncio.to_thread(lambda: rollouts.check_switch(pinned, force=body.force))
    # Green answers the sanity checks and blue's recent real requests before any switch.
    report = await smoke_test(runtime, state.registry)
    if not report.passed:
        log.warning("Blue-green switch to %s refused: %s", pinned, report.message())
        await asyncio.to_thread(record_failure, rollouts.registry, report, body.reason)
        raise SmokeTestFailed(report.message(), report)
    standby = DEFAULT_STANDBY_S if body.standby_s is None else body.standby_s
    return await asyncio.to_thread(
        lambda: rollouts.switch(
            pinned,
            force=body.force,
            reason=body.reason,
            standby_s=standby,
            smoke=report.summary(),
        )
    )


@router.get("/models/{name}/status")
async def status(name: str, request: Request) -> Response:
    """The deployment (split, step, plan, standby) and its rollout events with their analysis
    figures: what ``mlship status NAME --json`` prints."""
    require_token(request)
    state = state_of(request)

    def read() -> dict[str, Any]:
        deployment = state.deployments.get(name)
        if deployment is None:
            raise NotFound(f"{name!r} has no deployment. Deploy it: mlship deploy {name}@VERSION")
        return status_document(deployment, state.registry.history(name))

    return json_response(await asyncio.to_thread(read))


@router.post("/models/{name}/promote", openapi_extra=schema_of(PromoteBody, required=False))
async def promote(name: str, request: Request) -> Response:
    """Make a canary's candidate stable now and move the production alias. From a shadow, start
    a canary of it (the plan's options apply), or switch to it with ``"strategy": "blue-green"``."""
    require_token(request)
    state = state_of(request)
    body = await parse_body(request, PromoteBody, required=False)
    given = body.canary_options()
    if body.strategy == "blue-green" and given:
        raise InvalidInput(
            f"The {', '.join(map(repr, given))} option(s) apply to a canary, not to a "
            "blue-green promotion; leave them out.",
            field=next(iter(given)),
        )
    config = CanaryConfig(**given) if given else None
    rollouts = _acting(state, request, body)
    deployment = await asyncio.to_thread(
        lambda: rollouts.promote(name, reason=body.reason, strategy=body.strategy, config=config)
    )
    return await _changed(state, deployment)


Transition = Callable[[Rollouts, str, ActionBody], "Deployment"]

_TRANSITIONS: dict[str, tuple[Transition, str]] = {
    "rollback": (
        lambda r, m, b: r.rollback(m, reason=b.reason or "manual rollback"),
        "All traffic back to the last good version, at once, from any state (ends a shadow).",
    ),
    "pause": (lambda r, m, b: r.pause(m, reason=b.reason), "Hold a canary at its current step."),
    "resume": (lambda r, m, b: r.resume(m, reason=b.reason), "Continue a paused canary."),
    "abort": (
        lambda r, m, b: r.abort(m, reason=b.reason),
        "Stop a canary or a shadow without judging the candidate.",
    ),
}


def _transition_route(transition: Transition) -> Callable[[str, Request], Awaitable[Response]]:
    async def route(name: str, request: Request) -> Response:
        require_token(request)
        state = state_of(request)
        body = await parse_body(request, ActionBody, required=False)
        rollouts = _acting(state, request, body)
        deployment = await asyncio.to_thread(transition, rollouts, name, body)
        return await _changed(state, deployment)

    return route


for _action, (_transition, _summary) in _TRANSITIONS.items():
    router.add_api_route(
        f"/models/{{name}}/{_action}",
        _transition_route(_transition),
        methods=["POST"],
        name=_action,
        summary=f"{_action.capitalize()} the rollout of a model",
        description=_summary,
        openapi_extra=schema_of(ActionBody, required=False),
    )
