"""Artifacts on S3: a real moto server on loopback stands in for the bucket."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio

from mlship.errors import ArtifactNotFound, IntegrityError
from mlship.registry import ModelVersion, Registry
from tests.conftest import RegistryFactory, fit_logreg

pytestmark = pytest.mark.s3

PREFIX = "models"
LABEL = "is_fraud"


@pytest.fixture
def s3_registry_factory(
    registry_factory: RegistryFactory, s3_endpoint: str, s3_bucket: str
) -> RegistryFactory:
    """Registries whose artifacts live under ``s3://<bucket>/models``."""

    def make() -> Registry:
        return registry_factory(artifacts=f"s3://{s3_bucket}/{PREFIX}", s3_endpoint_url=s3_endpoint)

    return make


@pytest.fixture
def s3_client(s3_endpoint: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=s3_endpoint)


@pytest.fixture
def skops_file(numeric_frame: pd.DataFrame, tmp_path: Path) -> Path:
    """The fraud model saved once, so registering it twice stores the same bytes."""
    path = tmp_path / "fraud.skops"
    sio.dump(fit_logreg(numeric_frame), path)
    return path


def key_of(version: ModelVersion) -> str:
    sha = version.artifact_sha256
    return f"{PREFIX}/sha256/{sha[:2]}/{sha}"


def keys_in(s3_client: Any, bucket: str) -> list[str]:
    listing = s3_client.list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def cached_files(tmp_path: Path) -> list[Path]:
    """Files the registries of this test fetched into their cache (``registry_factory``'s)."""
    return [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


def test_model_registered_on_s3_loads_with_the_same_predictions(
    s3_registry_factory: RegistryFactory, numeric_frame: pd.DataFrame, s3_bucket: str
) -> None:
    """Check that a second registry (as in another process) loads the model from the bucket."""
    model = fit_logreg(numeric_frame)
    rows = numeric_frame.drop(columns=[LABEL])

    version = s3_registry_factory().register(model, "fraud", train_data=numeric_frame, label=LABEL)
    loaded = s3_registry_factory().load("fraud@1")

    assert version.artifact_uri == f"s3://{s3_bucket}/{key_of(version)}"
    np.testing.assert_array_equal(loaded.predict(rows), model.predict(rows))
    np.testing.assert_array_equal(loaded.predict_proba(rows), model.predict_proba(rows))


def test_artifact_is_stored_at_its_content_address(
    s3_registry_factory: RegistryFactory, skops_file: Path, s3_client: Any, s3_bucket: str
) -> None:
    version = s3_registry_factory().register(skops_file, "fraud")

    stored = s3_client.get_object(Bucket=s3_bucket, Key=key_of(version))["Body"].read()

    assert version.artifact_sha256 == hashlib.sha256(skops_file.read_bytes()).hexdigest()
    assert hashlib.sha256(stored).hexdigest() == version.artifact_sha256
    assert version.artifact_size == len(stored)
    assert keys_in(s3_client, s3_bucket) == [key_of(version)]


def test_registering_the_same_bytes_twice_stores_one_object(
    s3_registry_factory: RegistryFactory, skops_file: Path, s3_client: Any, s3_bucket: str
) -> None:
    registry = s3_registry_factory()

    first = registry.register(skops_file, "fraud")
    second = registry.register(skops_file, "fraud")

    assert (first.version, second.version) == (1, 2)
    assert first.artifact_sha256 == second.artifact_sha256
    assert keys_in(s3_client, s3_bucket) == [key_of(first)]


def test_changed_object_raises_integrity_error_naming_both_hashes(
    s3_registry_factory: RegistryFactory,
    skops_file: Path,
    s3_client: Any,
    s3_bucket: str,
    tmp_path: Path,
) -> None:
    version = s3_registry_factory().register(skops_file, "fraud")
    tampered = b"not the registered model"
    s3_client.put_object(Bucket=s3_bucket, Key=key_of(version), Body=tampered)

    with pytest.raises(IntegrityError) as changed:
        s3_registry_factory().load("fraud@1")

    assert version.artifact_sha256 in str(changed.value)
    assert hashlib.sha256(tampered).hexdigest() in str(changed.value)
    assert "Nothing was loaded" in str(changed.value)
    assert cached_files(tmp_path) == []


def test_deleted_object_raises_artifact_not_found(
    s3_registry_factory: RegistryFactory,
    skops_file: Path,
    s3_client: Any,
    s3_bucket: str,
    tmp_path: Path,
) -> None:
    version = s3_registry_factory().register(skops_file, "fraud")
    s3_client.delete_object(Bucket=s3_bucket, Key=key_of(version))

    with pytest.raises(ArtifactNotFound, match=version.artifact_sha256[:12]):
        s3_registry_factory().load("fraud@1")
    assert cached_files(tmp_path) == []


@pytest.mark.parametrize("damage", ["changed", "deleted"])
def test_registering_the_same_bytes_again_repairs_the_object(
    s3_registry_factory: RegistryFactory,
    skops_file: Path,
    numeric_frame: pd.DataFrame,
    s3_client: Any,
    s3_bucket: str,
    damage: str,
) -> None:
    """Check that 'register the model again', which the errors advise, does restore the object."""
    registry = s3_registry_factory()
    version = registry.register(skops_file, "fraud")
    if damage == "changed":
        s3_client.put_object(Bucket=s3_bucket, Key=key_of(version), Body=b"damaged")
    else:
        s3_client.delete_object(Bucket=s3_bucket, Key=key_of(version))

    registry.register(skops_file, "fraud")
    loaded = s3_registry_factory().load("fraud@1")

    stored = s3_client.get_object(Bucket=s3_bucket, Key=key_of(version))["Body"].read()
    assert stored == skops_file.read_bytes()
    rows = numeric_frame.drop(columns=[LABEL])
    expected = sio.load(skops_file).predict(rows)
    np.testing.assert_array_equal(loaded.predict(rows), expected)


def test_registry_from_env_keeps_artifacts_on_s3(
    s3_endpoint: str,
    s3_bucket: str,
    s3_client: Any,
    numeric_frame: pd.DataFrame,
    tmp_path: Path,
) -> None:
    """Check that MLSHIP_ARTIFACTS and MLSHIP_S3_ENDPOINT_URL alone put artifacts in the bucket."""
    model = fit_logreg(numeric_frame)
    rows = numeric_frame.drop(columns=[LABEL])
    environ = {
        "MLSHIP_HOME": str(tmp_path / "home"),
        "MLSHIP_ARTIFACTS": f"s3://{s3_bucket}/p",
        "MLSHIP_S3_ENDPOINT_URL": s3_endpoint,
    }
    registry = Registry.from_env(environ)
    try:
        version = registry.register(model, "fraud", train_data=numeric_frame, label=LABEL)
        loaded = registry.load("fraud@1")
    finally:
        registry.close()

    sha = version.artifact_sha256
    assert version.artifact_uri == f"s3://{s3_bucket}/p/sha256/{sha[:2]}/{sha}"
    assert keys_in(s3_client, s3_bucket) == [f"p/sha256/{sha[:2]}/{sha}"]
    assert not (tmp_path / "home" / "artifacts").exists()
    np.testing.assert_array_equal(loaded.predict(rows), model.predict(rows))
