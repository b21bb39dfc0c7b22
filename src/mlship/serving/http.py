"""Request and response helpers shared by the protocol modules (body limits, JSON, ids)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from mlship.errors import InvalidInput

if TYPE_CHECKING:
    from mlship.serving.request_ids import RequestIds
    from mlship.serving.state import ServerState

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,64}")


def state_of(request: Request) -> ServerState:
    state: ServerState = request.app.state.mlship
    return state


def json_response(content: Any, status_code: int = 200) -> Response:
    """orjson-encoded JSON (numpy scalars and arrays included)."""
    return Response(
        orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status_code,
        media_type="application/json",
    )


def request_id(request: Request) -> str:
    """The caller's ``X-Request-ID`` if it is sane, else a new one."""
    return sane_request_id(request.headers.get("x-request-id"), state_of(request).request_ids)


def sane_request_id(given: str | None, ids: RequestIds) -> str:
    """``given`` if it is a sane request id (1-64 of ``A-Za-z0-9._:-``), else a new one."""
    if given and _REQUEST_ID.fullmatch(given):
        return given
    return ids.new()


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes (413) before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(int(declared), limit)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(size: int, limit: int) -> InvalidInput:
    return InvalidInput(
        f"The request body is larger than the limit of {limit / 1024 / 1024:.1f} MB "
        f"({size:,} bytes or more). Send fewer rows per request, or start the server with a "
        "larger --max-body-mb.",
        status=413,
    )


async def read_json(request: Request, limit: int) -> Any:
    """The body parsed as JSON; malformed JSON is a 400 that says where."""
    return parse_json(await read_body(request, limit))


def parse_json(body: bytes) -> Any:
    """``body`` parsed as JSON; an empty or malformed body is a 400 that says where."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if not body.strip():
            raise InvalidInput(
                "The request body is empty; send a JSON object.", status=400
            ) from None
        raise InvalidInput(f"The request body is not valid JSON: {exc}.", status=400) from None
