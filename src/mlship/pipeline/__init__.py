"""The ``mlship.toml`` project pipeline: code tests → data validation → train and register →
model sanity → gates → deploy (``mlship run``), and training a registered version again to see
whether it is the same model (``mlship reproduce``)."""

from __future__ import annotations

from mlship.pipeline.config import (
    ModelSettings,
    PipelineConfig,
    RolloutSettings,
    TrainSettings,
    load_pipeline_config,
    parse_pipeline_config,
)
from mlship.pipeline.provenance import DataFile, Provenance
from mlship.pipeline.reproduce import Reproduction, reproduce
from mlship.pipeline.results import PipelineResult, StageResult
from mlship.pipeline.runner import StageObserver, run_pipeline

__all__ = [
    "DataFile",
    "ModelSettings",
    "PipelineConfig",
    "PipelineResult",
    "Provenance",
    "Reproduction",
    "RolloutSettings",
    "StageObserver",
    "StageResult",
    "TrainSettings",
    "load_pipeline_config",
    "parse_pipeline_config",
    "reproduce",
    "run_pipeline",
]
