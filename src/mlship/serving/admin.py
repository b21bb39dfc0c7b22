"""Admin routes: everything that changes what serves. They need ``Authorization: Bearer``."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from mlship.errors import InvalidInput, MlshipError
from mlship.serving.auth import token_ok
from mlship.serving.http import json_response, read_json, state_of

router = APIRouter(prefix="/admin", tags=["admin"])


class Unauthorized(MlshipError):
    """A missing or wrong bearer token on an admin route (401)."""


class Forbidden(MlshipError):
    """A cross-site request to an admin route (403)."""


def require_token(request: Request) -> None:
    """The bearer token, and no cross-site request: without a token a loopback server would
    otherwise take deployments from any web page open in the engineer's browser."""
    if request.method == "POST":
        content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise InvalidInput("Admin requests must be sent as application/json.", status=415)
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    if request.headers.get("sec-fetch-site") == "cross-site" or (
        origin is not None and origin.split("://", 1)[-1] != host
    ):
        raise Forbidden(f"Cross-site admin requests are refused (Origin {origin!r}).")
    expected = state_of(request).settings.token
    if not token_ok(expected, request.headers.get("authorization")):
        raise Unauthorized(
            "This admin route needs 'Authorization: Bearer <token>' with the server's MLSHIP_TOKEN."
        )


DEPLOY_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["ref"],
                "properties": {"ref": {"type": "string"}, "reason": {"type": "string"}},
            }
        }
    },
}


@router.get("/deployments")
async def list_deployments(request: Request) -> Response:
    require_token(request)
    state = state_of(request)
    found = await asyncio.to_thread(state.deployments.list)
    return json_response([d.to_dict() for d in found])


@router.post("/models/{name}/deploy", openapi_extra={"requestBody": DEPLOY_BODY})
async def deploy(name: str, request: Request) -> Response:
    """Make ``ref`` (``3``, ``fraud@3``, ``fraud@staging``) the stable version of ``name``."""
    require_token(request)
    state = state_of(request)
    body = await read_json(request, 64 * 1024)
    if not isinstance(body, dict) or not isinstance(body.get("ref"), str | int):
        raise InvalidInput('Send {"ref": "NAME@VERSION"}.', field="ref", status=400)
    ref = str(body["ref"])
    ref = ref if "@" in ref else f"{name}@{ref}"
    if ref.partition("@")[0] != name:
        raise InvalidInput(f"{ref!r} is not a version of {name!r}.", field="ref")
    reason = body.get("reason") if isinstance(body.get("reason"), str) else None
    target, version = await asyncio.to_thread(state.registry.resolve, ref)
    # Load and warm first: a version that cannot serve is refused and the store is untouched.
    await asyncio.get_running_loop().run_in_executor(
        state.executor, state.load_runtime, target, version
    )
    deployment = await asyncio.to_thread(
        state.deployments.set_stable, f"{target}@{version}", reason=reason
    )
    await state.refresh(force=True)
    return json_response(deployment.to_dict())
