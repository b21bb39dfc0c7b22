"""Baking one version into a build context: a registry of its own, one version in it.

The container serves it with an unchanged ``mlship serve --model NAME@VERSION``: the baked folder
is the container's ``MLSHIP_HOME`` (SQLite store + content-addressed artifacts), and the registry
checks the artifact's SHA-256 on every load, so a changed file never loads.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlship.registry.artifacts import ArtifactStore

if TYPE_CHECKING:
    from mlship.registry import ModelVersion, Registry

DB_FILE = "mlship.db"
ARTIFACTS_DIR = "artifacts"
CHECKSUMS_FILE = "SHA256SUMS"


@dataclass(frozen=True, slots=True)
class BakedModel:
    """Where the baked store lies and the artifact it holds."""

    home: Path
    artifact: str
    """The artifact's path relative to ``home``."""
    sha256: str


def bake_version(
    source: Registry, version: ModelVersion, home: Path, image_home: str
) -> BakedModel:
    """Write a registry holding only ``version`` (same number, metadata and aliases) under
    ``home``; ``image_home`` is where ``home`` lies in the image (recorded as the artifact URI).

    The artifact is fetched from ``source`` with its hash verified, then stored content-addressed.
    The ledger of the new store starts with one ``imported`` event naming the source store.
    """
    import sqlalchemy as sa

    from mlship.store import open_store, utcnow
    from mlship.store.schema import aliases, events, model_versions, models

    home.mkdir(parents=True, exist_ok=True)
    sha = version.artifact_sha256
    with tempfile.TemporaryDirectory(prefix="mlship-bake-") as tmp:
        local = source.artifacts.fetch(sha, Path(tmp) / sha)
        stored = ArtifactStore(str(home / ARTIFACTS_DIR)).put_file(local)
    relative = f"{ARTIFACTS_DIR}/sha256/{sha[:2]}/{sha}"
    store = open_store(f"sqlite:///{home / DB_FILE}")
    try:
        with store.write() as conn:
            now = utcnow()
            model_id = conn.execute(
                sa.insert(models)
                .values(name=version.name, created_at=now, last_version=version.version)
                .returning(models.c.id)
            ).scalar_one()
            conn.execute(
                sa.insert(model_versions).values(
                    model_id=model_id,
                    version=version.version,
                    created_at=version.created_at,
                    status=version.status,
                    format=version.format,
                    artifact_uri=f"{image_home.rstrip('/')}/{relative}",
                    artifact_sha256=stored.sha256,
                    artifact_size=stored.size,
                    load_spec=version.load_spec,
                    signature=version.signature.to_dict() if version.signature else None,
                    metrics=version.metrics,
                    params=version.params,
                    tags=version.tags,
                    description=version.description,
                    label=version.label,
                    data_fingerprint=version.data_fingerprint,
                    data_profile=version.data_profile,
                    row_count=version.row_count,
                    environment=version.environment,
                    git_commit=version.git_commit,
                    parent_version=version.parent_version,
                )
            )
            for alias in version.aliases:
                conn.execute(
                    sa.insert(aliases).values(
                        model_id=model_id, alias=alias, version=version.version, updated_at=now
                    )
                )
            conn.execute(
                sa.insert(events).values(
                    at=now,
                    model=version.name,
                    version=version.version,
                    kind="imported",
                    actor=source.actor,
                    reason="baked into a Docker build context",
                    details={"source": source.store.url, "sha256": sha},
                )
            )
    finally:
        store.close()
    _fold_wal(home / DB_FILE)
    (home / CHECKSUMS_FILE).write_text(f"{sha}  {relative}\n")
    return BakedModel(home=home, artifact=relative, sha256=sha)


def _fold_wal(db: Path) -> None:
    """Fold the write-ahead log into the database file, so that the context carries one file
    (the server turns WAL on again when it opens the store)."""
    import sqlite3

    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()
