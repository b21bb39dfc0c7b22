"""Seeded frames for the drift tests: a factory, so each test says what it varies."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

FrameFactory = Callable[..., pd.DataFrame]


@pytest.fixture
def make_frame() -> FrameFactory:
    """``make_frame(rows, seed, shift=0.0, numeric=3, categorical=2)``: normal and text columns.

    Numeric column ``n{i}`` is normal with mean ``shift`` and standard deviation ``1 + i``
    (the shift is in units of its own standard deviation); categorical column ``c{i}`` draws
    ``3 + 2 i`` categories uniformly.
    """

    def factory(
        rows: int, seed: int, shift: float = 0.0, numeric: int = 3, categorical: int = 2
    ) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        columns: dict[str, object] = {}
        for i in range(numeric):
            columns[f"n{i}"] = rng.normal(shift * (1 + i), 1 + i, rows)
        for i in range(categorical):
            levels = np.array([f"v{k}" for k in range(3 + 2 * i)])
            columns[f"c{i}"] = pd.Series(levels[rng.integers(0, len(levels), rows)], dtype="str")
        return pd.DataFrame(columns)

    return factory
