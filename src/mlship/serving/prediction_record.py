"""One logged prediction, and its two serialized forms: a store row and a spill line.

Serializing happens in the prediction log's writer thread, never on the request path: the record
holds references to what the request handler already had (a DataFrame, a list of outputs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_NUL = b"\\u0000"
_LIMITS = {"request_id": 64, "model": 200, "role": 20}

Row = dict[str, Any]
"""Parameters of one INSERT into ``predictions``; inputs and outputs as JSON text."""


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """What the server answered to one request (or how it failed).

    ``inputs`` is what the model saw: a pandas DataFrame, a list of row dicts or any JSON-able
    value; it is serialized later, in the log's writer thread, so the caller must not change it
    after :meth:`PredictionLog.record`. ``outputs`` has one entry per input row (None on error).

    >>> from datetime import UTC, datetime
    >>> rec = PredictionRecord("r-1", datetime(2024, 5, 1, tzinfo=UTC), "fraud", 4, "stable",
    ...                        [{"amount": 12.5}], [0], 1.8)
    >>> encode(rec)[0]["inputs"]
    '[{"amount":12.5}]'
    """

    request_id: str
    at: datetime
    """When the request arrived, timezone-aware (naive values are taken as UTC)."""
    model: str
    version: int
    role: str
    """``stable``, ``candidate`` or ``shadow``."""
    inputs: Any
    outputs: Any
    latency_ms: float
    error: str | None = None
    scores: Any = None
    """A classifier's probabilities, one row per input row (None for other models)."""


def encode(rec: PredictionRecord) -> tuple[Row, bytes]:
    """The store row of ``rec`` and its spill line (one JSON object, newline-terminated)."""
    inputs = to_json(rec.inputs)
    outputs = None if rec.outputs is None else to_json(rec.outputs)
    scores = None if rec.scores is None else to_json(rec.scores)
    at = rec.at
    if at.tzinfo is not UTC:
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    error = None if rec.error is None else str(rec.error).replace("\x00", "\ufffd")
    row: Row = {
        "request_id": _fit("request_id", rec.request_id),
        "at": at,
        "model": _fit("model", rec.model),
        "version": int(rec.version),
        "role": _fit("role", rec.role),
        "inputs": inputs.decode(),
        "outputs": None if outputs is None else outputs.decode(),
        "latency_ms": float(rec.latency_ms),
        "error": error,
        "scores": None if scores is None else scores.decode(),
    }
    line = {
        **row,
        "inputs": orjson.Fragment(inputs),
        "outputs": None if outputs is None else orjson.Fragment(outputs),
        "scores": None if scores is None else orjson.Fragment(scores),
    }
    return row, orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE)


def decode(line: bytes) -> Row:
    """The store row of a spill line (raises ValueError for a line that is not one)."""
    data = orjson.loads(line)
    outputs = data["outputs"]
    scores = data.get("scores")  # absent in lines written before revision 0004
    return {
        "request_id": data["request_id"],
        "at": datetime.fromisoformat(data["at"]),
        "model": data["model"],
        "version": data["version"],
        "role": data["role"],
        "inputs": orjson.dumps(data["inputs"]).decode(),
        "outputs": None if outputs is None else orjson.dumps(outputs).decode(),
        "latency_ms": data["latency_ms"],
        "error": data["error"],
        "scores": None if scores is None else orjson.dumps(scores).decode(),
    }


def to_json(value: Any) -> bytes:
    """JSON of ``value``: a DataFrame as a list of row dicts, numpy natively, others by str().

    NUL characters become U+FFFD, because PostgreSQL refuses them in JSONB.
    """
    columns = getattr(value, "columns", None)
    if columns is not None and hasattr(value, "to_numpy"):
        names = [str(c) for c in columns]
        # to_numpy(object).tolist() is several times faster than to_dict("records").
        value = [
            dict(zip(names, row, strict=True)) for row in value.to_numpy(dtype=object).tolist()
        ]
    data = orjson.dumps(value, default=_default, option=_OPTIONS)
    if _NUL in data:
        data = orjson.dumps(_without_nul(orjson.loads(data)))
    return data


def _default(value: Any) -> Any:
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    for method in ("isoformat", "tolist"):
        convert = getattr(value, method, None)
        if callable(convert):
            return convert()
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    return str(value)


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    return value


def _fit(name: str, value: Any) -> str:
    # The server validates these; clipping is the last defence against a row the store refuses
    # forever (which would stall the log behind it).
    text = str(value).replace("\x00", "\ufffd")
    limit = _LIMITS[name]
    return text if len(text) <= limit else text[:limit]
