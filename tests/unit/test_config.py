from __future__ import annotations

from pathlib import Path

from mlship.config import StoreSettings, actor_from_env
from mlship.store import mask_url


def test_defaults_live_under_home() -> None:
    s = StoreSettings.from_env({"MLSHIP_HOME": "/srv/ml"})
    assert s.home == Path("/srv/ml")
    assert s.db_url == "sqlite:////srv/ml/mlship.db"
    assert s.artifacts == "/srv/ml/artifacts"
    assert s.s3_endpoint_url is None


def test_explicit_settings_win() -> None:
    s = StoreSettings.from_env(
        {
            "MLSHIP_DB_URL": "postgresql+psycopg://u@db/mlship",
            "MLSHIP_ARTIFACTS": "s3://bucket/models",
            "MLSHIP_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        }
    )
    assert s.home == Path(".mlship")
    assert (s.db_url, s.artifacts) == ("postgresql+psycopg://u@db/mlship", "s3://bucket/models")
    assert s.s3_endpoint_url == "http://127.0.0.1:9000"


def test_actor() -> None:
    assert actor_from_env({"MLSHIP_ACTOR": "ci-bot", "USER": "ann"}) == "ci-bot"
    assert actor_from_env({"USER": "ann"}) == "ann"
    assert actor_from_env({}) == "unknown"


def test_password_is_masked() -> None:
    masked = mask_url("postgresql+psycopg://bob:s3cret@db:5432/mlship")
    assert "s3cret" not in masked and "bob:***@db" in masked
