"""What a drift report plots per feature: the reference and current distributions, side by side.

**Numeric features** get one grid of ``bins`` equal-width bins for both sides, spanning the
1st to the 99th percentile of either side (so a shifted window stays in view and one outlier
does not squash the rest); the two end bins also hold the values beyond the grid. The
reference's shares come from its values (frame) or from its quantile CDF (stored profile).
**Categorical features** get the shares of the ``top`` categories most frequent on either side
and one ``other`` bar for the rest (including what a profile lumped together).

>>> import numpy as np, pandas as pd
>>> from mlship.monitoring import Reference
>>> ref = Reference.from_frame(pd.DataFrame({"c": ["a", "a", "b", "b"]}))
>>> h = histogram("c", ref.columns["c"], pd.Series(["a", "c", "c", "c"]))
>>> h.labels, h.reference, h.current, h.new
(('c', 'a', 'b'), (0.0, 0.5, 0.5), (0.75, 0.25, 0.0), (True, False, False))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from mlship.monitoring.reference import CategoricalReference, NumericReference
from mlship.registry.profile import QUANTILES

if TYPE_CHECKING:
    import pandas as pd

    from mlship.monitoring.statistics import FloatArray

BINS = 24
TOP_CATEGORIES = 12
_TAIL = 0.01
_LEVELS = np.array(QUANTILES, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Histogram:
    """The two distributions of one feature as shares per bin (each side sums to 1, or is 0).

    Numeric: ``edges`` has one more entry than the shares; ``labels`` is empty. Categorical:
    ``labels`` names each bar, ``new`` marks categories the reference does not have, and
    ``edges`` is empty.
    """

    name: str
    kind: Literal["numeric", "categorical"]
    reference: tuple[float, ...]
    current: tuple[float, ...]
    edges: tuple[float, ...] = ()
    labels: tuple[str, ...] = ()
    new: tuple[bool, ...] = ()
    reference_count: int = 0
    current_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The histogram as JSON values."""
        return {
            "kind": self.kind,
            "edges": list(self.edges),
            "labels": list(self.labels),
            "new": list(self.new),
            "reference": list(self.reference),
            "current": list(self.current),
            "count": {"reference": self.reference_count, "current": self.current_count},
        }


def histogram(
    name: str,
    reference: NumericReference | CategoricalReference,
    current: pd.Series,
    *,
    bins: int = BINS,
    top: int = TOP_CATEGORIES,
) -> Histogram:
    """The plotted distributions of one feature (see the module docstring)."""
    if isinstance(reference, NumericReference):
        return _numeric(name, reference, current, bins)
    return _categorical(name, reference, current, top)


def _numeric(name: str, reference: NumericReference, current: pd.Series, bins: int) -> Histogram:
    import pandas as pd

    raw = pd.to_numeric(current, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    values = np.sort(raw[np.isfinite(raw)])
    ends: list[float] = []
    if len(values):
        ends += [_at(values, _TAIL), _at(values, 1 - _TAIL)]
    if reference.values is not None and len(reference.values):
        ends += [_at(reference.values, _TAIL), _at(reference.values, 1 - _TAIL)]
    elif reference.quantiles is not None:
        stored = reference.levels if reference.levels is not None else _LEVELS
        finite = np.isfinite(reference.quantiles)
        if finite.any() and len(stored) == len(finite):
            known, levels = reference.quantiles[finite], stored[finite]
            ends += [float(np.interp(q, levels, known)) for q in (_TAIL, 1 - _TAIL)]
    low, high = (min(ends), max(ends)) if ends else (0.0, 1.0)
    if not high > low:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, bins + 1)
    inner = edges[1:-1]
    ref_shares = np.zeros(bins)
    if reference.values is not None and len(reference.values):
        ref_shares = _shares_sorted(reference.values, inner)
    elif reference.cdf is not None:
        ref_shares = np.asarray(reference.cdf.shares(inner), dtype=np.float64)
    cur_shares = _shares_sorted(values, inner) if len(values) else np.zeros(bins)
    return Histogram(
        name=name,
        kind="numeric",
        reference=_floats(ref_shares),
        current=_floats(cur_shares),
        edges=_floats(edges),
        reference_count=reference.count,
        current_count=len(values),
    )


def _categorical(
    name: str, reference: CategoricalReference, current: pd.Series, top: int
) -> Histogram:
    present = current.dropna()
    counts = present.astype(str).value_counts() if len(present) else None
    cur = {} if counts is None else {str(k): int(v) for k, v in counts.items()}
    ref = {k: int(v) for k, v in zip(reference.categories, reference.counts, strict=True)}
    ref_total = sum(ref.values()) + reference.other
    cur_total = sum(cur.values())

    def share(count: int, total: int) -> float:
        return count / total if total else 0.0

    keys = set(ref) | set(cur)
    ranked = sorted(
        keys,
        key=lambda k: (-max(share(ref.get(k, 0), ref_total), share(cur.get(k, 0), cur_total)), k),
    )
    shown, rest = ranked[:top], ranked[top:]
    labels = list(shown)
    ref_shares = [share(ref.get(k, 0), ref_total) for k in shown]
    cur_shares = [share(cur.get(k, 0), cur_total) for k in shown]
    new = [k not in ref for k in shown]
    ref_other = sum(ref.get(k, 0) for k in rest) + reference.other
    cur_other = sum(cur.get(k, 0) for k in rest)
    if ref_other or cur_other:
        labels.append(f"other ({len(rest)})" if rest else "other")
        ref_shares.append(share(ref_other, ref_total))
        cur_shares.append(share(cur_other, cur_total))
        new.append(False)
    return Histogram(
        name=name,
        kind="categorical",
        reference=_floats(ref_shares),
        current=_floats(cur_shares),
        labels=tuple(labels),
        new=tuple(new),
        reference_count=reference.count,
        current_count=cur_total,
    )


def _at(ordered: FloatArray, level: float) -> float:
    """The value at ``level`` of a sorted sample (the nearest rank below)."""
    return float(ordered[int(level * (len(ordered) - 1))])


def _shares_sorted(ordered: FloatArray, inner: FloatArray) -> FloatArray:
    """Shares of ``(-inf, c1), [c1, c2), ..., [c_last, inf)`` of a sorted sample."""
    cuts = np.searchsorted(ordered, inner, side="left")
    counts = np.diff(np.concatenate(([0], cuts, [len(ordered)])))
    result: FloatArray = counts / len(ordered)
    return result


def _floats(values: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in values)
