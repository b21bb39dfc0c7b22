"""Deployments: which version of each model serves, and (later) how traffic moves between two."""

from __future__ import annotations

from mlship.rollout.deployments import Deployment, DeploymentStore

__all__ = ["Deployment", "DeploymentStore"]
