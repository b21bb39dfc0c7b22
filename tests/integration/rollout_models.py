"""Candidate models with known faults, for the rollout tests (registered with trusted=True)."""

from __future__ import annotations

import time
import zlib
from typing import Any

import numpy as np
import pandas as pd


class Wrapped:
    """Delegates to a fitted scikit-learn classifier."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.classes_ = model.classes_
        self.feature_names_in_ = model.feature_names_in_

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict(frame))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict_proba(frame))


class Flaky(Wrapped):
    """Raises on about 10 % of rows (decided by the row's values, so it is reproducible)."""

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        for row in frame.itertuples(index=False):
            if zlib.crc32(repr(tuple(row)).encode()) % 10 == 0:
                raise RuntimeError("flaky candidate")
        return super().predict_proba(frame)


class Slow(Wrapped):
    """Far slower than stable: sleeps 100 ms per call (clear even on a loaded CI machine)."""

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        time.sleep(0.1)
        return super().predict_proba(frame)


class Shifted(Wrapped):
    """Always says fraud: its predictions diverge from stable's."""

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.zeros((len(frame), 2))
        out[:, 1] = 0.99
        out[:, 0] = 0.01
        return out
