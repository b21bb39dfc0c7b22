"""Synthetic rows drawn from a stored training profile (for sanity checks without data)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mlship.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

    from mlship.registry.model_version import Signature


def sample_from_profile(
    profile: dict[str, Any], signature: Signature, rows: int, *, seed: int = 0
) -> pd.DataFrame:
    """``rows`` rows whose columns follow the profile's marginal distributions.

    Numbers are drawn by inverse-CDF interpolation over the stored percentiles (so the sample's
    quantiles match the training data's), categories by their training frequencies, booleans by the
    true rate. Columns are independent: enough to exercise a model, not to evaluate it.
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    features = profile.get("features", {})
    columns: dict[str, Any] = {}
    for feature in signature.features:
        stats = features.get(feature.name)
        if stats is None:
            raise InvalidInput(
                f"The stored profile has no feature {feature.name!r}; pass --data to check on "
                "real rows instead."
            )
        columns[feature.name] = _draw(stats, feature.dtype, rows, rng)
    return pd.DataFrame(columns)


def _draw(stats: dict[str, Any], dtype: str, rows: int, rng: np.random.Generator) -> Any:
    kind = stats.get("kind")
    if kind == "numeric" and stats.get("quantiles"):
        levels = np.linspace(0.0, 1.0, len(stats["quantiles"]))
        values = np.interp(rng.random(rows), levels, np.asarray(stats["quantiles"], dtype=float))
        return np.round(values).astype(np.int64) if dtype == "int" else values
    if kind == "boolean":
        rate = stats.get("true_rate") or 0.0
        return rng.random(rows) < rate
    if kind == "categorical" and stats.get("categories"):
        names = list(stats["categories"])
        counts = np.asarray(list(stats["categories"].values()), dtype=float)
        return rng.choice(names, size=rows, p=counts / counts.sum())
    if dtype in ("float", "int"):
        return np.zeros(rows, dtype=np.float64 if dtype == "float" else np.int64)
    return np.full(rows, "", dtype=object)
