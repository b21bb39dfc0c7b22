"""Open Inference Protocol v2 REST (KServe, Triton, MLServer): health, metadata and inference.

Inputs: the first one the metadata lists is ``input-0``, all the features in one ``[-1, F]`` tensor
in signature order (their names in its ``parameters.feature_names``), as KServe's scikit-learn
server, MLServer and Triton's FIL backend give a tabular model: a client that reads the metadata
sends its ``[N, F]`` rows there. One ``[-1]`` input per feature, named after it, follows; a request
sends either the one tensor or all of those.

Outputs: ``predict`` (labels or values, shape ``[N]``) and, for classifiers, ``predict_proba``
(``[N, classes]``, FP64). A request's ``outputs`` list selects exactly those. Errors are
``{"error": "..."}`` as the protocol says.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response

from mlship import __version__
from mlship.errors import InvalidInput
from mlship.registry.model_version import Signature
from mlship.serving.http import json_response, read_json, request_id, state_of
from mlship.serving.predict import run_prediction
from mlship.serving.runtime import VersionRuntime

router = APIRouter(prefix="/v2", tags=["open-inference-protocol-v2"])

_DATATYPE = {
    "float": "FP64",
    "int": "INT64",
    "bool": "BOOL",
    "string": "BYTES",
    "category": "BYTES",
    "datetime": "BYTES",
}

INFER_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["inputs"],
                "properties": {
                    "id": {"type": "string"},
                    "parameters": {"type": "object"},
                    "inputs": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name", "shape", "datatype", "data"],
                            "properties": {
                                "name": {"type": "string"},
                                "shape": {"type": "array", "items": {"type": "integer"}},
                                "datatype": {"type": "string"},
                                "data": {},
                                "parameters": {"type": "object"},
                            },
                        },
                    },
                    "outputs": {
                        "type": "array",
                        "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                    },
                },
            }
        }
    },
}


@router.get("", summary="Server metadata")
async def server_metadata() -> Response:
    return json_response({"name": "mlship", "version": __version__, "extensions": []})


@router.get("/health/live")
async def live() -> Response:
    return json_response({"live": True})


@router.get("/health/ready")
async def ready(request: Request) -> Response:
    ok = state_of(request).ready
    return json_response({"ready": ok}, status_code=200 if ok else 503)


def _runtime(request: Request, name: str, version: str | None) -> VersionRuntime:
    state = state_of(request)
    if version is None:
        return state.router.routes(name).stable
    if not (version.isascii() and version.isdigit()) or len(version) > 9:
        raise InvalidInput(
            f"Model versions are integers; got {version!r}.", field="version", status=400
        )
    return state.router.runtime(name, int(version))


def _metadata(runtime: VersionRuntime) -> dict[str, Any]:
    sig = runtime.signature
    outputs: list[dict[str, Any]] = [
        {"name": "predict", "datatype": _output_type(runtime), "shape": [-1]}
    ]
    if runtime.has_proba:
        classes = len(sig.classes or ())
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, classes]})
    return {
        "name": runtime.name,
        "versions": [str(runtime.version)],
        "platform": f"mlship-{runtime.loaded.version.format}",
        "inputs": [
            {
                "name": runtime.decoder.v2_matrix_input,
                "datatype": _matrix_type(sig),
                "shape": [-1, len(sig.features)],
                "parameters": {"feature_names": sig.feature_names},
            },
            *(
                {"name": f.name, "datatype": _DATATYPE.get(f.dtype, "BYTES"), "shape": [-1]}
                for f in sig.features
            ),
        ],
        "outputs": outputs,
    }


def _matrix_type(sig: Signature) -> str:
    """The datatype of the ``[N, F]`` input: one that every feature's values fit.

    All floats: FP64. All ints: INT64. Floats and ints: FP64, the widest common type (an int
    feature takes integral numbers such as 3.0; one beyond 2**53 is sent exactly only in its own
    INT64 tensor). All bools: BOOL. Anything else (strings, categories, date-times, or bools mixed
    with numbers) has no common numeric type: BYTES, every element as text (what tritonclient sends
    for an object array), which number and bool features parse as CSV cells are parsed.
    """
    dtypes = {f.dtype for f in sig.features}
    if dtypes == {"int"}:
        return "INT64"
    if dtypes <= {"float", "int"}:
        return "FP64"
    if dtypes == {"bool"}:
        return "BOOL"
    return "BYTES"


def _output_type(runtime: VersionRuntime) -> str:
    sig = runtime.signature
    if sig.output_kind == "regression":
        return "FP64"
    classes = sig.classes or ()
    if classes and all(isinstance(c, bool) for c in classes):
        return "BOOL"
    if classes and all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return "INT64"
    if classes and all(isinstance(c, float) for c in classes):
        return "FP64"
    return "BYTES"


@router.get("/models/{name}")
async def model_metadata(name: str, request: Request) -> Response:
    return json_response(_metadata(_runtime(request, name, None)))


@router.get("/models/{name}/versions/{version}")
async def version_metadata(name: str, version: str, request: Request) -> Response:
    return json_response(_metadata(_runtime(request, name, version)))


@router.get("/models/{name}/ready")
async def model_ready(name: str, request: Request) -> Response:
    runtime = _runtime(request, name, None)
    return json_response({"name": runtime.name, "ready": True})


@router.get("/models/{name}/versions/{version}/ready")
async def version_ready(name: str, version: str, request: Request) -> Response:
    runtime = _runtime(request, name, version)
    return json_response({"name": runtime.name, "ready": True})


@router.post("/models/{name}/infer", openapi_extra={"requestBody": INFER_BODY})
async def infer(name: str, request: Request) -> Response:
    return await _infer(request, name, None)


@router.post("/models/{name}/versions/{version}/infer", openapi_extra={"requestBody": INFER_BODY})
async def infer_version(name: str, version: str, request: Request) -> Response:
    return await _infer(request, name, version)


async def _infer(request: Request, name: str, version: str | None) -> Response:
    state = state_of(request)
    started = time.perf_counter()
    rid = request_id(request)
    if request.headers.get("inference-header-content-length") is not None:
        raise InvalidInput(
            "Binary tensor data (the v2 binary extension) is not supported; send the tensors "
            "as JSON (tritonclient: set_data_from_numpy(..., binary_data=False)).",
            status=400,
        )
    body = await read_json(request, state.settings.max_body_bytes)
    if version is None:
        route = state.router.route(name, request.headers.get("x-routing-key"), request_id=rid)
    else:
        from mlship.serving.router import Route

        # A request for one version by number is neither arm of a rollout: logged as
        # "pinned", never judged as stable's or the candidate's traffic.
        route = Route(_runtime(request, name, version), "pinned")
    runtime = route.runtime
    frame, meta = runtime.decoder.v2(body)
    wanted = list(meta.get("outputs") or [])
    available = ["predict"] + (["predict_proba"] if runtime.has_proba else [])
    unknown = [o for o in wanted if o not in available]
    if unknown:
        raise InvalidInput(
            f"Unknown output(s) {', '.join(unknown)}; this model has {', '.join(available)}.",
            field="outputs",
            status=400,
        )
    result = await run_prediction(state, route, frame, rid, "v2", started)
    outputs = []
    for out in wanted or available:
        if out == "predict":
            outputs.append(
                {
                    "name": "predict",
                    "datatype": _output_type(runtime),
                    "shape": [len(result.predictions)],
                    "data": result.predictions,
                }
            )
        else:
            proba = np.asarray(result.probabilities, dtype=np.float64)
            outputs.append(
                {
                    "name": "predict_proba",
                    "datatype": "FP64",
                    "shape": list(proba.shape),
                    "data": proba.ravel().tolist(),
                }
            )
    content: dict[str, Any] = {
        "model_name": runtime.name,
        "model_version": str(result.version),
        "outputs": outputs,
    }
    if meta.get("id") is not None:
        content["id"] = meta["id"]
    response = json_response(content)
    response.headers["x-request-id"] = rid
    return response
