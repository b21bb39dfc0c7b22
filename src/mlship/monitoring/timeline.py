"""Drift over time: the current window cut into equal time slices, each judged on its own.

Each slice is compared with the same reference, built once, so the cost is one more pass over
the window. A slice with too few values for a feature gives no verdict for it (``None``), as in
the whole-window report.

>>> import numpy as np, pandas as pd
>>> from mlship.monitoring import Reference
>>> rng = np.random.default_rng(0)
>>> reference = Reference.from_frame(pd.DataFrame({"x": rng.normal(size=4000)}))
>>> current = pd.DataFrame({"x": np.concatenate([rng.normal(size=500), rng.normal(1, 1, 500)])})
>>> timeline = drift_over_time(reference, current, np.arange(1000.0), slices=2)
>>> timeline.rows, timeline.drift["x"]
((500, 500), (False, True))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from mlship.errors import ConfigError
from mlship.monitoring.drift import detect_drift
from mlship.monitoring.options import DriftOptions

if TYPE_CHECKING:
    import pandas as pd

    from mlship.monitoring.feature_drift import FeatureDrift
    from mlship.monitoring.reference import Reference
    from mlship.monitoring.statistics import FloatArray


@dataclass(frozen=True, slots=True)
class DriftTimeline:
    """Per-slice effect sizes and verdicts of every feature (and of the predictions).

    ``starts`` and ``ends`` bound each slice (seconds since the epoch); ``effects[name][i]`` is
    the feature's effect size in slice ``i``, ``None`` when the slice gave it no verdict.
    """

    starts: tuple[float, ...]
    ends: tuple[float, ...]
    rows: tuple[int, ...]
    effects: Mapping[str, tuple[float | None, ...]]
    drift: Mapping[str, tuple[bool, ...]]
    thresholds: Mapping[str, float]
    effect_names: Mapping[str, str]

    def to_dict(self) -> dict[str, Any]:
        """The timeline as JSON values (times in ISO 8601, UTC)."""
        return {
            "starts": [_iso(s) for s in self.starts],
            "ends": [_iso(e) for e in self.ends],
            "rows": list(self.rows),
            "features": {
                name: {
                    "effect_name": self.effect_names[name],
                    "threshold": self.thresholds[name],
                    "effects": list(self.effects[name]),
                    "drift": list(self.drift[name]),
                }
                for name in self.effects
            },
        }


def drift_over_time(
    reference: Reference,
    current: pd.DataFrame,
    times: FloatArray | Sequence[float],
    options: DriftOptions | None = None,
    *,
    columns: Sequence[str] | None = None,
    prediction: str | None = None,
    slices: int = 8,
) -> DriftTimeline:
    """Judge ``current`` slice by slice against ``reference``.

    Parameters
    ----------
    reference:
        The reference, built once (:meth:`Reference.from_frame` or :meth:`Reference.from_profile`).
    current:
        The window, one row per observation.
    times:
        Each row's time in seconds since the epoch; the slices split ``[min, max]`` evenly.
    options, columns, prediction:
        As for :func:`~mlship.monitoring.detect_drift`.
    slices:
        How many slices.
    """
    if not isinstance(slices, int) or slices < 1:
        raise ConfigError(f"The 'slices' option must be a whole number >= 1. Got {slices!r}.")
    stamps = np.asarray(times, dtype=np.float64)
    if len(stamps) != len(current):
        raise ConfigError(
            f"drift_over_time needs one time per row: {len(stamps)} times for {len(current)} rows."
        )
    options = options or DriftOptions()
    if len(stamps) == 0:
        edges = np.zeros(slices + 1)
    else:
        edges = np.linspace(stamps.min(), stamps.max(), slices + 1)
    # Slice i holds [edges[i], edges[i + 1]); the last one includes its end.
    index = np.clip(np.searchsorted(edges, stamps, side="right") - 1, 0, slices - 1)
    judged: list[dict[str, FeatureDrift]] = []
    rows: list[int] = []
    for i in range(slices):
        part = current.loc[index == i]
        rows.append(len(part))
        if part.empty:
            judged.append({})
            continue
        report = detect_drift(reference, part, options, columns=columns, prediction=prediction)
        found = dict(report.features)
        if report.prediction is not None and prediction is not None:
            found[prediction] = report.prediction
        judged.append(found)
    names = list(dict.fromkeys(name for part in judged for name in part))
    effects: dict[str, tuple[float | None, ...]] = {}
    drift: dict[str, tuple[bool, ...]] = {}
    thresholds: dict[str, float] = {}
    effect_names: dict[str, str] = {}
    for name in names:
        found_in = [part.get(name) for part in judged]
        effects[name] = tuple(f.effect if f is not None and f.judged else None for f in found_in)
        drift[name] = tuple(f is not None and f.drift for f in found_in)
        first = next(f for f in found_in if f is not None)
        thresholds[name] = first.threshold
        effect_names[name] = first.effect_name
    return DriftTimeline(
        starts=tuple(float(e) for e in edges[:-1]),
        ends=tuple(float(e) for e in edges[1:]),
        rows=tuple(rows),
        effects=effects,
        drift=drift,
        thresholds=thresholds,
        effect_names=effect_names,
    )


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat()
