"""Reading a model's signature from the model and its training data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlship.errors import InvalidInput
from mlship.registry.model_version import Feature, OutputKind, Signature
from mlship.registry.profile import dtype_family

if TYPE_CHECKING:
    import pandas as pd


def infer_signature(
    model: Any,
    *,
    known_features: tuple[str, ...] | None,
    train_data: pd.DataFrame | None,
    label: str | None,
    known_dtypes: tuple[str, ...] | None = None,
) -> Signature:
    """The signature of ``model``: its features (names and dtypes) and its kind of output.

    Features come from the model when it knows them (``feature_names_in_``, ONNX inputs), else from
    the training data's columns without the label. Missing features are an :class:`InvalidInput`.
    """
    if train_data is not None:
        columns = [str(c) for c in train_data.columns]
        if known_features is not None:
            missing = [f for f in known_features if f not in columns]
            if missing:
                raise InvalidInput(
                    f"The training data lacks features the model needs: {', '.join(missing)}. "
                    "Pass the data the model was trained on."
                )
            names = list(known_features)
        else:
            names = [c for c in columns if c != label]
        features = tuple(Feature(n, dtype_family(train_data[n])) for n in names)
    elif known_features is not None:
        dtypes = known_dtypes or ("float",) * len(known_features)
        features = tuple(Feature(n, d) for n, d in zip(known_features, dtypes, strict=True))
    else:
        features = ()
    kind, classes, has_proba = _output(model, train_data, features)
    return Signature(features=features, output_kind=kind, classes=classes, has_proba=has_proba)


def _output(
    model: Any, train_data: pd.DataFrame | None, features: tuple[Feature, ...]
) -> tuple[OutputKind, tuple[Any, ...] | None, bool]:
    has_proba = _has_proba(model)
    classes = getattr(model, "classes_", None)
    if classes is None and has_proba and train_data is not None and features:
        sample = train_data[[f.name for f in features]].head(5)
        model.predict_proba(sample)  # ONNX ZipMap models learn their class labels here
        classes = getattr(model, "classes_", None)
    if classes is not None:
        return "classification", tuple(_plain(c) for c in classes), has_proba
    estimator_type = getattr(model, "_estimator_type", None)
    if estimator_type == "regressor":
        return "regression", None, False
    if has_proba:
        return "classification", None, True
    if train_data is not None and features:
        import numpy as np

        out = np.asarray(model.predict(train_data[[f.name for f in features]].head(5)))
        if out.dtype.kind == "f":
            return "regression", None, False
    return "unknown", None, False


def _has_proba(model: Any) -> bool:
    for attr in ("has_proba", "predict_proba_available"):
        flag = getattr(model, attr, None)
        if isinstance(flag, bool):
            return flag
    try:
        return callable(getattr(model, "predict_proba", None))
    except AttributeError:
        return False


def _plain(value: Any) -> Any:
    """numpy scalars become the Python values JSON can hold."""
    return value.item() if hasattr(value, "item") else value
