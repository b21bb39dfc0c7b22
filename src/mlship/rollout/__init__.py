"""Deployments and rollouts: which version serves each model, and how traffic moves to a new one."""

from __future__ import annotations

from mlship.rollout.canary import CanaryConfig, Rollouts
from mlship.rollout.deployments import Deployment, DeploymentStore

__all__ = ["CanaryConfig", "Deployment", "DeploymentStore", "Rollouts"]
