"""Seeded data and models shared by the benchmark workers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

FEATURES = [f"f{i:02d}" for i in range(20)]
LABEL = "y"
BIG_ROWS = 1_000_000
SMALL_ROWS = 5_000
FOREST_FIT_ROWS = 50_000
"""The forest is fitted on the first rows only (its size, not its data, is what we want)."""


def frame(rows: int, *, seed: int = 0) -> pd.DataFrame:
    """``rows`` x 20 float features plus an int label from a noisy linear rule."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, len(FEATURES)))
    weights = rng.standard_normal(len(FEATURES))
    y = (x @ weights + rng.standard_normal(rows) > 0).astype(np.int64)
    data = pd.DataFrame(x, columns=FEATURES)
    data[LABEL] = y
    return data


def forest(data: pd.DataFrame) -> Any:
    """An ExtraTrees classifier of about 10 MB as a skops file."""
    from sklearn.ensemble import ExtraTreesClassifier

    head = data.head(FOREST_FIT_ROWS)
    model = ExtraTreesClassifier(n_estimators=30, max_leaf_nodes=2000, random_state=0, n_jobs=2)
    return model.fit(head[FEATURES], head[LABEL])


def hgb(data: pd.DataFrame) -> Any:
    """A HistGradientBoostingClassifier with default parameters."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier().fit(data[FEATURES], data[LABEL])


def logreg(data: pd.DataFrame) -> Any:
    """A LogisticRegression on the 20 features."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000).fit(data[FEATURES], data[LABEL])


def accuracy(model: Any, data: pd.DataFrame) -> float:
    return float((model.predict(data[FEATURES]) == data[LABEL]).mean())
