"""The one table from mlship errors to HTTP answers: status code, JSON body, extra headers.

Both the FastAPI exception handler and the raw ASGI predict path answer errors from here, so a
client sees the same status and body whichever of them served the request.
"""

from __future__ import annotations

from mlship.errors import (
    Conflict,
    IntegrityError,
    InvalidInput,
    InvalidReference,
    MlshipError,
    NotFound,
    StoreUnavailable,
)
from mlship.serving.admin import Forbidden, Unauthorized
from mlship.serving.predict import ModelFailed, Retry

STORE_BUSY = "The mlship store is busy or unreachable; retry shortly."
INTERNAL = "Internal server error; the server log has the details."


def error_answer(exc: MlshipError) -> tuple[int, dict[str, object], dict[str, str]]:
    """``(status, body, headers)`` for ``exc``; the body is ``{"error": ..., located fields}``."""
    body: dict[str, object] = {"error": exc.message}
    if isinstance(exc, InvalidInput):
        status = exc.status
        body.update(exc.details())
    elif isinstance(exc, ModelFailed):
        status = 500
        body["request_id"] = exc.request_id
    elif isinstance(exc, Retry | StoreUnavailable):
        status = 503
    elif isinstance(exc, Unauthorized):
        status = 401
    elif isinstance(exc, Forbidden):
        status = 403
    elif isinstance(exc, NotFound):
        status = 404
    elif isinstance(exc, Conflict | IntegrityError):
        status = 409
    elif isinstance(exc, InvalidReference):
        status = 400
    else:
        status = 400
    headers: dict[str, str] = {}
    if status == 401:
        headers["www-authenticate"] = "Bearer"
    if status == 503:
        headers["retry-after"] = "1"
    return status, body, headers
