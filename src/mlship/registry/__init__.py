"""The model registry: versions, aliases, metadata, artifacts, formats and the ledger."""

from __future__ import annotations

from mlship.registry.artifacts import ArtifactStore
from mlship.registry.loaded_model import LoadedModel
from mlship.registry.model_version import Event, Feature, ModelSummary, ModelVersion, Signature
from mlship.registry.reference import ModelRef
from mlship.registry.registry import Registry

__all__ = [
    "ArtifactStore",
    "Event",
    "Feature",
    "LoadedModel",
    "ModelRef",
    "ModelSummary",
    "ModelVersion",
    "Registry",
    "Signature",
]
