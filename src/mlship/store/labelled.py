"""Predictions joined to the feedback labels that arrived for them: one rule for every reader
(``mlship logs``' joined export, the live metric of monitoring).

A request's labels are matched by request id and model; failed predictions are left out; a
prediction labelled twice takes the latest label (highest feedback id); a label list as long as
the request's rows is matched row by row, any other label applies to every row.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from mlship.store import as_utc
from mlship.store.schema import feedback, predictions


def labelled_query(model: str, since: datetime | None = None) -> sa.Select[Any]:
    """Labelled predictions of ``model``: ``id, request_id, at, version, role, inputs, outputs,
    label``, ordered by time, prediction and feedback id (a prediction's last row wins)."""
    p, f = predictions.c, feedback.c
    query = (
        sa.select(p.id, p.request_id, p.at, p.version, p.role, p.inputs, p.outputs, f.label)
        .join_from(predictions, feedback, (f.request_id == p.request_id) & (f.model == p.model))
        .where(p.model == model, p.error.is_(None))
        .order_by(p.at, p.id, f.id)
    )
    return query if since is None else query.where(p.at >= as_utc(since))


def row_pairs(inputs: Any, outputs: Any, label: Any) -> Iterator[tuple[Any, Any, Any]]:
    """``(input row, prediction, label)`` for each row of one labelled request."""
    rows = inputs if isinstance(inputs, list) else [inputs]
    count = len(rows)
    if not isinstance(outputs, list):
        outputs = [outputs] * count
    labels = label if isinstance(label, list) and len(label) == count else [label] * count
    for position, values in enumerate(rows):
        predicted = outputs[position] if position < len(outputs) else None
        yield values, predicted, labels[position]
