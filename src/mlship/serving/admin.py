"""Admin routes: everything that changes what serves. They need ``Authorization: Bearer``.

The guard (:func:`require_token`), the request bodies (pydantic, checked after the guard) and the
deployment list live here; the rollout routes (deploy, status, promote, rollback, pause, resume,
abort) in :mod:`mlship.serving.admin_rollout`.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal, TypeVar

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from mlship.errors import InvalidInput, MlshipError
from mlship.serving.auth import any_token_ok, token_ok
from mlship.serving.http import json_response, read_body, state_of

router = APIRouter(prefix="/admin", tags=["admin"])


class Unauthorized(MlshipError):
    """A missing or wrong bearer token on an admin route (401)."""


class Forbidden(MlshipError):
    """A cross-site request to an admin or feedback route (403)."""


def require_token(request: Request) -> None:
    """The bearer token, and no cross-site request: without a token a loopback server would
    otherwise take deployments from any web page open in the engineer's browser."""
    refuse_cross_site(request)
    expected = state_of(request).settings.token
    if not token_ok(expected, request.headers.get("authorization")):
        raise Unauthorized(
            "This admin route needs 'Authorization: Bearer <token>' with the server's MLSHIP_TOKEN."
        )


def refuse_cross_site(request: Request) -> None:
    """415 for a POST that is not ``application/json`` (a cross-site form or ``text/plain``
    post needs no preflight; JSON does), 403 for a request another site's page made."""
    if request.method == "POST":
        content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise InvalidInput(
                f"{request.url.path} takes only application/json requests. Got "
                f"{content_type or 'no Content-Type'!r} instead.",
                status=415,
            )
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    if request.headers.get("sec-fetch-site") == "cross-site" or (
        origin is not None and origin.split("://", 1)[-1] != host
    ):
        raise Forbidden(
            f"Cross-site requests to {request.url.path} are refused (Origin {origin!r})."
        )


def require_feedback_token(request: Request) -> None:
    """Feedback labels drive the live metric, the canary and retraining: no cross-site request,
    and the admin or the feedback token (``MLSHIP_FEEDBACK_TOKEN``) when either is set."""
    refuse_cross_site(request)
    settings = state_of(request).settings
    accepted = tuple(t for t in (settings.token, settings.feedback_token) if t)
    if accepted and not any_token_ok(accepted, request.headers.get("authorization")):
        raise Unauthorized(
            "Feedback needs 'Authorization: Bearer <token>' with the server's MLSHIP_TOKEN or "
            "MLSHIP_FEEDBACK_TOKEN."
        )


@router.get("/deployments")
async def list_deployments(request: Request) -> Response:
    require_token(request)
    state = state_of(request)
    found = await asyncio.to_thread(state.deployments.list)
    return json_response([d.to_dict() for d in found])


# ------------------------------------------------------------------------- request bodies

BodyT = TypeVar("BodyT", bound=BaseModel)

_BODY_LIMIT = 64 * 1024
_CANARY_OPTIONS = ("steps", "interval_s", "min_requests", "max_wait_s")
# Thresholds of the canary analysis: server-wide (the controller's AnalysisConfig), not stored
# per rollout, and not offered by `mlship deploy` either.
_ANALYSIS_OPTIONS = frozenset(
    {"max_error_rate_increase", "max_latency_ratio", "max_divergence_psi", "significance"}
)


def _no_nul(text: str) -> str:
    if "\x00" in text:  # PostgreSQL refuses NUL in text: a 422 here, not a store error
        raise ValueError("must not contain NUL (\\x00) characters")
    return text


Reason = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_no_nul)]
# The ledger's actor column holds 200 characters: room for " via http <client address>".
Actor = Annotated[str, StringConstraints(max_length=120), AfterValidator(_no_nul)]


class ActionBody(BaseModel):
    """Body of rollback, pause, resume and abort (all optional)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    reason: Reason | None = Field(None, description="Why; kept in the ledger.")
    actor: Actor | None = Field(
        None, description="Who acts (a person, a CI job); kept in the ledger."
    )


class CanaryPlan(ActionBody):
    """A canary's plan; any option left out takes ``CanaryConfig``'s default."""

    steps: list[int] | None = Field(None, description="Canary: percentages ending at 100.")
    interval_s: float | None = Field(None, description="Canary: seconds per step, at least.")
    min_requests: int | None = Field(None, description="Canary: candidate requests per step.")
    max_wait_s: float | None = Field(
        None, description="Canary: seconds an inconclusive step waits before it pauses."
    )

    def canary_options(self) -> dict[str, Any]:
        """The options that were given (``steps`` as a tuple)."""
        given = {k: getattr(self, k) for k in _CANARY_OPTIONS if getattr(self, k) is not None}
        if "steps" in given:
            given["steps"] = tuple(given["steps"])
        return given


class DeployBody(CanaryPlan):
    """Body of deploy: the version, the strategy and its options."""

    ref: str | int = Field(description="3, fraud@3 or fraud@staging.")
    strategy: Literal["blue-green", "canary", "shadow"] = Field(
        "blue-green",
        description="blue-green: all traffic at once, after the load and warm-up; canary: "
        "steps judged by the controller; shadow: copies of requests only.",
    )
    force: bool = Field(False, description="Deploy an unblessed version (recorded).")
    mirror_percent: float | None = Field(
        None, description="Shadow: percent of requests copied to it (default 100)."
    )


class PromoteBody(CanaryPlan):
    """Body of promote: from a shadow, what comes next (a canary by default)."""

    strategy: Literal["canary", "blue-green"] | None = Field(
        None, description="From a shadow: canary (the plan's options apply) or blue-green."
    )


def schema_of(model: type[BaseModel], required: bool) -> dict[str, Any]:
    """``openapi_extra`` documenting ``model`` as the JSON body (parsed by :func:`parse_body`)."""
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


async def parse_body(request: Request, model: type[BodyT], required: bool) -> BodyT:
    """The body as ``model``; 400 for malformed JSON, 422 naming the first field that is wrong."""
    raw = await read_body(request, _BODY_LIMIT)
    if not raw.strip():
        if required:
            raise InvalidInput(
                'The request body is empty; send {"ref": "NAME@VERSION"}.', status=400
            )
        raw = b"{}"
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"The request body is not valid JSON: {exc}.", status=400) from None
    if not isinstance(data, dict):
        raise InvalidInput("The request body must be a JSON object.", status=400)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        # The top-level field: a union's error locations also name the type that was tried.
        where = str(first["loc"][0]) if first["loc"] else "body"
        known = ", ".join(model.model_fields)
        if first["type"] == "extra_forbidden" and where in _ANALYSIS_OPTIONS:
            message = (
                f"The {where!r} option cannot be set per rollout: the canary analysis "
                "thresholds are the controller's, server-wide."
            )
        elif first["type"] == "extra_forbidden":
            message = f"Unknown field {where!r}. This route takes: {known}."
        else:
            given = repr(first.get("input"))
            given = given if len(given) <= 80 else f"{given[:77]}..."
            message = f"Invalid field {where!r}: {first['msg']}. Got {given}."
        raise InvalidInput(message, field=where) from None
