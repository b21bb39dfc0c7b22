"""Packaging a model for production: a Docker build context, Kubernetes manifests, a Helm chart."""

from __future__ import annotations

from mlship.deploy.docker import DockerBuild, build_docker_context
from mlship.deploy.kubernetes import KubernetesOptions
from mlship.deploy.kubernetes_build import KubernetesBuild, build_kubernetes

__all__ = [
    "DockerBuild",
    "KubernetesBuild",
    "KubernetesOptions",
    "build_docker_context",
    "build_kubernetes",
]
