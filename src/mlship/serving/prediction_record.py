"""One logged prediction, and its two serialized forms: a store row and a spill line.

On the request path a record becomes its spill line with one ``orjson.dumps``
(:func:`encode`); the prediction log's writer process turns lines into store rows (:func:`decode`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_LINE = _OPTIONS | orjson.OPT_APPEND_NEWLINE
_FIELDS = (
    "request_id", "at", "model", "version", "role",
    "inputs", "outputs", "latency_ms", "error", "scores",
)  # fmt: skip
_NUL = b"\\u0000"
_LIMITS = {"request_id": 64, "model": 200, "role": 20}

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


def encode(rec: PredictionRecord) -> bytes:
    """The spill line of ``rec``: one JSON array, newline-terminated.

    This runs on the request path, so it is one ``orjson.dumps`` and nothing else: the store row
    is built from the line later, by :func:`decode` in the log's writer process.
    """
    fields = (
        rec.request_id,
        rec.at,
        rec.model,
        rec.version,
        rec.role,
        rec.inputs,
        rec.outputs,
        rec.latency_ms,
        rec.error,
        rec.scores,
    )
    return orjson.dumps(fields, default=_default, option=_LINE)


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
    data = orjson.loads(line)
    if _NUL in line:
        data = _without_nul(data)
    if isinstance(data, dict):  # the form of lines written before 0.4: an object
        fields = [data[name] for name in _FIELDS[:-1]] + [data.get("scores")]
    elif isinstance(data, list) and len(data) == len(_FIELDS):
        fields = data
    else:
        raise ValueError("not a prediction record")
    rid, at, model, version, role, inputs, outputs, latency_ms, error, scores = fields
    return {
        "request_id": _fit("request_id", rid),
        "at": _utc(datetime.fromisoformat(at)),
        "model": _fit("model", model),
        "version": int(version),
        "role": _fit("role", role),
        "inputs": orjson.dumps(inputs).decode(),
        "outputs": None if outputs is None else orjson.dumps(outputs).decode(),
        "latency_ms": float(latency_ms),
        "error": None if error is None else str(error),
        "scores": None if scores is None else orjson.dumps(scores).decode(),
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
