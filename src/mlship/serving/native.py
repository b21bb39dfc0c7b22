"""The native protocol: ``POST /models/{name}/predict`` and ``POST /models/{name}/feedback``."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from mlship.errors import InvalidInput
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
FEEDBACK_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["request_id", "label"],
                    "properties": {"request_id": {"type": "string"}, "label": {}},
                },
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


@router.post(
    "/models/{name}/feedback",
    openapi_extra={"requestBody": FEEDBACK_BODY},
    summary="Store ground-truth labels for earlier predictions",
)
async def feedback(name: str, request: Request) -> Response:
    """``[{"request_id": "...", "label": ...}, ...]`` → ``{"stored": n}``."""
    state = state_of(request)
    state.router.routes(name)
    body = await read_json(request, state.settings.max_body_bytes)
    if isinstance(body, dict) and isinstance(body.get("feedback"), list):
        body = body["feedback"]
    if not isinstance(body, list) or not body:
        raise InvalidInput(
            'Feedback is a non-empty JSON array of {"request_id": "...", "label": ...}.',
            status=400,
        )
    items: list[tuple[str, Any]] = []
    for row, item in enumerate(body):
        if not isinstance(item, dict) or not isinstance(item.get("request_id"), str):
            raise InvalidInput(
                f"Feedback item {row} needs a string 'request_id'.",
                field="request_id",
                row=row,
                expected="string",
                status=422,
            )
        if "\x00" in item["request_id"] or b"\\u0000" in orjson.dumps(item.get("label")):
            raise InvalidInput(
                f"Feedback item {row} contains a NUL character, which the store cannot keep.",
                field="label" if "\x00" not in item["request_id"] else "request_id",
                row=row,
                status=422,
            )
        if "label" not in item or item["label"] is None:
            raise InvalidInput(
                f"Feedback item {row} has no 'label'.", field="label", row=row, status=422
            )
        items.append((item["request_id"], item["label"]))
    from mlship.serving.log_export import record_feedback

    stored = await asyncio.to_thread(record_feedback, state.registry.store, name, items)
    return json_response({"stored": stored})
