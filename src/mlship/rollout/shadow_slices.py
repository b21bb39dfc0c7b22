"""Per-slice disagreement of a shadow: where in the input space it answers unlike stable.

Each input feature is cut into slices, by value (categorical: the 10 most frequent values, the
rest as ``(other)``) or by quantile bins (numeric, with more distinct values than bins); each
slice gets the share of its rows where the shadow disagreed, and the mean absolute score
difference where outputs are numbers (then the measure slices are ranked by). Missing values form
a ``(missing)`` slice.

>>> found = slice_disagreement(
...     [{"country": "DE"}, {"country": "DE"}, {"country": "US"}], [True, False, True],
...     [None, None, None], None, 5)
>>> [(s.label, s.rows, s.disagreement) for s in found[0].slices]
[('DE', 2, 0.5), ('US', 1, 0.0)]
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from mlship.errors import InvalidInput

_TOP_CATEGORIES = 10


@dataclass(frozen=True, slots=True)
class Slice:
    """The rows of one slice of a feature, and how often the shadow disagreed on them."""

    label: str
    rows: int
    disagreement: float
    mean_abs_diff: float | None = None


@dataclass(frozen=True, slots=True)
class FeatureSlices:
    """Disagreement per value (categorical) or per quantile bin (numeric) of one input feature."""

    feature: str
    kind: Literal["categorical", "numeric"]
    slices: tuple[Slice, ...]

    @property
    def by_difference(self) -> bool:
        """Whether the slices are compared by mean absolute score difference (numeric outputs,
        where nearly every row differs a little) rather than by disagreement."""
        return bool(self.slices) and all(s.mean_abs_diff is not None for s in self.slices)

    @property
    def spread(self) -> float:
        """Highest minus lowest disagreement (or mean absolute difference) of its slices: how
        uneven the shadow's departures from stable are across them."""
        values = [
            (s.mean_abs_diff or 0.0) if self.by_difference else s.disagreement for s in self.slices
        ]
        return max(values) - min(values) if values else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "kind": self.kind,
            "by_difference": self.by_difference,
            "spread": self.spread,
            "slices": [
                {
                    "label": s.label,
                    "rows": s.rows,
                    "disagreement": s.disagreement,
                    "mean_abs_diff": s.mean_abs_diff,
                }
                for s in self.slices
            ],
        }


def slice_disagreement(
    inputs: list[dict[str, Any] | None],
    agree: list[bool],
    diffs: list[float | None],
    features: Sequence[str] | None,
    bins: int,
) -> tuple[FeatureSlices, ...]:
    """The slices of every input feature (or of ``features``), most uneven feature first.

    ``inputs[i]`` is the feature dict of compared row ``i`` (None: unknown), ``agree[i]``
    whether the shadow agreed on it, ``diffs[i]`` its score difference (None: not numeric).
    """
    names: dict[str, None] = {}
    for row in inputs:
        if row is not None:
            names.update(dict.fromkeys(row))
    unknown = [f for f in features or () if f not in names]
    if names and unknown:
        raise InvalidInput(
            f"The 'slice' option names {', '.join(unknown)}, which the logged inputs do not "
            f"have. Inputs: {', '.join(names)}.",
            field="slice",
        )
    chosen = [n for n in names if features is None or n in features]
    found = []
    for name in chosen:
        values = [row.get(name) if row is not None else None for row in inputs]
        labels, kind = _labels(values, bins)
        groups: dict[str, list[int]] = defaultdict(list)
        for i, label in enumerate(labels):
            if inputs[i] is not None:
                groups[label].append(i)
        slices = []
        for label, rows in groups.items():
            known = [d for d in (diffs[i] for i in rows) if d is not None]
            slices.append(
                Slice(
                    label=label,
                    rows=len(rows),
                    disagreement=1 - sum(agree[i] for i in rows) / len(rows),
                    mean_abs_diff=float(np.mean(np.abs(known))) if known else None,
                )
            )
        if kind == "categorical":
            slices.sort(key=lambda s: (-s.rows, s.label))
        else:  # bins in order of their lower edge, missing values last
            slices.sort(key=lambda s: _lower_edge(s.label))
        found.append(FeatureSlices(name, kind, tuple(slices)))
    found.sort(key=lambda f: -f.spread)
    return tuple(found)


def _lower_edge(label: str) -> float:
    return float(label[1:].split(",")[0]) if label.startswith("[") else math.inf


def _labels(values: list[Any], bins: int) -> tuple[list[str], Literal["categorical", "numeric"]]:
    """The slice label of every value: quantile bins for numbers, else the (top) categories."""
    numbers = [finite_number(v) for v in values]
    present = [n for n, v in zip(numbers, values, strict=True) if v is not None]
    if present and all(n is not None for n in present) and len(set(present)) > bins:
        data = np.asarray(present, dtype=np.float64)
        edges = np.unique(np.quantile(data, np.linspace(0, 1, bins + 1)))
        names = [
            f"[{edges[i]:.4g}, {edges[i + 1]:.4g}{']' if i == len(edges) - 2 else ')'}"
            for i in range(len(edges) - 1)
        ]
        inner = edges[1:-1]
        labels = [
            "(missing)" if n is None else names[int(np.searchsorted(inner, n, side="right"))]
            for n in numbers
        ]
        return labels, "numeric"
    texts = ["(missing)" if v is None else str(v) for v in values]
    top = {t for t, _ in Counter(texts).most_common(_TOP_CATEGORIES)}
    return [t if t in top else "(other)" for t in texts], "categorical"


def finite_number(value: Any) -> float | None:
    """A finite float, or None for anything else (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
