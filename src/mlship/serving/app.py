"""The ASGI app factory: ``create_app(settings, registry)``; uvicorn and tests start it.

Error handling is one table: mlship errors map to status codes with a JSON body
``{"error": "...", ...located fields}``; nothing a client sends produces a 5xx from mlship itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlship import __version__
from mlship.errors import MlshipError
from mlship.serving import admin, admin_rollout, feedback, mlflow_protocol, native, v2
from mlship.serving.error_table import INTERNAL, STORE_BUSY, error_answer
from mlship.serving.fast_predict import FastPredict, Receive, Scope, Send
from mlship.serving.host_guard import HostGuard
from mlship.serving.http import json_response, state_of
from mlship.serving.state import ServerState

if TYPE_CHECKING:
    from mlship.registry import Registry
    from mlship.serving.prediction_log import PredictionLog
    from mlship.serving.settings import ServeSettings

log = logging.getLogger(__name__)


def create_app(settings: ServeSettings, registry: Registry) -> FastAPI:
    """Build the server for ``registry``; the lifespan loads deployments before traffic."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = ServerState(settings, registry)
        app.state.mlship = state
        _limit_threads(settings)
        if settings.log_predictions:
            from mlship.serving.prediction_log import PredictionLog

            state.prediction_log = PredictionLog(
                registry.store,
                settings.spill_dir,
                max_queue=settings.log_memory_records,
                segment_bytes=int(settings.spill_segment_mb * (1 << 20)),
                on_full=settings.on_log_full,
            )
            state.prediction_log.start()
            state.metrics.watch_log(state.prediction_log)
        monitor = state.build_monitor() if settings.monitor else None
        await state.refresh()
        # What start-up built (libraries, loaded models) lives as long as the server: out of the
        # collector's sight, a full collection no longer walks it (it stalled requests ~100 ms).
        gc.freeze()
        tasks = [asyncio.create_task(state.watch())]
        if settings.controller:
            tasks.append(asyncio.create_task(state.control()))
        if monitor is not None:
            tasks.append(asyncio.create_task(state.monitor(*monitor)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await state.close()

    app = ServingApp(
        HostGuard.for_server(settings.host, settings.allowed_hosts, has_token=bool(settings.token)),
        title="mlship",
        version=__version__,
        summary="Model inference: native, Open Inference Protocol v2 and MLflow scoring.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    if settings.docs:
        from mlship.serving.api_docs import add_docs

        add_docs(app)
    app.include_router(native.router)
    app.include_router(feedback.router)
    app.include_router(v2.router)
    app.include_router(mlflow_protocol.router)
    app.include_router(admin.router)
    app.include_router(admin_rollout.router)
    from mlship.dashboard import router as dashboard  # imported here: it imports serving.admin

    app.include_router(dashboard)
    _add_health(app)
    _add_error_handlers(app)
    return app


class ServingApp(FastAPI):
    """FastAPI, but the ``Host`` allow-list is checked first, on every route
    (:mod:`~mlship.serving.host_guard`), and the hot route (``POST /models/{name}/predict``) is
    answered before Starlette's middleware stack: its error, telemetry and body-limit layers
    cost ~20 µs a request, and :class:`~mlship.serving.fast_predict.FastPredict` does its own
    error handling and body limit. Every other request goes through FastAPI as usual."""

    def __init__(self, host_guard: HostGuard, **options: Any) -> None:
        super().__init__(**options)
        self._hosts = host_guard
        self._fast = FastPredict(super().__call__)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            host = next((v for k, v in scope["headers"] if k == b"host"), None)
            if not self._hosts.allows(host):
                assert host is not None
                await _misdirected(self._hosts.refusal(host), scope, send)
                return
        scope["app"] = self
        await self._fast(scope, receive, send)


async def _misdirected(body: bytes, scope: Scope, send: Send) -> None:
    """421 Misdirected Request (a websocket is closed before it is accepted)."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 421, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _limit_threads(settings: ServeSettings) -> None:
    """Cap BLAS/OpenMP pools so that workers x threads <= cores (two workers with default pools
    on two cores collapse throughput)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=settings.threads())


def _add_health(app: FastAPI) -> None:
    @app.get("/healthz", tags=["health"])
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    @app.get("/readyz", tags=["health"])
    async def readyz(request: Request) -> Response:
        state = state_of(request)
        models = {n: r.stable.version for n, r in state.router.models.items()}
        body: dict[str, Any] = {"ready": state.ready, "models": models}
        plog = state.prediction_log
        if plog is not None:
            body["prediction_log"] = _log_health(plog)
            if plog.refusing:  # --on-log-full refuse: send traffic to another replica
                body["ready"] = False
        return json_response(body, status_code=200 if body["ready"] else 503)

    @app.get("/metrics", tags=["health"])
    async def metrics(request: Request) -> Response:
        state = state_of(request)
        plog = state.prediction_log
        if plog is not None:
            state.metrics.log_queue.set(plog.queue_depth)
            state.metrics.log_spilled.set(plog.spilled)
        return Response(state.metrics.render(), media_type=state.metrics.content_type)

    @app.get("/models", tags=["native"])
    async def models(request: Request) -> Response:
        state = state_of(request)
        return json_response(
            [{"name": n, "version": r.stable.version} for n, r in state.router.models.items()]
        )


def _log_health(plog: PredictionLog) -> dict[str, Any]:
    """The prediction log's part of ``/readyz``: ok, or the disk is full and what it cost."""
    status = plog.status()
    if status.disk_full_since is None:
        state = "ok"
    else:
        state = "refusing" if plog.refusing else "disk_full"
    return {
        "state": state,
        "lost": status.lost_total,
        "held_in_memory": status.held,
        "refused": status.refused,
        "disk_full_since": (
            None if status.disk_full_since is None else status.disk_full_since.isoformat()
        ),
        "detail": status.detail,
    }


def _add_error_handlers(app: FastAPI) -> None:
    async def mlship_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, MlshipError)
        status, body, headers = error_answer(exc)
        response = json_response(body, status_code=status)
        response.headers.update(headers)
        return response

    async def store_error(request: Request, exc: Exception) -> Response:
        log.warning(
            "Store error on %s %s: %s",
            request.method,
            request.url.path,
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
        )
        response = json_response({"error": STORE_BUSY}, status_code=503)
        response.headers["retry-after"] = "1"
        return response

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return json_response(
            {
                "error": f"Invalid request: {first.get('msg', 'bad input')} at {where}.",
                "field": where,
            },
            status_code=422,
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return json_response({"error": str(exc.detail)}, status_code=exc.status_code)

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("Unhandled error on %s %s", request.method, request.url.path)
        return json_response({"error": INTERNAL}, status_code=500)

    app.add_exception_handler(MlshipError, mlship_error)
    app.add_exception_handler(sa.exc.DBAPIError, store_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
