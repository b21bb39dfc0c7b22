"""MLflow's scoring protocol: ``/invocations`` (JSON forms and text/csv), ``/ping``, ``/health``.

Someone moving off ``mlflow models serve`` changes only the URL: ``/models/{name}/invocations``,
or ``/invocations`` itself when the server serves one model. As there, the body's
``Content-Type`` must be ``application/json`` or ``text/csv``; any other, or none, is a 415.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from mlship.errors import InvalidInput
from mlship.serving.http import json_response, read_body, request_id, state_of
from mlship.serving.predict import run_prediction

router = APIRouter(tags=["mlflow-scoring"])

INVOCATIONS_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "dataframe_split": {"type": "object"},
                    "dataframe_records": {"type": "array"},
                    "instances": {"type": "array"},
                    "inputs": {},
                },
            }
        },
        "text/csv": {"schema": {"type": "string"}},
    },
}


@router.get("/ping")
async def ping() -> Response:
    return Response(b"\n", media_type="application/json")


@router.get("/health")
async def health() -> Response:
    return Response(b"\n", media_type="application/json")


@router.post("/invocations", openapi_extra={"requestBody": INVOCATIONS_BODY})
async def invocations(request: Request) -> Response:
    """Scoring when exactly one model is served (as ``mlflow models serve``)."""
    served = sorted(state_of(request).router.models)
    if len(served) != 1:
        raise InvalidInput(
            f"/invocations needs exactly one served model; this server serves "
            f"{', '.join(served) or 'none'}. Use /models/NAME/invocations.",
            status=400,
        )
    return await _invoke(request, served[0])


@router.post("/models/{name}/invocations", openapi_extra={"requestBody": INVOCATIONS_BODY})
async def model_invocations(name: str, request: Request) -> Response:
    return await _invoke(request, name)


async def _invoke(request: Request, name: str) -> Response:
    import orjson

    state = state_of(request)
    started = time.perf_counter()
    rid = request_id(request)
    body = await read_body(request, state.settings.max_body_bytes)
    # Routed after the last await before predicting: a deployment switch cannot close it between.
    route = state.router.route(name, request.headers.get("x-routing-key"), request_id=rid)
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if not content_type:
        # MLflow's scoring server answers 415 too: a body is not guessed to be JSON.
        raise InvalidInput(
            "The request has no Content-Type; send application/json or text/csv.", status=415
        )
    if content_type == "text/csv":
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("The CSV body is not UTF-8 text.", status=400) from None
        frame = route.runtime.decoder.mlflow_csv(text)
    elif content_type == "application/json":
        if not body.strip():
            raise InvalidInput("The request body is empty; send a JSON object.", status=400)
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"The request body is not valid JSON: {exc}.", status=400) from None
        frame = route.runtime.decoder.mlflow(parsed)
    else:
        raise InvalidInput(
            f"Unsupported content type {content_type!r}; send application/json or text/csv.",
            status=415,
        )
    result = await run_prediction(state, route, frame, rid, "mlflow", started)
    response = json_response({"predictions": result.predictions})
    response.headers["x-request-id"] = rid
    return response
