"""Model formats: sklearn (skops/joblib), onnx, mlflow, python (cloudpickle)."""

from __future__ import annotations

from mlship.registry.formats.base import (
    FormatRegistry,
    ModelFormat,
    PreparedArtifact,
    default_formats,
)

__all__ = ["FormatRegistry", "ModelFormat", "PreparedArtifact", "default_formats"]
