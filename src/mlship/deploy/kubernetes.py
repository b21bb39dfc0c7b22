"""Kubernetes manifests for ``mlship serve`` replicas of one model (pure: options in, dicts out).

Deployment (probes, resources, non-root, read-only root filesystem, settings from a ConfigMap and
secrets from a Secret), Service, HorizontalPodAutoscaler, PodDisruptionBudget, ConfigMap, and a
NetworkPolicy that admits traffic to the server's port only. The
Helm chart (:mod:`mlship.deploy.helm`) renders the same objects from its values; a test holds the
two together. Replicas are stateless: deployments, rollouts and the prediction log live in the
store that ``MLSHIP_DB_URL`` names, artifacts where ``MLSHIP_ARTIFACTS`` points.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mlship.deploy.dockerfile import HOME, IMAGE_REFERENCE, PORT, UID
from mlship.options import invalid

SECRET_KEYS = ("MLSHIP_DB_URL", "MLSHIP_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
"""The keys read from the Secret; the AWS ones are optional (a pod identity may provide them)."""
OPTIONAL_SECRET_KEYS = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"})

_DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_CPU = re.compile(r"([0-9]+m|[0-9]+(\.[0-9]{1,3})?)")
_MEMORY = re.compile(r"[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|K|M|G|T)?")
_MAX_BASE = 50
"""Longest resource base name: suffixes (``-config``) must keep it under 63 characters."""


def resource_name(model: str) -> str:
    """A DNS-1035 name for ``model``'s resources: ``mlship-`` + the name, lowercase.

    >>> resource_name("Fraud_v2.1")
    'mlship-fraud-v2-1'
    """
    slug = re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-")
    return f"mlship-{slug}"[:_MAX_BASE].rstrip("-")


@dataclass(frozen=True, slots=True)
class KubernetesOptions:
    """What ``mlship build k8s`` writes, from its flags."""

    model: str
    """The model name."""
    ref: str
    """What each replica serves until ``mlship deploy`` gives the model a deployment."""
    image: str
    artifacts: str
    """``MLSHIP_ARTIFACTS`` of the pods: an object-store URL every replica reaches."""
    replicas: int = 3
    max_replicas: int | None = None
    """Upper bound of the autoscaler (default: three times ``replicas``)."""
    namespace: str = "mlship"
    secret: str | None = None
    """The Secret with :data:`SECRET_KEYS` (default ``<name>-secrets``)."""
    s3_endpoint_url: str | None = None
    cpu: str = "1"
    memory: str = "1Gi"
    cpu_target_percent: int = 70
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        checks: list[tuple[str, Any, bool, str]] = [
            (
                "replicas",
                self.replicas,
                isinstance(self.replicas, int) and 1 <= self.replicas <= 1000,
                "an integer from 1 to 1000",
            ),
            (
                "max-replicas",
                self.max_replicas,
                self.max_replicas is None
                or (isinstance(self.max_replicas, int) and self.replicas <= self.max_replicas),
                f"an integer >= replicas ({self.replicas})",
            ),
            (
                "namespace",
                self.namespace,
                bool(_DNS_LABEL.fullmatch(self.namespace)),
                "a DNS label (lowercase letters, digits and '-', starting with a letter)",
            ),
            (
                "image",
                self.image,
                bool(IMAGE_REFERENCE.fullmatch(self.image)),
                "an image reference such as registry.example.com/mlship-fraud:4",
            ),
            (
                "cpu",
                self.cpu,
                bool(_CPU.fullmatch(self.cpu)) and self.cpu not in ("0", "0m"),
                "a CPU quantity such as 500m or 2",
            ),
            (
                "memory",
                self.memory,
                bool(_MEMORY.fullmatch(self.memory)),
                "a memory quantity such as 512Mi or 2Gi",
            ),
            (
                "secret",
                self.secret,
                self.secret is None or bool(_DNS_LABEL.fullmatch(self.secret)),
                "a DNS label (lowercase letters, digits and '-', starting with a letter)",
            ),
            (
                "artifacts",
                self.artifacts,
                "://" in self.artifacts and not self.artifacts.startswith("file://"),
                "an object-store URL every replica can reach, e.g. s3://bucket/models",
            ),
        ]
        for name, value, ok, must in checks:
            if not ok:
                raise invalid(name, must, value)

    @property
    def name(self) -> str:
        return resource_name(self.model)

    @property
    def secret_name(self) -> str:
        return self.secret or f"{self.name}-secrets"

    @property
    def config_name(self) -> str:
        return f"{self.name}-config"

    @property
    def upper_replicas(self) -> int:
        return self.max_replicas if self.max_replicas is not None else 3 * self.replicas

    def config(self) -> dict[str, str]:
        """The ConfigMap's data: settings that are no secret."""
        data = {
            "MLSHIP_ARTIFACTS": self.artifacts,
            "MLSHIP_HOME": HOME,
            "MLSHIP_LOG_LEVEL": self.log_level,
            "OMP_NUM_THREADS": "1",
        }
        if self.s3_endpoint_url:
            data["MLSHIP_S3_ENDPOINT_URL"] = self.s3_endpoint_url
        return dict(sorted(data.items()))

    def resources(self) -> dict[str, dict[str, str]]:
        """Requests equal limits: the pod is in the Guaranteed QoS class, never evicted first."""
        amounts = {"cpu": self.cpu, "memory": self.memory}
        return {"limits": dict(amounts), "requests": dict(amounts)}


def labels(options: KubernetesOptions, app_version: str) -> dict[str, str]:
    return {
        **selector(options),
        "app.kubernetes.io/component": "server",
        "app.kubernetes.io/managed-by": "mlship",
        "app.kubernetes.io/version": app_version,
    }


def selector(options: KubernetesOptions) -> dict[str, str]:
    return {"app.kubernetes.io/name": "mlship", "app.kubernetes.io/instance": options.name}


def manifests(options: KubernetesOptions, app_version: str) -> dict[str, dict[str, Any]]:
    """``{file name: object}`` of every manifest, in the order to apply them."""
    return {
        "configmap.yaml": configmap(options, app_version),
        "deployment.yaml": deployment(options, app_version),
        "service.yaml": service(options, app_version),
        "hpa.yaml": autoscaler(options, app_version),
        "pdb.yaml": disruption_budget(options, app_version),
        "networkpolicy.yaml": network_policy(options, app_version),
    }


def _metadata(options: KubernetesOptions, name: str, app_version: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": options.namespace,
        "labels": labels(options, app_version),
    }


def configmap(options: KubernetesOptions, app_version: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(options, options.config_name, app_version),
        "data": options.config(),
    }


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def _secret_env(options: KubernetesOptions) -> list[dict[str, Any]]:
    env = []
    for key in SECRET_KEYS:
        ref: dict[str, Any] = {"name": options.secret_name, "key": key}
        if key in OPTIONAL_SECRET_KEYS:
            ref["optional"] = True
        env.append({"name": key, "valueFrom": {"secretKeyRef": ref}})
    return env


def container(options: KubernetesOptions) -> dict[str, Any]:
    """The one container of a pod: ``mlship serve`` on port 8080."""
    return {
        "name": "mlship",
        "image": options.image,
        "imagePullPolicy": "Always",
        "command": ["mlship", "serve"],
        "args": ["--host", "0.0.0.0", "--port", str(PORT), "--model", options.ref],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": options.config_name}}],
        "env": _secret_env(options),
        # Loading and warming a large model can take minutes; liveness waits for it.
        "startupProbe": _probe("/healthz", 5, 60),
        "readinessProbe": _probe("/readyz", 5, 3),
        "livenessProbe": _probe("/healthz", 10, 3),
        "resources": options.resources(),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
        },
        # The Service stops sending new requests before the server begins its graceful stop.
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
        "volumeMounts": [
            {"name": "home", "mountPath": HOME},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def deployment(options: KubernetesOptions, app_version: str) -> dict[str, Any]:
    meta = _metadata(options, options.name, app_version)
    meta["annotations"] = {"mlship/model": options.model, "mlship/serves": options.ref}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": options.replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector(options)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {"labels": labels(options, app_version)},
                "spec": {
                    "automountServiceAccountToken": False,
                    # Service links would put MLSHIP_..._PORT variables into the environment.
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 45,
                    "securityContext": {
                        "fsGroup": UID,
                        "runAsGroup": UID,
                        "runAsNonRoot": True,
                        "runAsUser": UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": selector(options)},
                        }
                    ],
                    "containers": [container(options)],
                    "volumes": [
                        {"name": "home", "emptyDir": {"sizeLimit": "1Gi"}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
                    ],
                },
            },
        },
    }


def service(options: KubernetesOptions, app_version: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(options, options.name, app_version),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(options),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def autoscaler(options: KubernetesOptions, app_version: str) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(options, options.name, app_version),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": options.name},
            "minReplicas": options.replicas,
            "maxReplicas": options.upper_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": options.cpu_target_percent,
                        },
                    },
                }
            ],
        },
    }


def disruption_budget(options: KubernetesOptions, app_version: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(options, options.name, app_version),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(options)}},
    }


def network_policy(options: KubernetesOptions, app_version: str) -> dict[str, Any]:
    """Ingress to the pods on the server's port only, from anywhere (the Service, an ingress
    controller, Prometheus); egress stays open: the store and the object store are the site's."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(options, options.name, app_version),
        "spec": {
            "podSelector": {"matchLabels": selector(options)},
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"port": "http", "protocol": "TCP"}]}],
        },
    }
