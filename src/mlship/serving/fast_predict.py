"""The hot route, ``POST /models/{name}/predict``, answered by a plain ASGI layer.

FastAPI's middleware, router, request object and dependency machinery cost over 100 µs a
request, more than the rest of mlship's request path put together (``bench/serve`` under
py-spy). This layer sits in front of all of it (:class:`mlship.serving.app.ServingApp`) and
answers the native predict route itself, with the same decoding, routing, prediction and error
table (:mod:`mlship.serving.error_table`) as the FastAPI route, which stays for ``/docs`` and
``/openapi.json``. Every other request passes through untouched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
import sqlalchemy as sa

from mlship.errors import MlshipError
from mlship.serving.error_table import INTERNAL, STORE_BUSY, error_answer
from mlship.serving.http import parse_json, sane_request_id, too_large
from mlship.serving.native import answer

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_PREFIX = "/models/"
_SUFFIX = "/predict"
_JSON = (b"content-type", b"application/json")
_NUMPY = orjson.OPT_SERIALIZE_NUMPY


class ClientGone(Exception):
    """The client disconnected before its body arrived: there is no one to answer."""


class FastPredict:
    """ASGI layer: serves ``POST /models/{name}/predict``, passes everything else on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        path: str = scope["path"]
        name = path[len(_PREFIX) : -len(_SUFFIX)]
        if not (path.startswith(_PREFIX) and path.endswith(_SUFFIX)) or not name or "/" in name:
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        given = key = declared = None
        for header, value in scope["headers"]:
            if header == b"x-request-id":
                given = value.decode("latin-1")
            elif header == b"x-routing-key":
                key = value.decode("latin-1")
            elif header == b"content-length":
                declared = value
        state = scope["app"].state.mlship
        rid = sane_request_id(given, state.request_ids)
        try:
            body = await _read_body(receive, declared, state.settings.max_body_bytes)
            content = await answer(state, name, parse_json(body), rid, key, started)
            status, payload = 200, orjson.dumps(content, option=_NUMPY)
            extra: dict[str, str] = {}
        except ClientGone:
            return
        except MlshipError as exc:
            status, found, extra = error_answer(exc)
            payload = orjson.dumps(found)
        except sa.exc.DBAPIError as exc:
            log.warning("Store error on POST %s: %s", path, type(exc).__name__)
            status, payload, extra = 503, orjson.dumps({"error": STORE_BUSY}), {"retry-after": "1"}
        except Exception:
            log.exception("Unhandled error on POST %s", path)
            status, payload, extra = 500, orjson.dumps({"error": INTERNAL}), {}
        headers = [
            _JSON,
            (b"content-length", str(len(payload)).encode()),
            (b"x-request-id", rid.encode()),
        ]
        headers += [(k.encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


async def _read_body(receive: Receive, declared: bytes | None, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes (413) before reading it all."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(int(declared), limit)
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientGone
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise too_large(len(body), limit)
        return body
    chunks = [body]
    size = len(body)
    while True:
        if size > limit:
            raise too_large(size, limit)
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            if size > limit:
                raise too_large(size, limit)
            return b"".join(chunks)
