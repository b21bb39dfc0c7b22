"""One logged prediction, and its two serialized forms: a store row and a spill line.

On the request path a record becomes its spill line (:func:`encode`: a few ``orjson.dumps``);
the prediction log's writer process turns lines into store rows (:func:`decode`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_LINE = _OPTIONS | orjson.OPT_APPEND_NEWLINE
_NUL = b"\\u0000"
_LIMITS = {"request_id": 64, "model": 200, "role": 20, "routing_key": 200}

Row = dict[str, Any]
"""Parameters of one INSERT into ``predictions``; inputs and outputs as JSON text."""


@dataclass(slots=True)
class PredictionRecord:
    """What the server answered to one request (or how it failed).

    ``inputs`` is what the model saw: a pandas DataFrame, a list of row dicts or any JSON-able
    value. ``outputs`` has one entry per input row (None on error).
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
    routing_key: str | None = None
    """The key the request was routed by (None: it had none)."""
    model_ms: float | None = None
    """The model call's own time (with micro-batching, the merged batch's call)."""
    batch_wait_ms: float | None = None
    """The rest of the model path: the wait for a batch and the thread hand-offs."""


def encode(rec: PredictionRecord) -> bytes:
    """The spill line of ``rec``: four JSON texts separated by tabs, newline-terminated.

    The scalar fields first (the head: ids, latency, error, routing key, model time), then
    ``inputs``, ``outputs`` and ``scores``, each as the JSON text the store keeps, so that
    :func:`decode` (in the log's writer process) parses only the first and copies the others.
    A tab cannot occur inside orjson's output (control characters in strings are escaped).
    This runs on the request path: four ``orjson.dumps`` and a join.
    """
    dumps = orjson.dumps
    head = (
        rec.request_id,
        rec.at,
        rec.model,
        rec.version,
        rec.role,
        rec.latency_ms,
        rec.error,
        rec.routing_key,
        rec.model_ms,
        rec.batch_wait_ms,
    )
    return b"\t".join(
        (
            dumps(head, default=_default, option=_OPTIONS),
            dumps(rec.inputs, default=_default, option=_OPTIONS),
            dumps(rec.outputs, default=_default, option=_OPTIONS),
            dumps(rec.scores, default=_default, option=_LINE),
        )
    )


def decode(line: bytes) -> Row:
    """The store row of a spill line (raises ValueError for a line that is not one).

    NUL characters become U+FFFD (PostgreSQL refuses them in JSONB) and over-long names are
    clipped, so that the store never refuses a row for either.

    >>> from datetime import UTC, datetime
    >>> rec = PredictionRecord("r-1", datetime(2024, 5, 1, tzinfo=UTC), "fraud", 4, "stable",
    ...                        [{"amount": 12.5}], [0], 1.8)
    >>> decode(encode(rec))["inputs"]
    '[{"amount":12.5}]'
    """
    parts = line.rstrip(b"\n").split(b"\t")
    if len(parts) == 1:  # the form of lines written before 0.4: one JSON object
        return _decode_object(line)
    if len(parts) != 4:
        raise ValueError("not a prediction record")
    if _NUL in line:
        parts = [orjson.dumps(_without_nul(orjson.loads(part))) for part in parts]
    head, inputs, outputs, scores = parts
    fields = orjson.loads(head)
    # Lines written before revision 0005 have 7 fields: no routing key or model time.
    rid, at, model, version, role, latency_ms, error = fields[:7]
    key, model_ms, wait_ms = fields[7:10] if len(fields) >= 10 else (None, None, None)
    return {
        "request_id": _fit("request_id", rid),
        "at": _utc(datetime.fromisoformat(at)),
        "model": _fit("model", model),
        "version": int(version),
        "role": _fit("role", role),
        "inputs": inputs.decode(),
        "outputs": None if outputs == b"null" else outputs.decode(),
        "latency_ms": float(latency_ms),
        "error": None if error is None else str(error),
        "scores": None if scores == b"null" else scores.decode(),
        "routing_key": None if key is None else _fit("routing_key", key),
        "model_ms": None if model_ms is None else float(model_ms),
        "batch_wait_ms": None if wait_ms is None else float(wait_ms),
    }


def _decode_object(line: bytes) -> Row:
    data = orjson.loads(line)
    if not isinstance(data, dict):
        raise ValueError("not a prediction record")
    if _NUL in line:
        data = _without_nul(data)
    outputs, scores = data["outputs"], data.get("scores")  # no scores before revision 0004
    return {
        "request_id": _fit("request_id", data["request_id"]),
        "at": _utc(datetime.fromisoformat(data["at"])),
        "model": _fit("model", data["model"]),
        "version": int(data["version"]),
        "role": _fit("role", data["role"]),
        "inputs": orjson.dumps(data["inputs"]).decode(),
        "outputs": None if outputs is None else orjson.dumps(outputs).decode(),
        "latency_ms": float(data["latency_ms"]),
        "error": data["error"],
        "scores": None if scores is None else orjson.dumps(scores).decode(),
        "routing_key": None,
        "model_ms": None,
        "batch_wait_ms": None,
    }


def _utc(at: datetime) -> datetime:
    if at.tzinfo is UTC:
        return at
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def to_json(value: Any) -> bytes:
    """JSON of ``value``: a DataFrame as a list of row dicts, numpy natively, others by str().

    NUL characters become U+FFFD, because PostgreSQL refuses them in JSONB.
    """
    data = orjson.dumps(value, default=_default, option=_OPTIONS)
    if _NUL in data:
        data = orjson.dumps(_without_nul(orjson.loads(data)))
    return data


def _default(value: Any) -> Any:
    columns = getattr(value, "columns", None)
    if columns is not None and hasattr(value, "to_numpy"):
        return _records(value, columns)
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    for method in ("isoformat", "tolist"):
        convert = getattr(value, method, None)
        if callable(convert):
            return convert()
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    return str(value)


def _records(frame: Any, columns: Any) -> list[dict[str, Any]]:
    """A DataFrame as a list of row dicts."""
    names = [str(c) for c in columns]
    # to_numpy(object).tolist() is several times faster than to_dict("records").
    return [dict(zip(names, row, strict=True)) for row in frame.to_numpy(dtype=object).tolist()]


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
    # forever (which would stall the log behind it). NULs are gone already (_without_nul).
    limit = _LIMITS[name]
    if type(value) is str and len(value) <= limit:
        return value
    text = str(value)
    return text if len(text) <= limit else text[:limit]
