"""``POST /models/{name}/feedback``: ground-truth labels of earlier predictions.

Labels drive the live metric, the canary's judgement and retraining, so the route is guarded like
the admin routes (JSON only, no cross-site request, the admin or feedback token when one is set),
takes at most ``--max-batch-rows`` labels a request, takes only scalar labels (or a list of them,
one per row of a multi-row request), and stores labels only for request ids the prediction log
holds for that model; the others are counted and named in the answer, never stored.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from mlship.errors import InvalidInput
from mlship.serving.admin import require_feedback_token
from mlship.serving.http import json_response, read_json, state_of

router = APIRouter(tags=["native"])

_SCALAR_SCHEMA: dict[str, Any] = {"type": ["string", "number", "boolean"]}
FEEDBACK_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["request_id", "label"],
                    "properties": {
                        "request_id": {"type": "string", "maxLength": 64},
                        "label": {
                            "oneOf": [
                                _SCALAR_SCHEMA,
                                {"type": "array", "items": _SCALAR_SCHEMA},
                            ]
                        },
                    },
                },
            }
        }
    },
}
_SHOWN_UNKNOWN = 20
_FLUSH_WAIT_S = 2.0


@router.post(
    "/models/{name}/feedback",
    openapi_extra={"requestBody": FEEDBACK_BODY},
    summary="Store ground-truth labels for earlier predictions",
)
async def feedback(name: str, request: Request) -> Response:
    """``[{"request_id": "...", "label": ...}, ...]`` → ``{"stored": n, "unknown": m}``."""
    require_feedback_token(request)
    state = state_of(request)
    state.router.routes(name)
    limit = state.settings.max_batch_rows
    body = await read_json(request, state.settings.max_body_bytes)
    items = feedback_items(body, limit)
    from mlship.serving.log_export import known_request_ids, record_feedback

    store = state.registry.store
    ids = {rid for rid, _ in items}
    known = await asyncio.to_thread(known_request_ids, store, name, ids)
    plog = state.prediction_log
    if len(known) < len(ids) and plog is not None:
        # Labels may come back within a second: this server's own answers may still be on
        # their way from the journal to the store.
        await asyncio.to_thread(plog.flush, _FLUSH_WAIT_S)
        known = await asyncio.to_thread(known_request_ids, store, name, ids)
    kept = [(rid, label) for rid, label in items if rid in known]
    unknown = sorted(ids - known)
    stored = await asyncio.to_thread(record_feedback, store, name, kept)
    answer: dict[str, Any] = {"stored": stored, "unknown": len(unknown)}
    if unknown:
        answer["unknown_request_ids"] = unknown[:_SHOWN_UNKNOWN]
        answer["message"] = (
            f"{len(unknown):,} label(s) were not stored: no prediction of {name!r} has that "
            "request id (yet). Send labels for request ids the server answered; a label sent "
            "within a second of its prediction to another replica may need a retry."
        )
    return json_response(answer)


def feedback_items(body: Any, limit: int) -> list[tuple[str, Any]]:
    """``(request_id, label)`` pairs of a feedback body; 400/413/422 naming what is wrong."""
    if isinstance(body, dict) and isinstance(body.get("feedback"), list):
        body = body["feedback"]
    if not isinstance(body, list) or not body:
        raise InvalidInput(
            'Feedback is a non-empty JSON array of {"request_id": "...", "label": ...}.',
            status=400,
        )
    if len(body) > limit:
        raise InvalidInput(
            f"A feedback request takes at most {limit:,} labels; this one has {len(body):,}. "
            "Send them in several requests, or start the server with a larger --max-batch-rows.",
            status=413,
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
        label = item.get("label")
        if label is None:
            raise InvalidInput(
                f"Feedback item {row} has no 'label'.", field="label", row=row, status=422
            )
        if not _plain_label(label):
            raise InvalidInput(
                f"Feedback item {row}: a label is a number, a string or a boolean, or a list of "
                "them (one per row of a multi-row request). Got "
                f"{_shown(label)} instead.",
                field="label",
                row=row,
                expected="number, string, boolean or a list of them",
                status=422,
            )
        if "\x00" in item["request_id"] or b"\\u0000" in orjson.dumps(label):
            raise InvalidInput(
                f"Feedback item {row} contains a NUL character, which the store cannot keep.",
                field="label" if "\x00" not in item["request_id"] else "request_id",
                row=row,
                status=422,
            )
        items.append((item["request_id"], label))
    return items


def _plain_label(label: Any) -> bool:
    if isinstance(label, list):
        return bool(label) and all(_scalar(value) for value in label)
    return _scalar(label)


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _shown(label: Any) -> str:
    """What kind of value ``label`` (not a plain label) is, for the error message."""
    if not isinstance(label, list):
        return _kind(label)
    if not label:
        return "an empty list"
    return f"a list holding {_kind(next(v for v in label if not _scalar(v)))}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    return "a list" if isinstance(value, list) else type(value).__name__
