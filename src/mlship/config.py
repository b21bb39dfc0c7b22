"""Settings read from the environment (prefix ``MLSHIP_``).

Tests inject an environment mapping instead of touching ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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


PROJECT_FILE = "mlship.toml"


def read_project_config(path: str | Path | None = None) -> dict[str, Any]:
    """The tables of ``mlship.toml`` (``path``, else ``./mlship.toml`` if it exists, else empty).

    A syntax error names the file and the line.
    """
    import tomllib

    from mlship.errors import ConfigError

    if path is None:
        candidate = Path(PROJECT_FILE)
        if not candidate.is_file():
            return {}
        path = candidate
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"The config file {path} does not exist.")
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}.") from None


def config_table(config: dict[str, Any], name: str) -> dict[str, Any]:
    """One table (e.g. ``gates``) of a project config; a non-table value is an error."""
    from mlship.errors import ConfigError

    table = config.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"[{name}] in {PROJECT_FILE} must be a table, e.g. [{name}] then keys.")
    return table
