"""The least a Python server can do with the reference model: the bare-ASGI target's yardstick.

A hand-written HTTP/1.1 server on uvloop and httptools, no ASGI, no framework: ``POST`` any path
with ``{"inputs": [{...}]}`` is parsed with orjson, its row put in feature order, and every row
that arrived in one turn of the event loop goes to one ``predict_proba`` call on the loop itself
(no thread, no queue: with a sub-millisecond model this is the fastest arrangement here); ``GET``
answers ``{"status": "ok"}``. It does nothing else that a model server must do: no validation,
no request ids, no metrics, no prediction log, no routing, no error answers beyond a 400.
``serve_bench.py`` measures it next to the bare ASGI floor, so that the target "mlship reaches
50 % of the bare-ASGI req/s" can be read against what any Python server with this model reaches.

Usage: ``OMP_NUM_THREADS=T python handmade.py MODEL.joblib --workers N --port P`` (workers share
the port through ``SO_REUSEPORT``; set T to cores / N, as for the plain FastAPI endpoint).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import socket
from typing import Any

import httptools
import joblib
import numpy as np
import orjson
import uvloop

_OK = b'{"status":"ok"}'


class Model:
    """The reference model, called with a float array of rows in feature order."""

    def __init__(self, path: str) -> None:
        raw = joblib.load(path)
        self.features = [str(name) for name in raw.feature_names_in_]
        self.classes = raw.classes_.tolist()
        self.twin = copy.copy(raw)
        del self.twin.feature_names_in_  # an array then passes without the DataFrame checks
        self.pending: list[tuple[HttpProtocol, list[float]]] = []
        self.loop: asyncio.AbstractEventLoop | None = None

    def submit(self, protocol: HttpProtocol, row: list[float]) -> None:
        if not self.pending:
            assert self.loop is not None
            self.loop.call_soon(self.run)  # after every request this turn of the loop read
        self.pending.append((protocol, row))

    def run(self) -> None:
        batch, self.pending = self.pending, []
        proba = self.twin.predict_proba(np.array([row for _, row in batch], dtype=np.float64))
        winners = proba.argmax(axis=1).tolist()
        for (protocol, _), winner, scores in zip(batch, winners, proba.tolist(), strict=True):
            body = {
                "predictions": [self.classes[winner]],
                "probabilities": [scores],
                "model": "fraud",
                "version": 1,
            }
            protocol.answer(200, orjson.dumps(body))


class HttpProtocol(asyncio.Protocol):
    def __init__(self, model: Model) -> None:
        self.model = model
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.body: list[bytes] = []
        self.keep_alive = True

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.keep_alive = False
            self.answer(400, b'{"error":"bad request"}')

    def on_message_begin(self) -> None:
        self.body = []

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        if self.parser.get_method() != b"POST":
            self.answer(200, _OK)
            return
        try:
            row = orjson.loads(b"".join(self.body))["inputs"][0]
            values = [float(row[name]) for name in self.model.features]
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, ValueError):
            self.answer(400, b'{"error":"bad request"}')
            return
        self.model.submit(self, values)

    def answer(self, status: int, body: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        reason = b"OK" if status == 200 else b"Bad Request"
        head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
        transport.write(head % (status, reason, len(body)) + body)
        if not self.keep_alive:
            transport.close()


async def serve(model: Model, sock: socket.socket) -> None:
    model.loop = asyncio.get_running_loop()
    server = await model.loop.create_server(lambda: HttpProtocol(model), sock=sock)
    await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("-w", "--workers", type=int, default=1)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    for _ in range(args.workers - 1):
        if os.fork() == 0:
            break  # a child: serve like the parent
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(1024)
    model = Model(args.model)
    uvloop.run(serve(model, sock))


if __name__ == "__main__":
    main()
