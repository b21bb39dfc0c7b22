"""Running one request's prediction: the model call, metrics, the prediction log, model errors."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from mlship.errors import MlshipError
from mlship.serving.batcher import BatcherClosed
from mlship.serving.prediction_record import PredictionRecord
from mlship.serving.router import Route
from mlship.store import utcnow

if TYPE_CHECKING:
    from mlship.serving.decode import Frame
    from mlship.serving.runtime import Prediction
    from mlship.serving.state import ServerState

log = logging.getLogger(__name__)


class Retry(MlshipError):
    """The routed version was retired before it could answer (503 with Retry-After)."""


class LogFull(Retry):
    """``--on-log-full refuse``: the prediction log cannot keep this request's record (the disk
    and its memory bound are full), so the answer is withheld (503 with Retry-After)."""


class ModelFailed(MlshipError):
    """The model itself raised while predicting: a 500 with the request id, no traceback."""

    def __init__(self, message: str, request_id: str) -> None:
        super().__init__(message)
        self.request_id = request_id


async def run_prediction(
    state: ServerState,
    route: Route,
    frame: Frame,
    rid: str,
    protocol: str,
    started: float,
    raw_inputs: Any = None,
) -> Prediction:
    """Predict ``frame`` with the routed runtime and account for it (metrics, log).

    ``raw_inputs`` (the request's rows as parsed JSON, when the protocol has them) is what the
    prediction log keeps; serialising those costs the log's writer far less than a DataFrame.
    """
    logged = frame if raw_inputs is None else raw_inputs
    runtime = route.runtime
    try:
        result = await runtime.predict(frame)
    except BatcherClosed:
        labels = {"model": runtime.name, "version": str(runtime.version), "role": route.role}
        metrics = state.metrics
        # Cannot happen while routing happens after the last await (one refresh at a time);
        # if it ever does, the client may simply retry.
        metrics.requests.labels(protocol=protocol, status="503", **labels).inc()
        raise Retry(
            f"{runtime.name}@{runtime.version} was just retired; retry the request."
        ) from None
    except Exception as exc:
        if route.role == "candidate":
            return await _fall_back(state, route, frame, rid, protocol, started, logged, exc)
        labels = {"model": runtime.name, "version": str(runtime.version), "role": route.role}
        metrics = state.metrics
        metrics.errors.labels(kind="model", **labels).inc()
        metrics.requests.labels(protocol=protocol, status="500", **labels).inc()
        log.error(
            "Model %s@%d raised %s on request %s",
            runtime.name,
            runtime.version,
            type(exc).__name__,
            rid,
            extra={
                "request_id": rid,
                "model": runtime.name,
                "version": runtime.version,
                "role": route.role,
            },
        )
        _log(
            state,
            route,
            logged,
            rid,
            None,
            (time.perf_counter() - started) * 1000,
            f"{type(exc).__name__}: {exc}",
        )
        raise ModelFailed(
            f"The model {runtime.name}@{runtime.version} failed on this request "
            f"({type(exc).__name__}). Request id {rid}; the server log has the details.",
            rid,
        ) from exc
    elapsed = time.perf_counter() - started
    if not _log(state, route, logged, rid, result, elapsed * 1000, None, refusable=True):
        _refuse_unlogged(state, route, protocol, rid)
    runtime.on_answered(route.role, protocol, len(frame), elapsed)
    if route.shadow is not None:  # a copy for the shadow; never blocks, never raises
        state.shadow.offer(route.shadow, frame, rid, logged)
    return result


async def _fall_back(
    state: ServerState,
    route: Route,
    frame: Frame,
    rid: str,
    protocol: str,
    started: float,
    logged: Any,
    exc: Exception,
) -> Prediction:
    """A candidate that raises: count and log its error, then let stable answer the user."""
    runtime = route.runtime
    labels = {"model": runtime.name, "version": str(runtime.version), "role": "candidate"}
    state.metrics.errors.labels(kind="model", **labels).inc()
    log.warning(
        "Candidate %s@%d raised %s on request %s; stable answers",
        runtime.name,
        runtime.version,
        type(exc).__name__,
        rid,
    )
    _log(
        state,
        route,
        logged,
        rid,
        None,
        (time.perf_counter() - started) * 1000,
        f"{type(exc).__name__}: {exc}",
    )
    stable = state.router.routes(runtime.name).stable
    names = stable.signature.feature_names
    if list(frame.columns) != names:
        if not set(names) <= set(frame.columns):
            raise ModelFailed(
                f"The candidate {runtime.name}@{runtime.version} failed and the request does "
                f"not fit the stable version. Request id {rid}.",
                rid,
            ) from exc
        from mlship.serving.decode import as_frame

        frame = as_frame(frame)[names]
    fallback = Route(stable, "stable", key=route.key)
    return await run_prediction(state, fallback, frame, rid, protocol, started, raw_inputs=logged)


def _log(
    state: ServerState,
    route: Route,
    inputs: Any,
    rid: str,
    result: Prediction | None,
    latency_ms: float,
    error: str | None,
    *,
    refusable: bool = False,
) -> bool:
    """Log the request; False when the log could not keep it (disk and memory full)."""
    plog = state.prediction_log
    if plog is None:
        return True
    return plog.record(
        PredictionRecord(
            request_id=rid,
            at=utcnow(),
            model=route.runtime.name,
            version=route.runtime.version,
            role=route.role,
            inputs=inputs,
            outputs=result.predictions if result is not None else None,
            latency_ms=latency_ms,
            error=error,
            scores=result.probabilities if result is not None else None,
            routing_key=route.key,
            model_ms=result.model_ms if result is not None else None,
            batch_wait_ms=result.batch_wait_ms if result is not None else None,
        ),
        refusable=refusable,
    )


def _refuse_unlogged(state: ServerState, route: Route, protocol: str, rid: str) -> None:
    """With ``--on-log-full refuse``, an answer the log could not keep is not given (503)."""
    if state.settings.on_log_full != "refuse":
        return
    runtime = route.runtime
    labels = {"model": runtime.name, "version": str(runtime.version), "role": route.role}
    state.metrics.requests.labels(protocol=protocol, status="503", **labels).inc()
    raise LogFull(
        f"The prediction log cannot keep request {rid}: its disk is full (--on-log-full "
        "refuse). Retry shortly or on another replica; /readyz says when it has room again."
    )
