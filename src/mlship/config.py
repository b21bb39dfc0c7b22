"""Settings read from the environment (prefix ``MLSHIP_``).

Tests inject an environment mapping instead of touching ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """Where mlship keeps its metadata and its artifacts."""

    home: Path
    """``MLSHIP_HOME``: folder of the default SQLite database and artifacts (``./.mlship``)."""

    db_url: str
    """``MLSHIP_DB_URL``: SQLAlchemy URL; default ``sqlite:///$MLSHIP_HOME/mlship.db``."""

    artifacts: str
    """``MLSHIP_ARTIFACTS``: fsspec URL or folder of artifacts (``$MLSHIP_HOME/artifacts``)."""

    s3_endpoint_url: str | None
    """``MLSHIP_S3_ENDPOINT_URL``: endpoint of ``s3://`` artifacts (MinIO, moto); None = AWS."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StoreSettings:
        env = os.environ if environ is None else environ
        home = Path(env.get("MLSHIP_HOME") or ".mlship").expanduser()
        db_url = env.get("MLSHIP_DB_URL") or f"sqlite:///{home / 'mlship.db'}"
        artifacts = env.get("MLSHIP_ARTIFACTS") or str(home / "artifacts")
        endpoint = env.get("MLSHIP_S3_ENDPOINT_URL") or None
        return cls(home=home, db_url=db_url, artifacts=artifacts, s3_endpoint_url=endpoint)


def actor_from_env(environ: Mapping[str, str] | None = None) -> str:
    """Who is acting, for the ledger: ``MLSHIP_ACTOR``, else the login name."""
    env = os.environ if environ is None else environ
    explicit = env.get("MLSHIP_ACTOR")
    if explicit:
        return explicit
    for key in ("USER", "LOGNAME", "USERNAME"):
        if env.get(key):
            return env[key]
    return "unknown"
