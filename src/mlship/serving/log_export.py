"""Reading the prediction log back: feedback labels, predictions joined with labels, export.

``mlship logs fraud --since 1h --out last-hour.parquet`` is :func:`parse_since` then :func:`export`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import sqlalchemy as sa

from mlship.errors import ConfigError, InvalidInput
from mlship.options import parse_duration
from mlship.serving.prediction_record import to_json
from mlship.store import Store, as_utc, utcnow
from mlship.store.labelled import labelled_query, row_pairs
from mlship.store.schema import PREDICTION_FIELDS, feedback, predictions

__all__ = [
    "EXPORT_COLUMNS",
    "export",
    "joined",
    "known_request_ids",
    "parse_since",
    "record_feedback",
]

EXPORT_COLUMNS = PREDICTION_FIELDS
"""Columns of an export; ``inputs``, ``outputs`` and ``scores`` (a classifier's probabilities)
hold JSON text."""

_JOINED_FIXED = ("request_id", "at", "version", "role")
_CHUNK_ROWS = 10_000
_CHUNK_IDS = 1_000  # ids per IN list (SQLite caps bound parameters)
_MAX_ID = 64


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """The UTC time ``text`` names: a duration before ``now`` (``30m``, ``1h``, ``2d``, ``1w``,
    ``45s``) or an ISO 8601 time (naive times are UTC).

    >>> from datetime import UTC
    >>> parse_since("2h", now=datetime(2024, 5, 1, 12, tzinfo=UTC)).isoformat()
    '2024-05-01T10:00:00+00:00'
    >>> parse_since("2024-05-01T08:30").isoformat()
    '2024-05-01T08:30:00+00:00'
    """
    try:
        ago = parse_duration(text, "since")
    except ConfigError:
        try:
            return as_utc(datetime.fromisoformat(text.strip()))
        except ValueError:
            pass
    else:
        reference = utcnow() if now is None else as_utc(now)
        try:
            return reference - ago
        except OverflowError:
            pass
    raise InvalidInput(
        "The 'since' option must be a duration such as 30m, 1h or 2d, or an ISO 8601 time "
        f"such as 2024-05-01T08:00. Got {text!r} instead.",
        field="since",
        expected="duration (s, m, h, d, w) or ISO 8601 time",
        status=400,
    )


def record_feedback(store: Store, model: str, items: Sequence[tuple[str, Any]]) -> int:
    """Store ground-truth labels of earlier predictions of ``model``; returns how many.

    Each item is ``(request_id, label)``; the label is any JSON value (a list labels a
    multi-row request row by row). One transaction: every item is stored, or none. A request
    labelled twice keeps both rows; :func:`joined` uses the latest.
    """
    rows = []
    at = utcnow()
    for index, item in enumerate(items):
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise InvalidInput(
                f"Feedback item {index} must be a (request_id, label) pair. Got {item!r} instead.",
                row=index,
                expected="(request_id, label)",
            )
        request_id, label = item
        if not isinstance(request_id, str) or not 0 < len(request_id) <= _MAX_ID:
            raise InvalidInput(
                f"Feedback item {index} needs a 'request_id' of 1 to {_MAX_ID} characters. "
                f"Got {request_id!r} instead.",
                field="request_id",
                row=index,
                expected=f"string of 1 to {_MAX_ID} characters",
            )
        if label is None:
            raise InvalidInput(f"Feedback item {index} has no 'label'.", field="label", row=index)
        plain = orjson.loads(to_json(label))
        rows.append({"request_id": request_id, "model": model, "label": plain, "at": at})
    if rows:
        with store.write() as conn:
            conn.execute(sa.insert(feedback), rows)
    return len(rows)


def known_request_ids(store: Store, model: str, ids: Iterable[str]) -> set[str]:
    """Those of ``ids`` that the prediction log holds for ``model`` (any role)."""
    wanted = sorted(set(ids))
    found: set[str] = set()
    with store.read() as conn:
        for start in range(0, len(wanted), _CHUNK_IDS):
            chunk = wanted[start : start + _CHUNK_IDS]
            found.update(
                conn.execute(
                    sa.select(predictions.c.request_id)
                    .where(predictions.c.model == model, predictions.c.request_id.in_(chunk))
                    .distinct()
                ).scalars()
            )
    return found


def joined(store: Store, model: str, since: datetime | None = None) -> pd.DataFrame:
    """Predictions of ``model`` that have a label, one line per input row.

    Columns: ``request_id, at, version, role``, one column per input feature (sorted by name,
    prefixed ``inputs.`` where a name clashes), ``prediction`` and ``label``. Failed
    predictions are left out; a label list as long as the request's rows is matched row by
    row, any other label applies to every row; a request labelled twice takes the latest label.
    """
    latest: dict[int, Any] = {}
    with store.read() as conn:
        for row in conn.execute(labelled_query(model, since)):
            latest[row.id] = row  # ordered by feedback id: the last one wins
    fixed: list[dict[str, Any]] = []
    features: list[dict[str, Any]] = []
    for row in latest.values():
        for values, predicted, label in row_pairs(row.inputs, row.outputs, row.label):
            fixed.append(
                {
                    "request_id": row.request_id,
                    "at": as_utc(row.at),
                    "version": row.version,
                    "role": row.role,
                    "prediction": predicted,
                    "label": label,
                }
            )
            features.append(values if isinstance(values, dict) else {"input": values})
    head = pd.DataFrame(fixed, columns=[*_JOINED_FIXED, "prediction", "label"])
    head["at"] = pd.to_datetime(head["at"], utc=True)
    body = pd.DataFrame(features, index=head.index) if features else pd.DataFrame(index=head.index)
    body = body[sorted(body.columns, key=str)]  # PostgreSQL's JSONB does not keep key order
    taken = {*_JOINED_FIXED, "prediction", "label"}
    body.columns = [f"inputs.{c}" if c in taken else str(c) for c in body.columns]
    frame = pd.concat([head[list(_JOINED_FIXED)], body, head[["prediction", "label"]]], axis=1)
    return frame


def export(store: Store, model: str, since: datetime | None, path: Path) -> int:
    """Write the prediction log of ``model`` (from ``since``) to ``path``; returns the row count.

    CSV for ``.csv``, Parquet for ``.parquet``/``.pq``; read in chunks, so the log may be larger
    than memory. Columns are :data:`EXPORT_COLUMNS`; ``at`` is UTC.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise InvalidInput(
            f"The export file must end in .csv, .parquet or .pq. Got {path.name!r} instead.",
            field="out",
            expected=".csv, .parquet or .pq",
            status=400,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    chunks = _chunks(store, model, since)
    if suffix == ".csv":
        return _write_csv(chunks, path)
    return _write_parquet(chunks, path)


def _chunks(store: Store, model: str, since: datetime | None) -> Iterator[pd.DataFrame]:
    p = predictions.c
    query = (
        sa.select(
            p.request_id,
            p.at,
            p.model,
            p.version,
            p.role,
            sa.cast(p.inputs, sa.Text).label("inputs"),
            sa.cast(p.outputs, sa.Text).label("outputs"),
            p.latency_ms,
            p.error,
            sa.cast(p.scores, sa.Text).label("scores"),
            p.routing_key,
            p.model_ms,
            p.batch_wait_ms,
        )
        .where(p.model == model)
        .order_by(p.at, p.id)
    )
    if since is not None:
        query = query.where(p.at >= as_utc(since))
    with store.read() as conn:
        result = conn.execution_options(yield_per=_CHUNK_ROWS).execute(query)
        for part in result.partitions():
            frame = pd.DataFrame([tuple(r) for r in part], columns=list(EXPORT_COLUMNS))
            yield _typed(frame)
    yield _typed(pd.DataFrame(columns=list(EXPORT_COLUMNS)))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    frame["at"] = pd.to_datetime(frame["at"].map(_utc), utc=True)
    frame["version"] = frame["version"].astype("int64")
    for column in ("latency_ms", "model_ms", "batch_wait_ms"):
        frame[column] = frame[column].astype("float64")
    columns = ("request_id", "model", "role", "inputs", "outputs", "error", "scores", "routing_key")
    for column in columns:
        frame[column] = frame[column].astype("string")
    return frame


def _utc(value: Any) -> Any:
    return as_utc(value) if isinstance(value, datetime) else value


def _write_csv(chunks: Iterator[pd.DataFrame], path: Path) -> int:
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as file:
        for index, frame in enumerate(chunks):
            if index and frame.empty:
                continue
            frame.to_csv(file, index=False, header=index == 0)
            count += len(frame)
    return count


def _write_parquet(chunks: Iterator[pd.DataFrame], path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    count = 0
    writer = None
    try:
        for frame in chunks:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            elif frame.empty:
                continue
            writer.write_table(table.cast(writer.schema))
            count += len(frame)
    finally:
        if writer is not None:
            writer.close()
    return count
