"""The routes of the web UI at ``/ui``: the page, its static files, and the read-only JSON it polls
every 2 s under ``/ui/api``. None of them is in the OpenAPI schema (they are the UI's, not an API
to build on); the UI changes deployments through the admin API (``/admin/...``) with the token.

The JSON routes need the admin bearer token when the server has one (model metadata is not
public everywhere): the same guard as the admin routes, cross-site requests refused.
``/ui/api/session`` says, without the token, whether one is needed and whether the one sent is
right, so that the page can ask for it before it shows anything (and a refused token is a
message, not a failed request).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from mlship import __version__
from mlship.dashboard.assets import SECURITY_HEADERS, assets
from mlship.dashboard.cache import TtlCache
from mlship.dashboard.catalog import catalog
from mlship.dashboard.drift_view import DEFAULT_WINDOW, drift_view, model_alerts, window_seconds
from mlship.dashboard.rollout_view import rollout_view
from mlship.errors import ModelNotFound, NotFound
from mlship.serving.admin import require_token
from mlship.serving.auth import token_ok
from mlship.serving.http import json_response, state_of
from mlship.store import utcnow

if TYPE_CHECKING:
    from mlship.rollout import Deployment

router = APIRouter(prefix="/ui", include_in_schema=False)

_SHADOW_ROWS = 20_000
"""Shadow predictions a report reads (the most recent): the page polls it."""


@dataclass
class _Caches:
    """The costly views of one app, briefly kept: several pages poll them every 2 s."""

    judge: TtlCache = field(default_factory=lambda: TtlCache(ttl_s=3.0))
    shadow: TtlCache = field(default_factory=lambda: TtlCache(ttl_s=3.0))
    drift: TtlCache = field(default_factory=lambda: TtlCache(ttl_s=10.0))


def _caches(request: Request) -> _Caches:
    """This app's caches (one per app: tests run several servers in one process)."""
    found = getattr(request.app.state, "dashboard", None)
    if not isinstance(found, _Caches):
        found = _Caches()
        request.app.state.dashboard = found
    return found


def _json(content: Any) -> Response:
    response = json_response(content)
    response.headers.update({**SECURITY_HEADERS, "cache-control": "no-store"})
    return response


def _asset(request: Request, name: str) -> Response:
    asset = assets().get(name)
    if asset is None:
        raise NotFound(f"The UI has no file {name!r}; open /ui/ for the dashboard.")
    if asset.fresh_for(request.headers.get("if-none-match")):
        return Response(status_code=304, headers=asset.headers())
    return Response(asset.body, media_type=asset.content_type, headers=asset.headers())


# ------------------------------------------------------------------------------------ the page


@router.get("")
async def ui_root() -> Response:
    return RedirectResponse("ui/", status_code=308)


@router.get("/")
async def ui_page(request: Request) -> Response:
    return _asset(request, "index.html")


@router.get("/static/{name}")
async def ui_static(name: str, request: Request) -> Response:
    return _asset(request, name)


# ------------------------------------------------------------------------------- the JSON


@router.get("/api/session")
async def ui_session(request: Request) -> Response:
    """Whether the server needs a token, and whether the one sent (if any) is right."""
    expected = state_of(request).settings.token
    given = request.headers.get("authorization")
    return _json(
        {
            "token_required": bool(expected),
            "authorized": token_ok(expected, given),
            "token_sent": given is not None,
            "version": __version__,
        }
    )


@router.get("/api/models")
async def ui_models(request: Request) -> Response:
    """Every model: versions, aliases, metrics, gate verdicts, deployment, alias moves."""
    require_token(request)
    registry = state_of(request).registry
    found = await asyncio.to_thread(catalog, registry)
    return _json({"now": utcnow().isoformat(), **found})


@router.get("/api/models/{name}/deployment")
async def ui_deployment(name: str, request: Request) -> Response:
    """The deployment of ``name``, its canary's steps with their analyses, the timeline."""
    require_token(request)
    registry = state_of(request).registry
    cache = _caches(request).judge

    def judge(deployment: Deployment) -> dict[str, Any] | None:
        from mlship.rollout import Controller

        key = (deployment.model, deployment.revision)
        figures: dict[str, Any] = cache.get_or_compute(
            key, lambda: Controller(registry).judge(deployment).to_dict()
        )
        return figures

    view = await asyncio.to_thread(rollout_view, registry, name, utcnow(), judge)
    return _json(view)


@router.get("/api/models/{name}/shadow")
async def ui_shadow(name: str, request: Request) -> Response:
    """The shadow report of the running (or last) shadow of ``name``."""
    require_token(request)
    registry = state_of(request).registry

    def read() -> dict[str, Any]:
        from mlship.rollout.shadow_report import shadow_report

        try:
            report = shadow_report(registry, name, limit=_SHADOW_ROWS)
        except ModelNotFound:
            raise
        except NotFound as exc:  # no shadow yet: a state of the model, not a bad request
            return {"model": name, "available": False, "message": exc.message}
        return {"model": name, "available": True, "report": report.to_dict()}

    found = await asyncio.to_thread(_caches(request).shadow.get_or_compute, name, read)
    return _json({"now": utcnow().isoformat(), **found})


@router.get("/api/models/{name}/drift")
async def ui_drift(
    name: str, request: Request, window: str = DEFAULT_WINDOW, feature: str | None = None
) -> Response:
    """Per-feature drift over time of ``name``'s log, one feature's histogram, the alerts."""
    require_token(request)
    window_seconds(window)  # a bad window is a 422 before any work
    registry = state_of(request).registry
    cache = _caches(request).drift

    def read() -> dict[str, Any]:
        alerts = model_alerts(registry, name)  # always fresh; an unknown model: 404
        figures: dict[str, Any] = cache.get_or_compute(
            (name, window, feature), lambda: drift_view(registry, name, utcnow(), window, feature)
        )
        return {**figures, "alerts": alerts}

    return _json(await asyncio.to_thread(read))
