"""A loaded model: ``predict``/``predict_proba`` with inputs checked against the signature."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mlship.errors import InvalidInput
from mlship.registry.dataio import as_frame

if TYPE_CHECKING:
    import pandas as pd

    from mlship.registry.model_version import ModelVersion, Signature

_NUMERIC = ("float", "int", "bool")


class LoadedModel:
    """A registered model version, loaded and ready to predict.

    Accepts a DataFrame, a list of row dicts or one dict. Columns are matched by name and put in the
    signature's order; extra columns are ignored; missing features and values of the wrong type
    raise :class:`~mlship.errors.InvalidInput` naming the column.
    """

    def __init__(self, model: Any, version: ModelVersion) -> None:
        self._model = model
        self._version = version

    @property
    def version(self) -> ModelVersion:
        return self._version

    @property
    def raw(self) -> Any:
        """The underlying model object (estimator, ONNX session wrapper, pyfunc)."""
        return self._model

    @property
    def signature(self) -> Signature | None:
        return self._version.signature

    @property
    def has_proba(self) -> bool:
        sig = self._version.signature
        return bool(sig and sig.has_proba)

    def __repr__(self) -> str:
        return f"<LoadedModel {self._version.ref} ({self._version.format})>"

    def prepare(self, data: Any) -> pd.DataFrame:
        """The input as the model expects it: signature columns, in order, with checked types."""
        frame = as_frame(data, what="input")
        sig = self._version.signature
        if sig is None or not sig.features:
            return frame
        names = sig.feature_names
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise InvalidInput(
                f"Missing feature(s): {', '.join(missing)}. The model {self._version.ref} needs "
                f"{', '.join(names)}."
            )
        if len(frame) == 0:
            raise InvalidInput("The input has no rows; send at least one row.")
        frame = frame[names]
        for feature in sig.features:
            if feature.dtype in _NUMERIC:
                frame = _coerce_numeric(frame, feature.name, feature.dtype)
        return frame

    def predict(self, data: Any) -> np.ndarray[Any, Any]:
        """Predictions (class labels or values), one per row."""
        return np.asarray(self._model.predict(self.prepare(data)))

    def predict_proba(self, data: Any) -> np.ndarray[Any, Any]:
        """Class probabilities, columns in ``signature.classes`` order (classifiers only)."""
        if not self.has_proba:
            raise InvalidInput(f"{self._version.ref} is not a classifier with probabilities.")
        return np.asarray(self._model.predict_proba(self.prepare(data)))


def _coerce_numeric(frame: pd.DataFrame, name: str, dtype: str) -> pd.DataFrame:
    import pandas as pd

    column = frame[name]
    if pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
        return frame
    converted = pd.to_numeric(column, errors="coerce")
    bad = converted.isna() & column.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InvalidInput(
            f"Feature {name!r} must be {dtype}; row {row} has {column.iloc[row]!r} "
            f"({int(bad.sum())} bad value(s) in all)."
        )
    frame = frame.copy()
    frame[name] = converted
    return frame
