"""The current window of a drift report, read from the prediction log.

A window is the inputs (and outputs) the server logged for one model over a time span, one row
per input row: each request's ``inputs`` is a JSON list of row dicts and its ``outputs`` a list
with one entry per row (``mlship.serving.prediction_log`` writes them). Failed requests are left
out (their inputs may be what failed). Without a version, the window holds what users were
answered with (roles ``stable``, ``candidate`` and ``pinned``, a request for one version by
number; shadow copies would count requests twice);
with a version, every request that version answered, shadow copies included.

At most ``max_requests`` requests are read, the most recent ones; ``truncated`` says when there
were more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import sqlalchemy as sa

from mlship.errors import ConfigError
from mlship.store import Store, as_utc
from mlship.store.schema import predictions

if TYPE_CHECKING:
    import pandas as pd

    from mlship.monitoring.statistics import FloatArray

MAX_REQUESTS = 100_000
"""Requests read by default (the most recent of the window)."""
_SERVED_ROLES = ("stable", "candidate", "pinned")


@dataclass(frozen=True, slots=True)
class PredictionWindow:
    """The logged inputs and outputs of one model over ``[since, until)``.

    ``frame`` has one column per input feature and, when the outputs are single values, the
    column ``prediction`` holding them; ``times`` (seconds since the epoch, UTC) is the request
    time of each row.
    """

    model: str
    since: datetime
    until: datetime
    frame: pd.DataFrame
    times: FloatArray
    requests: int
    versions: tuple[int, ...]
    prediction: str | None
    truncated: bool

    @property
    def rows(self) -> int:
        """Input rows in the window."""
        return len(self.frame)

    @property
    def features(self) -> list[str]:
        """The input feature columns (the prediction column left out)."""
        return [str(c) for c in self.frame.columns if c != self.prediction]

    def to_dict(self) -> dict[str, Any]:
        """The window's description, as JSON values."""
        return {
            "model": self.model,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "requests": self.requests,
            "rows": self.rows,
            "versions": list(self.versions),
            "truncated": self.truncated,
        }


def read_window(
    store: Store,
    model: str,
    since: datetime,
    until: datetime,
    *,
    version: int | None = None,
    prediction: str = "prediction",
    max_requests: int = MAX_REQUESTS,
) -> PredictionWindow:
    """The prediction log of ``model`` from ``since`` (included) to ``until`` (excluded).

    Parameters
    ----------
    store:
        The store holding the ``predictions`` table.
    model:
        The model's name.
    since, until:
        The window (naive times are UTC).
    version:
        Only this version's predictions (every role); ``None``: what users were answered with.
    prediction:
        Name of the column of the model's outputs in ``frame``.
    max_requests:
        Most requests read, the most recent ones.
    """
    import pandas as pd

    if not isinstance(max_requests, int) or max_requests < 1:
        raise ConfigError(
            f"The 'max_requests' option must be a whole number >= 1. Got {max_requests!r} instead."
        )
    since, until = as_utc(since), as_utc(until)
    t = predictions.c
    query = sa.select(
        t.at,
        t.version,
        sa.cast(t.inputs, sa.Text).label("inputs"),
        sa.cast(t.outputs, sa.Text).label("outputs"),
    ).where(t.model == model, t.at >= since, t.at < until, t.error.is_(None))
    if version is None:
        query = query.where(t.role.in_(_SERVED_ROLES))
    else:
        query = query.where(t.version == version)
    query = query.order_by(t.at.desc(), t.id.desc()).limit(max_requests + 1)
    with store.read() as conn:
        newest = conn.execute(query).all()
    truncated = len(newest) > max_requests
    found = list(reversed(newest[:max_requests]))
    # One parse of all the JSON texts at once: per-call overhead dominates small requests.
    all_inputs = orjson.loads("[" + ",".join(r[2] for r in found) + "]")
    all_outputs = orjson.loads("[" + ",".join(r[3] or "null" for r in found) + "]")
    records: list[dict[str, Any]] = []
    outputs: list[Any] = []
    times: list[float] = []
    for (at, _, _, _), inputs, answers in zip(found, all_inputs, all_outputs, strict=True):
        rows = _rows(inputs)
        if not isinstance(answers, list) or len(answers) != len(rows):
            answers = [None] * len(rows)
        records.extend(rows)
        outputs.extend(answers)
        times.extend([as_utc(at).timestamp()] * len(rows))
    versions = {int(r[1]) for r in found}
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    frame.columns = [str(c) for c in frame.columns]
    if prediction in frame.columns:
        raise ConfigError(
            f"The model {model!r} has an input feature named {prediction!r}, the name of the "
            "outputs column. Pass another name with --prediction."
        )
    kept: str | None = None
    if outputs and _single_values(outputs):
        frame[prediction] = pd.Series(outputs, index=frame.index)
        kept = prediction
    return PredictionWindow(
        model=model,
        since=since,
        until=until,
        frame=frame,
        times=np.asarray(times, dtype=np.float64),
        requests=len(found),
        versions=tuple(sorted(versions)),
        prediction=kept,
        truncated=truncated,
    )


def _rows(inputs: Any) -> list[dict[str, Any]]:
    """One request's input rows as dicts (a lone row, or a value that is not a dict, wrapped)."""
    items = inputs if isinstance(inputs, list) else [inputs]
    return [item if isinstance(item, dict) else {"input": item} for item in items]


def _single_values(outputs: Sequence[Any]) -> bool:
    """True when every output is a number, text, a boolean or missing (not a list or a dict)."""
    return all(not isinstance(value, list | dict) for value in outputs) and any(
        value is not None for value in outputs
    )
