"""The two servers ``serve_bench.py`` starts with raw uvicorn next to mlship and MLflow.

- ``floor``: a bare ASGI app, no framework, that drains the request body and answers a constant
  JSON body of about the size of mlship's answer: the HTTP floor of uvicorn on this machine.
- ``plain_app``: the FastAPI endpoint people write first: parse the JSON body, build a DataFrame,
  call ``predict_proba`` on the event loop (no thread hop: with a ~1 ms model that is the fastest
  plain version), return the JSON. The model comes from the joblib file named by ``BENCH_MODEL``.

Run as ``uvicorn --app-dir bench/serve peers:floor`` and
``uvicorn --app-dir bench/serve --factory peers:plain_app``.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI, Request  # module level: FastAPI resolves the annotations here

_CONSTANT = (
    b'{"predictions":[0],"model":"fraud","version":1,'
    b'"request_id":"00000000000000000000000000000000",'
    b'"probabilities":[[0.9170303233037064,0.08296967669629358]]}'
)
_HEADERS = [(b"content-type", b"application/json")]


async def floor(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The constant answer to every HTTP request (and the lifespan handshake)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _CONSTANT})


def plain_app() -> FastAPI:
    """The plain FastAPI endpoint: ``POST /predict`` with ``{"inputs": [{...}]}``."""
    import joblib
    import pandas as pd

    model = joblib.load(os.environ["BENCH_MODEL"])
    features = list(model.feature_names_in_)
    classes = model.classes_
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    async def predict(request: Request) -> dict[str, Any]:
        body = await request.json()
        frame = pd.DataFrame(body["inputs"], columns=features)
        proba = model.predict_proba(frame)
        return {
            "predictions": classes[proba.argmax(axis=1)].tolist(),
            "probabilities": proba.tolist(),
        }

    return app
