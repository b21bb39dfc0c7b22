"""``mlship build k8s``: every manifest validates against the Kubernetes 1.30 schemas, the Helm
chart (rendered and linted by Helm's own Go SDK) produces the same objects, and checkov finds
nothing but the one finding the design asks for."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from mlship.config import StoreSettings
from mlship.registry import Registry
from tests.conftest import fit_logreg

REPO = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.30.0"
IMAGE = "registry.example.com/mlship-fraud@sha256:" + "ab" * 32
KINDS = [
    "ConfigMap",
    "Deployment",
    "HorizontalPodAutoscaler",
    "NetworkPolicy",
    "PodDisruptionBudget",
    "Service",
]
ACCEPTED_CHECKOV = {
    # The issue asks for MLSHIP_DB_URL, MLSHIP_TOKEN and S3 credentials as environment variables
    # from a Secret: mlship (and botocore) read their settings from the environment.
    "CKV_K8S_35": "Prefer using secrets as files over secrets as environment variables",
}


def _mlship(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MLSHIP_")}
    return subprocess.run(
        [sys.executable, "-m", "mlship", *args],
        env={**base, "MLSHIP_HOME": str(home), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _build(tmp_path: Path, *extra: str) -> Path:
    """Manifests and chart for fraud, built without a registry (--offline)."""
    out = tmp_path / "k8s"
    done = _mlship(
        tmp_path / "home",
        *("build", "k8s", "fraud", "--out", str(out), "--offline", "--image", IMAGE),
        *("--artifacts", "s3://models/mlship", "--replicas", "3", *extra),
    )
    assert done.returncode == 0, done.stderr
    return out


def _objects(folder: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted(folder.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found[doc["kind"]] = doc
    return found


def _render(chart: Path, values: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """``helm template`` through Helm's Go SDK (helm-python-sdk): release = the chart's name."""
    import helm_python as helm

    found = {}
    with helm.Chart.load(str(chart)) as loaded:
        rendered = loaded.render(values, name=chart.name, namespace="mlship")
    for text in rendered.values():
        for doc in yaml.safe_load_all(text):
            if doc:
                found[doc["kind"]] = doc
    return found


def _validate(obj: dict[str, Any]) -> None:
    import kubernetes_validate

    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_every_manifest_validates_against_kubernetes_1_30(tmp_path: Path) -> None:
    import kubernetes_validate

    objects = _objects(_build(tmp_path) / "manifests")
    assert sorted(objects) == KINDS
    for obj in objects.values():
        _validate(obj)
    # The validator is live: a misspelt field and a wrong type fail.
    bad = copy.deepcopy(objects["Deployment"])
    bad["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(bad)
    bad = copy.deepcopy(objects["HorizontalPodAutoscaler"])
    bad["spec"]["minReplicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(bad)


def test_deployment_has_probes_resources_security_and_secrets(tmp_path: Path) -> None:
    objects = _objects(_build(tmp_path, "--cpu", "500m", "--memory", "2Gi") / "manifests")
    deployment = objects["Deployment"]
    assert deployment["metadata"]["namespace"] == "mlship"
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["image"] == IMAGE
    assert container["command"] == ["mlship", "serve"]
    assert container["args"][-2:] == ["--model", "fraud@production"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["resources"] == {
        "limits": {"cpu": "500m", "memory": "2Gi"},
        "requests": {"cpu": "500m", "memory": "2Gi"},
    }
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    secrets = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert sorted(secrets) == [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "MLSHIP_DB_URL",
        "MLSHIP_TOKEN",
    ]
    assert {ref["name"] for ref in secrets.values()} == {"mlship-fraud-secrets"}
    assert container["envFrom"] == [{"configMapRef": {"name": "mlship-fraud-config"}}]
    # Writable folders on a read-only root: MLSHIP_HOME (cache, spill) and /tmp.
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"/var/lib/mlship", "/tmp"}
    config = objects["ConfigMap"]["data"]
    assert config["MLSHIP_ARTIFACTS"] == "s3://models/mlship"
    assert config["MLSHIP_HOME"] == "/var/lib/mlship"
    assert "MLSHIP_DB_URL" not in config and "MLSHIP_TOKEN" not in config
    hpa = objects["HorizontalPodAutoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 9)
    assert objects["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1
    assert objects["Service"]["spec"]["ports"][0]["targetPort"] == "http"


def test_helm_chart_renders_the_same_objects_and_lints_clean(tmp_path: Path) -> None:
    """Check the chart with Helm itself (v4 Go SDK through helm-python-sdk; no helm binary):
    lint, render with the default values (= the manifests), render with overrides, and the
    values schema."""
    import helm_python as helm

    out = _build(tmp_path)
    chart = out / "helm" / "mlship-fraud"
    lint = helm.lint(str(chart))
    assert lint["errors"] == []
    assert [m for m in lint["messages"] if m["severity"] > 1] == []  # 1 = INFO ("icon")

    rendered = _render(chart)
    assert rendered == _objects(out / "manifests")

    changed = _render(chart, {"replicas": 5, "maxReplicas": 20, "image": "mlship-fraud:7"})
    for obj in changed.values():
        _validate(obj)
    assert changed["Deployment"]["spec"]["replicas"] == 5
    assert changed["HorizontalPodAutoscaler"]["spec"]["minReplicas"] == 5
    assert changed["Deployment"]["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "mlship-fraud:7"
    )
    with helm.Chart.load(str(chart)) as loaded, pytest.raises(helm.HelmError):
        loaded.validate_schema({"replicas": 0})


def _checkov() -> str:
    found = (
        os.environ.get("MLSHIP_CHECKOV")
        or shutil.which("checkov", path=str(REPO / ".tools" / "checkov" / "bin"))
        or shutil.which("checkov")
    )
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("checkov is missing (make test installs it into .tools/checkov).")
        pytest.skip("checkov is missing: make .tools/checkov/bin/checkov installs it.")
    return found


@pytest.mark.slow
def test_checkov_finds_nothing_but_the_secret_env_finding(tmp_path: Path) -> None:
    """Open-source checkov reports no severities (they come from its SaaS), so this is stricter
    than "no high-severity finding": every failed check is listed in ACCEPTED_CHECKOV."""
    out = _build(tmp_path)
    rendered = tmp_path / "rendered"
    rendered.mkdir()
    for kind, obj in _render(out / "helm" / "mlship-fraud").items():
        (rendered / f"{kind.lower()}.yaml").write_text(yaml.safe_dump(obj))
    for folder in (out / "manifests", rendered):
        done = subprocess.run(
            [
                *(_checkov(), "--directory", str(folder), "--framework", "kubernetes"),
                *("--output", "json", "--quiet", "--compact", "--skip-download"),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "LOG_LEVEL": "WARNING"},
        )
        report = json.loads(done.stdout)
        assert report["summary"]["parsing_errors"] == 0
        assert report["summary"]["resource_count"] >= len(KINDS)
        assert report["summary"]["passed"] > 50
        failed = {c["check_id"]: c["check_name"] for c in report["results"]["failed_checks"]}
        assert set(failed) <= set(ACCEPTED_CHECKOV), failed


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    common = ("--offline", "--image", IMAGE, "--artifacts", "s3://m/x")
    for args, message in [
        (("--replicas", "0"), "The 'replicas' option must be an integer from 1 to 1000. Got 0"),
        (("--max-replicas", "2"), "The 'max-replicas' option must be an integer >= replicas (3)"),
        (("--memory", "lots"), "The 'memory' option must be a memory quantity"),
    ]:
        done = _mlship(home, "build", "k8s", "fraud", "--out", str(tmp_path / "o"), *common, *args)
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    local = _mlship(home, "build", "k8s", "fraud", "--out", str(tmp_path / "o"), "--offline")
    assert local.returncode == 2 and "--offline needs --image" in local.stderr
    assert not (tmp_path / "o").exists()

    folder = _build(tmp_path)
    again = _mlship(home, "build", "k8s", "fraud", "--out", str(folder), *common, "--replicas", "4")
    assert again.returncode == 2 and "is not empty" in again.stderr
    forced = _mlship(
        home, "build", "k8s", "fraud", "--out", str(folder), *common, "--replicas", "4", "--force"
    )
    assert forced.returncode == 0, forced.stderr
    assert _objects(folder / "manifests")["Deployment"]["spec"]["replicas"] == 4


def test_online_build_checks_the_model_and_tags_the_image_with_its_version(
    tmp_path: Path, numeric_frame: pd.DataFrame
) -> None:
    home = tmp_path / "home"
    registry = Registry.open(StoreSettings.from_env({"MLSHIP_HOME": str(home)}))
    try:
        registry.register(fit_logreg(numeric_frame), "Fraud_v2", train_data=numeric_frame)
        registry.set_alias("Fraud_v2@1", "production")
    finally:
        registry.close()
    out = tmp_path / "k8s"
    local = _mlship(home, "build", "k8s", "Fraud_v2", "--out", str(out))
    assert local.returncode == 2
    assert "Pass --artifacts s3://bucket/prefix" in local.stderr
    unknown = _mlship(home, "build", "k8s", "fraud", "--out", str(out), "--artifacts", "s3://m")
    assert unknown.returncode == 2
    assert unknown.stderr.count("\n") == 1 and "No model named 'fraud'" in unknown.stderr
    done = _mlship(
        home, "build", "k8s", "Fraud_v2", "--out", str(out), "--json",
        MLSHIP_ARTIFACTS="s3://models/prod",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["image"] == "mlship-fraud_v2:1"  # the Docker tag of `build docker`
    assert report["serves"] == "Fraud_v2@production"
    objects = _objects(out / "manifests")
    assert objects["Service"]["metadata"]["name"] == "mlship-fraud-v2"
    assert objects["ConfigMap"]["data"]["MLSHIP_ARTIFACTS"] == "s3://models/prod"
    for obj in objects.values():
        _validate(obj)
    assert _render(out / "helm" / "mlship-fraud-v2") == objects
