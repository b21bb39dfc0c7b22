"""Shared fixtures: store backends (SQLite, PostgreSQL), registries, a moto S3 server, data."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlship.registry import ArtifactStore, Registry
from mlship.store import open_store

PG_URL = os.environ.get("MLSHIP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_reachable(url: str) -> bool:
    import sqlalchemy as sa

    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def pg_base_url() -> str:
    """The PostgreSQL test server; its absence fails the run under CI, else skips."""
    if not _pg_reachable(PG_URL):
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_URL}, and CI is set.")
        pytest.skip(f"PostgreSQL is not reachable at {PG_URL} (set CI to make this an error).")
    return PG_URL


@pytest.fixture
def pg_schema_url(pg_base_url: str) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(pg_base_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{pg_base_url}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every store backend: the whole registry contract runs on each."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mlship.db'}"
    return str(request.getfixturevalue("pg_schema_url"))


RegistryFactory = Callable[..., Registry]


@pytest.fixture
def registry_factory(db_url: str, tmp_path: Path) -> Iterator[RegistryFactory]:
    """Build registries on the test's store; each call opens a new one (as a new process would)."""
    opened: list[Registry] = []

    def make(artifacts: str | None = None, s3_endpoint_url: str | None = None) -> Registry:
        store = open_store(db_url)
        root = artifacts or str(tmp_path / "artifacts")
        registry = Registry(
            store,
            ArtifactStore(root, s3_endpoint_url=s3_endpoint_url),
            cache_dir=tmp_path / "cache",
            actor="tester",
        )
        opened.append(registry)
        return registry

    yield make
    for registry in opened:
        registry.close()


@pytest.fixture
def registry(registry_factory: RegistryFactory) -> Registry:
    return registry_factory()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on loopback, in its own process, with fake credentials in the env."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("moto server did not start within 30 s")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        yield endpoint
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A fresh bucket on the moto server; returns its name."""
    import boto3

    name = f"b-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


# ------------------------------------------------------------------------------------------ data


def make_transactions(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """A small seeded fraud-like frame: numeric, categorical and a binary label."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "amount": rng.gamma(2.0, 30.0, rows),
            "hour": rng.integers(0, 24, rows),
            "distance": rng.normal(10, 4, rows),
            "country": rng.choice(["DE", "FR", "US"], rows),
        }
    )
    logit = 0.02 * frame["amount"] - 0.3 * frame["distance"] + (frame["country"] == "US") * 1.0
    frame["is_fraud"] = (logit + rng.normal(0, 1, rows) > 0).astype(int)
    return frame


@pytest.fixture
def transactions() -> pd.DataFrame:
    return make_transactions()


@pytest.fixture
def numeric_frame(transactions: pd.DataFrame) -> pd.DataFrame:
    """The transactions without the categorical column (what plain estimators take)."""
    return transactions.drop(columns=["country"])


def fit_logreg(frame: pd.DataFrame, label: str = "is_fraud") -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=500).fit(frame.drop(columns=[label]), frame[label])


def fit_pipeline(frame: pd.DataFrame, label: str = "is_fraud") -> Any:
    """A scikit-learn pipeline with one-hot encoding of the categorical column."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    features = frame.drop(columns=[label])
    numeric = [c for c in features.columns if c != "country"]
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["country"]),
        ]
    )
    return make_pipeline(pre, LogisticRegression(max_iter=500)).fit(features, frame[label])
