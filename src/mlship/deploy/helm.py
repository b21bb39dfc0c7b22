"""The Helm chart of ``mlship build k8s``: the templates shipped under ``templates/chart`` and
``Chart.yaml`` + ``values.yaml`` written from the same :class:`KubernetesOptions` as the plain
manifests, so that ``helm template`` with the default values renders the same objects."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from mlship.deploy.kubernetes import KubernetesOptions


def chart_source() -> Path:
    """The chart's static files in the installed package."""
    return Path(str(resources.files("mlship.deploy") / "templates" / "chart"))


def values(options: KubernetesOptions) -> dict[str, Any]:
    """The chart's default values."""
    return {
        "fullname": options.name,
        "model": {"name": options.model, "ref": options.ref},
        "image": options.image,
        "imagePullPolicy": "Always",
        "replicas": options.replicas,
        "maxReplicas": options.upper_replicas,
        "cpuTargetPercent": options.cpu_target_percent,
        "secretName": options.secret_name,
        "config": options.config(),
        "resources": options.resources(),
    }


def chart_metadata(options: KubernetesOptions, app_version: str) -> dict[str, Any]:
    return {
        "apiVersion": "v2",
        "name": options.name,
        "description": f"mlship serving model {options.model} ({options.ref}).",
        "type": "application",
        "version": app_version,
        "appVersion": app_version,
    }


def write_chart(options: KubernetesOptions, app_version: str, dest: Path) -> Path:
    """Write the chart into ``dest`` (created); returns it."""
    from mlship.deploy.yaml_text import dump_yaml

    shutil.copytree(chart_source(), dest, ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "Chart.yaml").write_text(dump_yaml(chart_metadata(options, app_version)))
    header = (
        "# Values of the mlship chart, written by `mlship build k8s`. The defaults render the\n"
        "# same objects as ../../manifests; override with --set or -f as with any chart.\n"
    )
    (dest / "values.yaml").write_text(header + dump_yaml(values(options)))
    return dest
