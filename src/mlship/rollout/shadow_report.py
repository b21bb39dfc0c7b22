"""The shadow report: the shadow version against stable, on the same requests.

Each shadow prediction in the log carries the request id of stable's answer to the same request;
the report pairs them and compares, row by row:

- **agreement**: the share of rows where both give the same output (classes; numbers within a
  relative 1e-6), and for classifiers the most frequent (stable, shadow) pairs of classes;
- **score differences** (shadow - stable): for numeric outputs the outputs; for classifiers whose
  probabilities were logged, the probability of the positive class (binary) or of the class
  stable predicted (multi-class); mean, quantiles and a histogram;
- **slices**: disagreement per value of each categorical input feature and per quantile bin of
  each numeric one (inputs are those stable logged);
- **latency** p50/p95/p99 of each role on the paired requests both answered (the shadow's is its
  model call, queue wait excluded), and the **error rate** of each role on all its requests.

:func:`compare` is pure (no I/O, no clock); :func:`shadow_report` reads the window of the current
or last shadow rollout from the prediction log and calls it.

>>> from datetime import UTC, datetime
>>> t = datetime(2024, 5, 1, tzinfo=UTC)
>>> stable = [LoggedPrediction("r1", "stable", [{"x": 1}], [0], 2.0),
...           LoggedPrediction("r2", "stable", [{"x": 2}], [1], 4.0)]
>>> shadow = [LoggedPrediction("r1", "shadow", None, [0], 3.0),
...           LoggedPrediction("r2", "shadow", None, [0], 5.0)]
>>> report = compare(stable, shadow, model="fraud", stable_version=1, shadow_version=2,
...                  output_kind="classification", since=t, until=t)
>>> report.agreement, report.paired_requests, report.shadow.latency_ms["p50"]
(0.5, 2, 4.0)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from mlship.errors import NotFound
from mlship.rollout.deployments import DeploymentStore
from mlship.rollout.shadow_slices import FeatureSlices, finite_number, slice_disagreement
from mlship.store import as_utc, utcnow
from mlship.store.schema import predictions

if TYPE_CHECKING:
    from mlship.registry import Registry

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
_TOP_PAIRS = 25
_HISTOGRAM_BINS = 30
_ENDING_EVENTS = ("rolled_back", "aborted", "promoted", "canary_started", "deployed")


@dataclass(frozen=True, slots=True)
class LoggedPrediction:
    """One row of the prediction log: what one role answered to one request."""

    request_id: str
    role: str
    inputs: Any
    """The request's rows (a list of feature dicts), or None when not needed."""
    outputs: list[Any] | None
    latency_ms: float
    error: str | None = None
    scores: list[Any] | None = None
    """A classifier's probability rows, when they were logged."""


@dataclass(frozen=True, slots=True)
class RoleSummary:
    """Requests, errors and latency of one role (stable or shadow) in the window."""

    role: str
    version: int
    requests: int
    errors: int
    latency_ms: dict[str, float] | None
    """p50, p95, p99 and mean over the paired requests both answered (None: no such request)."""

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "version": self.version,
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "latency_ms": self.latency_ms,
        }


@dataclass(frozen=True, slots=True)
class ScoreDifferences:
    """Shadow minus stable over the rows whose outputs are both numbers."""

    count: int
    mean: float
    mean_abs: float
    std: float
    quantiles: dict[str, float]
    """``min``, ``p1`` ... ``p99``, ``max``."""
    edges: tuple[float, ...]
    counts: tuple[int, ...]
    """A histogram: ``counts[i]`` rows with a difference in ``[edges[i], edges[i + 1])``."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "mean": self.mean,
            "mean_abs": self.mean_abs,
            "std": self.std,
            "quantiles": self.quantiles,
            "histogram": {"edges": list(self.edges), "counts": list(self.counts)},
        }


@dataclass(frozen=True, slots=True)
class ShadowReport:
    """The shadow against stable on the same requests (see the module docstring)."""

    model: str
    stable_version: int
    shadow_version: int
    output_kind: str
    since: datetime
    until: datetime
    stable: RoleSummary
    shadow: RoleSummary
    paired_requests: int
    rows_compared: int
    agreement: float | None
    class_pairs: tuple[tuple[Any, Any, int], ...]
    """Classifiers: ``(stable class, shadow class, rows)``, most frequent first."""
    score_differences: ScoreDifferences | None
    slices: tuple[FeatureSlices, ...]
    """Most uneven feature first."""
    mirror_percent: float | None = None
    truncated: bool = False
    """The window held more shadow predictions than were read (the most recent were)."""

    def to_dict(self) -> dict[str, Any]:
        diffs = self.score_differences
        return {
            "model": self.model,
            "stable_version": self.stable_version,
            "shadow_version": self.shadow_version,
            "output_kind": self.output_kind,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "mirror_percent": self.mirror_percent,
            "truncated": self.truncated,
            "paired_requests": self.paired_requests,
            "rows_compared": self.rows_compared,
            "agreement": self.agreement,
            "class_pairs": [{"stable": a, "shadow": b, "rows": n} for a, b, n in self.class_pairs],
            "score_differences": diffs.to_dict() if diffs is not None else None,
            "roles": {"stable": self.stable.to_dict(), "shadow": self.shadow.to_dict()},
            "slices": [f.to_dict() for f in self.slices],
        }


def compare(
    stable: Sequence[LoggedPrediction],
    shadow: Sequence[LoggedPrediction],
    *,
    model: str,
    stable_version: int,
    shadow_version: int,
    output_kind: str,
    since: datetime,
    until: datetime,
    features: Sequence[str] | None = None,
    bins: int = 5,
    totals: dict[str, tuple[int, int]] | None = None,
    mirror_percent: float | None = None,
    truncated: bool = False,
) -> ShadowReport:
    """Pair ``shadow`` predictions with ``stable`` ones by request id and compare them.

    ``features`` limits the slices to those inputs (default: every input); numeric features are
    cut into ``bins`` quantile bins. ``totals`` gives ``{role: (requests, errors)}`` over the
    whole window when the rows passed are only part of it (default: counted from the rows).
    """
    by_id: dict[str, LoggedPrediction] = {}
    for row in stable:
        by_id.setdefault(row.request_id, row)
    pairs = [(by_id[s.request_id], s) for s in shadow if s.request_id in by_id]
    classify = output_kind == "classification"
    agree: list[bool] = []
    diffs: list[float] = []
    row_diffs: list[float | None] = []
    class_pairs: Counter[tuple[Any, Any]] = Counter()
    inputs: list[dict[str, Any] | None] = []
    latency: dict[str, list[float]] = {"stable": [], "shadow": []}
    for base, other in pairs:
        if base.error is not None or other.error is not None:
            continue
        latency["stable"].append(base.latency_ms)
        latency["shadow"].append(other.latency_ms)
        a_out, b_out = base.outputs, other.outputs
        if not isinstance(a_out, list) or not isinstance(b_out, list) or len(a_out) != len(b_out):
            continue
        rows = base.inputs if _rows_fit(base.inputs, len(a_out)) else None
        probabilities = _scores(base.scores, other.scores, len(a_out)) if classify else None
        for i, (a, b) in enumerate(zip(a_out, b_out, strict=True)):
            if probabilities is not None:
                diffs.append(_probability_difference(*probabilities[i]))
            diff = None if classify else _difference(a, b)
            agree.append(_same(a, b) if diff is None else _close(a, b))
            row_diffs.append(diff)
            if diff is not None:
                diffs.append(diff)
            if classify:
                class_pairs[(_key(a), _key(b))] += 1
            inputs.append(rows[i] if rows is not None else None)
    totals = totals or _count(stable, shadow)
    return ShadowReport(
        model=model,
        stable_version=stable_version,
        shadow_version=shadow_version,
        output_kind=output_kind,
        since=since,
        until=until,
        stable=RoleSummary(
            "stable", stable_version, *totals["stable"], _latency(latency["stable"])
        ),
        shadow=RoleSummary(
            "shadow", shadow_version, *totals["shadow"], _latency(latency["shadow"])
        ),
        paired_requests=len(pairs),
        rows_compared=len(agree),
        agreement=sum(agree) / len(agree) if agree else None,
        class_pairs=tuple((a, b, n) for (a, b), n in class_pairs.most_common(_TOP_PAIRS)),
        score_differences=_score_differences(diffs),
        slices=slice_disagreement(inputs, agree, row_diffs, features, bins),
        mirror_percent=mirror_percent,
        truncated=truncated,
    )


# --------------------------------------------------------------------------------- comparisons


def _difference(a: Any, b: Any) -> float | None:
    x, y = finite_number(a), finite_number(b)
    return None if x is None or y is None else y - x


def _scores(
    a: list[Any] | None, b: list[Any] | None, rows: int
) -> list[tuple[list[float], list[float]]] | None:
    """Both roles' probability rows, paired, when both logged well-formed ones."""
    if not isinstance(a, list) or not isinstance(b, list) or not len(a) == len(b) == rows:
        return None
    pairs = []
    for x, y in zip(a, b, strict=True):
        if not isinstance(x, list) or not isinstance(y, list) or len(x) != len(y) or not x:
            return None
        if any(finite_number(v) is None for v in (*x, *y)):
            return None
        pairs.append(([float(v) for v in x], [float(v) for v in y]))
    return pairs


def _probability_difference(stable: list[float], shadow: list[float]) -> float:
    """Shadow minus stable: the positive class's probability (two classes), else the probability
    of the class stable predicted."""
    k = 1 if len(stable) == 2 else max(range(len(stable)), key=stable.__getitem__)
    return shadow[k] - stable[k]


def _close(a: Any, b: Any) -> bool:
    return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)


def _same(a: Any, b: Any) -> bool:
    return bool(_key(a) == _key(b))


def _key(value: Any) -> Any:
    """A hashable form of a JSON output (a list becomes a tuple)."""
    if isinstance(value, list):
        return tuple(_key(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _key(v)) for k, v in value.items()))
    return value


def _rows_fit(rows: Any, count: int) -> bool:
    return isinstance(rows, list) and len(rows) == count and all(isinstance(r, dict) for r in rows)


def _count(
    stable: Sequence[LoggedPrediction], shadow: Sequence[LoggedPrediction]
) -> dict[str, tuple[int, int]]:
    return {
        role: (len(rows), sum(r.error is not None for r in rows))
        for role, rows in (("stable", stable), ("shadow", shadow))
    }


def _latency(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    data = np.asarray(values, dtype=np.float64)
    p50, p95, p99 = np.percentile(data, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "mean": float(data.mean())}


def _score_differences(diffs: list[float]) -> ScoreDifferences | None:
    if not diffs:
        return None
    data = np.asarray(diffs, dtype=np.float64)
    quantiles = {"min": float(data.min())}
    for q, value in zip(QUANTILES, np.quantile(data, QUANTILES), strict=True):
        quantiles[f"p{round(q * 100)}"] = float(value)
    quantiles["max"] = float(data.max())
    low, high = float(data.min()), float(data.max())
    if low == high:  # one value: a single bin around it
        low, high = low - 0.5, high + 0.5
    counts, edges = np.histogram(data, bins=_HISTOGRAM_BINS, range=(low, high))
    return ScoreDifferences(
        count=len(data),
        mean=float(data.mean()),
        mean_abs=float(np.abs(data).mean()),
        std=float(data.std()),
        quantiles=quantiles,
        edges=tuple(float(e) for e in edges),
        counts=tuple(int(c) for c in counts),
    )


# ------------------------------------------------------------------------------------ the store


@dataclass(frozen=True, slots=True)
class ShadowWindow:
    """When the current (or last) shadow of a model ran, and which versions it compared."""

    stable_version: int
    shadow_version: int
    since: datetime
    until: datetime | None
    """None: still running."""
    mirror_percent: float | None = None


def shadow_window(registry: Registry, model: str) -> ShadowWindow:
    """The running shadow of ``model``, else the last one in its ledger."""
    current = DeploymentStore(registry).get(model)
    if current is not None and current.shadow_version is not None:
        return ShadowWindow(
            stable_version=current.stable_version,
            shadow_version=current.shadow_version,
            since=as_utc(datetime.fromisoformat(str(current.config["started_at"]))),
            until=None,
            mirror_percent=current.mirror_percent,
        )
    history = registry.history(model)
    starts = [i for i, e in enumerate(history) if e.kind == "shadow_started"]
    if not starts:
        raise NotFound(
            f"{model} has had no shadow rollout. Start one: "
            f"mlship deploy {model}@VERSION --strategy shadow --mirror 100"
        )
    start = history[starts[-1]]
    end = next((e.at for e in history[starts[-1] + 1 :] if e.kind in _ENDING_EVENTS), None)
    details = start.details
    return ShadowWindow(
        stable_version=int(details["stable"]),
        shadow_version=int(details["shadow"]),
        since=start.at,
        until=end,
        mirror_percent=float(details.get("mirror_percent", 100)),
    )


def shadow_report(
    registry: Registry,
    model: str,
    *,
    features: Sequence[str] | None = None,
    bins: int = 5,
    limit: int = 100_000,
) -> ShadowReport:
    """The report of the running (or last) shadow of ``model``, from the prediction log.

    Reads at most the ``limit`` most recent shadow predictions and stable's answers to the
    same requests; error rates count every request of the window.

    Example: ``shadow_report(registry, "fraud").to_dict()``, or :func:`render_html` on it.
    """
    window = shadow_window(registry, model)
    until = window.until or utcnow()
    t = predictions.c
    in_window = (t.model == model, t.at >= window.since, t.at <= until)
    versions = {"stable": window.stable_version, "shadow": window.shadow_version}
    with registry.store.read() as conn:
        totals = {
            role: _totals(conn, in_window, role, version) for role, version in versions.items()
        }
        rows = conn.execute(
            sa.select(t.request_id, t.outputs, t.latency_ms, t.error, t.scores)
            .where(*in_window, t.role == "shadow", t.version == window.shadow_version)
            .order_by(t.id.desc())
            .limit(limit)
        ).all()
        shadow = [LoggedPrediction(r[0], "shadow", None, r[1], r[2], r[3], r[4]) for r in rows]
        ids = sorted({row.request_id for row in shadow})
        stable: list[LoggedPrediction] = []
        for first in range(0, len(ids), 500):
            found = conn.execute(
                sa.select(t.request_id, t.inputs, t.outputs, t.latency_ms, t.error, t.scores).where(
                    *in_window,
                    t.role == "stable",
                    t.version == window.stable_version,
                    t.request_id.in_(ids[first : first + 500]),
                )
            ).all()
            stable.extend(
                LoggedPrediction(r[0], "stable", r[1], r[2], r[3], r[4], r[5]) for r in found
            )
    signature = registry.get(f"{model}@{window.shadow_version}").signature
    return compare(
        stable,
        shadow,
        model=model,
        stable_version=window.stable_version,
        shadow_version=window.shadow_version,
        output_kind=signature.output_kind if signature is not None else "unknown",
        since=window.since,
        until=until,
        features=features,
        bins=bins,
        totals=totals,
        mirror_percent=window.mirror_percent,
        truncated=totals["shadow"][0] > len(shadow),
    )


def _totals(conn: Any, in_window: tuple[Any, ...], role: str, version: int) -> tuple[int, int]:
    t = predictions.c
    requests, errors = conn.execute(
        sa.select(sa.func.count(), sa.func.count(t.error)).where(
            *in_window, t.role == role, t.version == version
        )
    ).one()
    return int(requests), int(errors)
