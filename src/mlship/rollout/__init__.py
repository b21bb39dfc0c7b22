"""Deployments and rollouts: which version serves each model, and how traffic moves to a new one."""

from __future__ import annotations

from mlship.rollout.analysis import (
    Analysis,
    AnalysisConfig,
    CanaryCheck,
    WindowStats,
    analyze,
    psi,
)
from mlship.rollout.canary import CanaryConfig, Rollouts
from mlship.rollout.controller import Controller, Decision
from mlship.rollout.deployments import Deployment, DeploymentStore
from mlship.rollout.traffic import TrafficSplit, bucket, rollout_salt, split_key

__all__ = [
    "Analysis",
    "AnalysisConfig",
    "CanaryCheck",
    "CanaryConfig",
    "Controller",
    "Decision",
    "Deployment",
    "DeploymentStore",
    "Rollouts",
    "TrafficSplit",
    "WindowStats",
    "analyze",
    "bucket",
    "psi",
    "rollout_salt",
    "split_key",
]
