"""The native protocol: ``POST /models/{name}/predict``.

Feedback labels have a module of their own: :mod:`mlship.serving.feedback`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from mlship.serving.http import json_response, read_json, request_id, state_of
from mlship.serving.predict import run_prediction

if TYPE_CHECKING:
    from mlship.serving.state import ServerState

router = APIRouter(tags=["native"])

_ROW = {"type": "object", "additionalProperties": True}
PREDICT_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["inputs"],
                        "properties": {
                            "inputs": {"type": "array", "items": _ROW},
                            "routing_key": {"type": "string"},
                        },
                    },
                    {
                        "type": "object",
                        "required": ["data"],
                        "properties": {
                            "columns": {"type": "array", "items": {"type": "string"}},
                            "data": {"type": "array", "items": {"type": "array"}},
                            "routing_key": {"type": "string"},
                        },
                    },
                ]
            }
        }
    },
}


@router.post(
    "/models/{name}/predict",
    openapi_extra={"requestBody": PREDICT_BODY},
    summary="Predict with the version that serves model {name}",
)
async def predict(name: str, request: Request) -> Response:
    """``{"inputs": [{...}, ...]}`` or ``{"columns": [...], "data": [[...]]}`` →
    ``{"predictions", "probabilities", "model", "version", "request_id"}``."""
    state = state_of(request)
    started = time.perf_counter()
    rid = request_id(request)
    body = await read_json(request, state.settings.max_body_bytes)
    content = await answer(state, name, body, rid, request.headers.get("x-routing-key"), started)
    return _with_id(content, rid)


async def answer(
    state: ServerState, name: str, body: Any, rid: str, key: str | None, started: float
) -> dict[str, Any]:
    """The native prediction of ``body`` for model ``name``: the FastAPI route above and the raw
    ASGI path (:mod:`mlship.serving.fast_predict`) both answer with this. ``key`` is the
    ``X-Routing-Key`` header; without one, the body's ``routing_key`` routes."""
    if key is None and type(body) is dict and type(body.get("routing_key")) is str:
        key = body["routing_key"]
    route = state.router.route(name, key, request_id=rid)
    frame, _ = route.runtime.decoder.native(body)
    rows = body.get("inputs") if type(body) is dict else None
    result = await run_prediction(state, route, frame, rid, "native", started, raw_inputs=rows)
    content: dict[str, Any] = {
        "predictions": result.predictions,
        "model": name,
        "version": result.version,
        "request_id": rid,
    }
    if result.probabilities is not None:
        content["probabilities"] = result.probabilities
    return content


def _with_id(content: dict[str, Any], rid: str) -> Response:
    response = json_response(content)
    response.headers["x-request-id"] = rid
    return response
