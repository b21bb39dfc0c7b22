"""The registry contract, run on every store backend (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from mlship.errors import (
    Conflict,
    IntegrityError,
    InvalidInput,
    InvalidReference,
    ModelNotFound,
    VersionNotFound,
)
from mlship.registry import Registry
from mlship.registry.profile import fingerprint_frame
from tests.conftest import RegistryFactory, fit_logreg, fit_pipeline, make_transactions


def test_versions_count_up_from_one(registry: Registry, numeric_frame: pd.DataFrame) -> None:
    model = fit_logreg(numeric_frame)
    first = registry.register(model, "fraud")
    second = registry.register(model, "fraud")
    other = registry.register(model, "churn")
    assert (first.version, second.version, other.version) == (1, 2, 1)


def test_register_captures_metadata(registry: Registry, numeric_frame: pd.DataFrame) -> None:
    model = fit_logreg(numeric_frame)
    version = registry.register(
        model,
        "fraud",
        train_data=numeric_frame,
        label="is_fraud",
        metrics={"f1": 0.81, "auc": 0.9},
        params={"C": 1.0, "max_iter": 500},
        tags={"team": "risk"},
        description="baseline",
    )
    assert version.format == "sklearn"
    assert version.metrics == {"f1": 0.81, "auc": 0.9}
    assert version.params == {"C": 1.0, "max_iter": 500}
    assert version.tags == {"team": "risk"}
    assert version.description == "baseline"
    assert version.label == "is_fraud"
    assert version.row_count == len(numeric_frame)
    assert version.signature is not None
    assert version.signature.feature_names == ["amount", "hour", "distance"]
    assert [f.dtype for f in version.signature.features] == ["float", "int", "float"]
    assert version.signature.output_kind == "classification"
    assert version.signature.classes == (0, 1)
    assert version.signature.has_proba
    assert version.data_fingerprint == fingerprint_frame(numeric_frame)
    profile = version.data_profile
    assert profile is not None
    amount = profile["features"]["amount"]
    assert amount["min"] == pytest.approx(numeric_frame["amount"].min())
    assert amount["quantiles"][50] == pytest.approx(numeric_frame["amount"].median())
    assert set(profile["features"]) == {"amount", "hour", "distance", "is_fraud"}
    assert version.environment["python"].startswith("3.11")
    assert "scikit-learn" in version.environment["packages"]
    assert version.created_at.tzinfo is not None
    assert abs(datetime.now(UTC) - version.created_at) < timedelta(minutes=5)
    assert len(version.artifact_sha256) == 64


def test_parent_is_previous_version(registry: Registry, numeric_frame: pd.DataFrame) -> None:
    model = fit_logreg(numeric_frame)
    registry.register(model, "fraud")
    assert registry.register(model, "fraud").parent_version == 1
    assert registry.register(model, "fraud", parent=1).parent_version == 1
    assert registry.get("fraud@1").parent_version is None


def test_git_commit_recorded_inside_a_repo(
    registry: Registry, numeric_frame: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    (repo / "train.py").write_text("print('train')\n")
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=repo, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    monkeypatch.chdir(repo)
    version = registry.register(fit_logreg(numeric_frame), "fraud")
    assert version.git_commit == head
    (repo / "train.py").write_text("print('changed')\n")
    assert registry.register(fit_logreg(numeric_frame), "fraud").git_commit == f"{head}-dirty"


def test_references_resolve(registry: Registry, numeric_frame: pd.DataFrame) -> None:
    model = fit_logreg(numeric_frame)
    for _ in range(3):
        registry.register(model, "fraud")
    registry.set_alias("fraud@2", "production")
    assert registry.resolve("fraud@production") == ("fraud", 2)
    assert registry.resolve("fraud@3") == ("fraud", 3)
    assert registry.resolve("fraud@latest") == ("fraud", 3)
    assert registry.resolve("fraud") == ("fraud", 3)
    assert registry.get("fraud@production").aliases == ("production",)


def test_alias_moves_and_one_version_carries_several(
    registry: Registry, numeric_frame: pd.DataFrame
) -> None:
    model = fit_logreg(numeric_frame)
    registry.register(model, "fraud")
    registry.register(model, "fraud")
    registry.set_alias("fraud@1", "production")
    registry.set_alias("fraud@1", "champion")
    assert registry.get("fraud@1").aliases == ("champion", "production")
    registry.set_alias("fraud@2", "production")
    assert registry.resolve("fraud@production") == ("fraud", 2)
    assert registry.get("fraud@1").aliases == ("champion",)


@pytest.mark.parametrize("alias", ["latest", "7", "bad alias", ""])
def test_reserved_and_invalid_aliases_are_refused(
    registry: Registry, numeric_frame: pd.DataFrame, alias: str
) -> None:
    registry.register(fit_logreg(numeric_frame), "fraud")
    with pytest.raises(InvalidReference):
        registry.set_alias("fraud@1", alias)


def test_unknown_model_lists_close_names(registry: Registry, numeric_frame: pd.DataFrame) -> None:
    registry.register(fit_logreg(numeric_frame), "fraud_detector")
    with pytest.raises(ModelNotFound, match="Did you mean: fraud_detector"):
        registry.get("fraud_detectr@production")


def test_unknown_alias_and_version_name_what_exists(
    registry: Registry, numeric_frame: pd.DataFrame
) -> None:
    registry.register(fit_logreg(numeric_frame), "fraud")
    registry.set_alias("fraud@1", "production")
    with pytest.raises(VersionNotFound, match="Did you mean: production"):
        registry.get("fraud@productoin")
    with pytest.raises(VersionNotFound, match="latest version is 1"):
        registry.get("fraud@9")


def test_archive_refused_while_aliased_and_numbers_never_reused(
    registry: Registry, numeric_frame: pd.DataFrame
) -> None:
    model = fit_logreg(numeric_frame)
    registry.register(model, "fraud")
    registry.register(model, "fraud")
    registry.set_alias("fraud@2", "production")
    with pytest.raises(Conflict, match="production"):
        registry.archive("fraud@2")
    registry.delete_alias("fraud", "production")
    archived = registry.archive("fraud@2", reason="bad calibration")
    assert archived.status == "archived"
    assert registry.resolve("fraud") == ("fraud", 1)
    assert registry.register(model, "fraud").version == 3
    with pytest.raises(Conflict, match="archived"):
        registry.set_alias("fraud@2", "staging")


def test_versions_are_immutable_but_tags_and_description_change(
    registry: Registry, numeric_frame: pd.DataFrame
) -> None:
    version = registry.register(
        fit_logreg(numeric_frame), "fraud", metrics={"f1": 0.8}, tags={"a": "1", "b": "2"}
    )
    updated = registry.update("fraud@1", tags={"a": "9", "b": None}, description="tuned")
    assert updated.tags == {"a": "9"}
    assert updated.description == "tuned"
    assert updated.metrics == version.metrics
    assert updated.artifact_sha256 == version.artifact_sha256
    assert not hasattr(registry, "set_metrics")


def test_mlship_tags_are_written_only_at_registration_by_provenance_tags(
    registry: Registry, numeric_frame: pd.DataFrame
) -> None:
    """Check that the 'mlship.' prefix (what ``mlship reproduce`` runs) is set once, by
    ``provenance_tags``, and that no tag or update can set, change or delete it."""
    model = fit_logreg(numeric_frame)
    recipe = '{"command": "python train.py"}'
    with pytest.raises(InvalidInput, match=r"The tag 'mlship\.train' is reserved.*other prefix"):
        registry.register(model, "fraud", tags={"mlship.train": recipe})
    with pytest.raises(InvalidInput, match=r"The tag 'MLship\.Train' is reserved"):
        registry.register(model, "fraud", tags={"MLship.Train": recipe})
    with pytest.raises(InvalidInput, match=r"only tags starting with 'mlship\.'\. Got 'team'"):
        registry.register(model, "fraud", provenance_tags={"team": "risk"})
    assert registry.list_models() == []

    version = registry.register(
        model, "fraud", tags={"team": "risk"}, provenance_tags={"mlship.train": recipe}
    )
    assert version.tags == {"team": "risk", "mlship.train": recipe}
    for change in ({"mlship.train": "x"}, {"mlship.train": None}, {"mlship.other": "x"}):
        key = next(iter(change))
        with pytest.raises(InvalidInput, match=f"The tag '{key}' is reserved"):
            registry.update("fraud@1", tags=change)
    assert registry.get("fraud@1").tags == version.tags
    updated = registry.update("fraud@1", tags={"team": None, "owner": "ana"})
    assert updated.tags == {"mlship.train": recipe, "owner": "ana"}
    assert [e.kind for e in registry.history("fraud")] == ["registered", "updated"]


def test_registered_event_records_what_loading_trusts(
    registry: Registry, numeric_frame: pd.DataFrame, tmp_path: Path
) -> None:
    """Check that the ledger keeps, from registration, whether the artifact is a trusted pickle
    and which types skops loads beyond its defaults (the load spec can be rewritten later)."""
    import joblib
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = numeric_frame.drop(columns=["is_fraud"]), numeric_frame["is_fraud"]
    path = tmp_path / "model.joblib"
    joblib.dump(fit_logreg(numeric_frame), path)
    registry.register(fit_logreg(numeric_frame), "fraud")
    registry.register(HistGradientBoostingClassifier(max_iter=5).fit(X, y), "fraud")
    registry.register(path, "fraud", trusted=True)

    events = [e for e in registry.history("fraud") if e.kind == "registered"]
    trust = [{k: e.details[k] for k in ("trusted", "serializer", "trusted_types")} for e in events]
    assert trust[0] == {"trusted": False, "serializer": "skops", "trusted_types": []}
    assert trust[1]["trusted"] is False and trust[1]["serializer"] == "skops"
    assert (
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
        in (trust[1]["trusted_types"])
    )
    assert trust[2] == {"trusted": True, "serializer": "joblib", "trusted_types": []}
    assert events[2].details["sha256"] == registry.get("fraud@3").artifact_sha256


def test_ledger_answers_which_version_was_production_when(
    registry: Registry, numeric_frame: pd.DataFrame
) -> None:
    model = fit_logreg(numeric_frame)
    registry.register(model, "fraud")
    registry.register(model, "fraud")
    before = datetime.now(UTC)
    registry.set_alias("fraud@1", "production", reason="first launch")
    middle = datetime.now(UTC)
    registry.set_alias("fraud@2", "production")
    after = datetime.now(UTC)
    registry.delete_alias("fraud", "production")
    assert registry.alias_at("fraud", "production", before - timedelta(seconds=1)) is None
    assert registry.alias_at("fraud", "production", middle) == 1
    assert registry.alias_at("fraud", "production", after) == 2
    assert registry.alias_at("fraud", "production", datetime.now(UTC)) is None
    events = registry.history("fraud")
    assert [e.kind for e in events] == [
        "registered",
        "registered",
        "alias_set",
        "alias_set",
        "alias_deleted",
    ]
    assert events[2].reason == "first launch"
    assert events[2].actor == "tester"
    assert events[3].details == {"alias": "production", "previous_version": 1}


def test_load_predicts_like_the_original(registry: Registry, transactions: pd.DataFrame) -> None:
    model = fit_pipeline(transactions)
    registry.register(model, "fraud", train_data=transactions, label="is_fraud")
    registry.set_alias("fraud@1", "production")
    loaded = registry.load("fraud@production")
    features = transactions.drop(columns=["is_fraud"])
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))
    np.testing.assert_allclose(loaded.predict_proba(features), model.predict_proba(features))


def test_load_accepts_rows_of_dicts_in_any_column_order(
    registry: Registry, numeric_frame: pd.DataFrame
) -> None:
    model = fit_logreg(numeric_frame)
    registry.register(model, "fraud", train_data=numeric_frame, label="is_fraud")
    loaded = registry.load("fraud")
    rows = [{"distance": 3.0, "amount": 120.0, "hour": 3, "extra": "ignored"}]
    expected = model.predict_proba(pd.DataFrame([{"amount": 120.0, "hour": 3, "distance": 3.0}]))
    np.testing.assert_allclose(loaded.predict_proba(rows), expected)


def test_load_names_missing_feature_and_wrong_type(
    registry: Registry, numeric_frame: pd.DataFrame
) -> None:
    registry.register(
        fit_logreg(numeric_frame), "fraud", train_data=numeric_frame, label="is_fraud"
    )
    loaded = registry.load("fraud")
    with pytest.raises(InvalidInput, match=r"Missing feature.*distance"):
        loaded.predict([{"amount": 1.0, "hour": 3}])
    with pytest.raises(InvalidInput, match="'amount' must be float; row 1 has 'lots'"):
        loaded.predict(
            [
                {"amount": 1.0, "hour": 3, "distance": 1.0},
                {"amount": "lots", "hour": 3, "distance": 1.0},
            ]
        )


def test_load_is_cached_per_registry(registry: Registry, numeric_frame: pd.DataFrame) -> None:
    registry.register(fit_logreg(numeric_frame), "fraud")
    assert registry.load("fraud@1") is registry.load("fraud@latest")


def test_tampered_artifact_is_refused(
    registry_factory: RegistryFactory, numeric_frame: pd.DataFrame, tmp_path: Path
) -> None:
    registry = registry_factory()
    version = registry.register(fit_logreg(numeric_frame), "fraud")
    stored = Path(version.artifact_uri)
    stored.write_bytes(stored.read_bytes() + b"tampered")
    fresh = registry_factory()
    with pytest.raises(IntegrityError) as info:
        fresh.load("fraud@1")
    assert version.artifact_sha256 in str(info.value)
    assert "Nothing was loaded" in str(info.value)


def test_training_data_without_label_or_features_is_named(
    registry: Registry, numeric_frame: pd.DataFrame
) -> None:
    model = fit_logreg(numeric_frame)
    with pytest.raises(InvalidInput, match="no label column 'fraud'"):
        registry.register(model, "fraud", train_data=numeric_frame, label="fraud")
    with pytest.raises(InvalidInput, match="lacks features the model needs: distance"):
        registry.register(
            model, "fraud", train_data=numeric_frame.drop(columns=["distance"]), label="is_fraud"
        )
    with pytest.raises(ModelNotFound):
        registry.get("fraud")


def test_training_data_from_csv_and_parquet_files(
    registry: Registry, numeric_frame: pd.DataFrame, tmp_path: Path
) -> None:
    model = fit_logreg(numeric_frame)
    numeric_frame.to_csv(tmp_path / "train.csv", index=False)
    numeric_frame.to_parquet(tmp_path / "train.parquet")
    a = registry.register(model, "fraud", train_data=tmp_path / "train.csv", label="is_fraud")
    b = registry.register(
        model, "fraud", train_data=str(tmp_path / "train.parquet"), label="is_fraud"
    )
    assert a.data_fingerprint == b.data_fingerprint == fingerprint_frame(numeric_frame)
    (tmp_path / "train.xlsx").write_bytes(b"PK")
    with pytest.raises(InvalidInput, match="Use CSV"):
        registry.register(model, "fraud", train_data=tmp_path / "train.xlsx")


def test_bad_metrics_are_refused(registry: Registry, numeric_frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="Metric 'f1' must be a number"):
        registry.register(fit_logreg(numeric_frame), "fraud", metrics={"f1": "high"})
    with pytest.raises(InvalidInput, match="finite"):
        registry.register(fit_logreg(numeric_frame), "fraud", metrics={"f1": float("nan")})


def test_list_models_and_versions(registry: Registry, numeric_frame: pd.DataFrame) -> None:
    model = fit_logreg(numeric_frame)
    registry.register(model, "fraud")
    registry.register(model, "fraud")
    registry.register(model, "churn")
    registry.set_alias("fraud@1", "production")
    summaries = {s.name: s for s in registry.list_models()}
    assert summaries["fraud"].latest_version == 2
    assert summaries["fraud"].versions == 2
    assert summaries["fraud"].aliases == {"production": 1}
    assert [v.version for v in registry.list_versions("fraud")] == [2, 1]


def test_reopening_keeps_everything(
    registry_factory: RegistryFactory, numeric_frame: pd.DataFrame
) -> None:
    first = registry_factory()
    first.register(fit_logreg(numeric_frame), "fraud", metrics={"f1": 0.7})
    first.set_alias("fraud@1", "production")
    second = registry_factory()
    assert second.get("fraud@production").metrics == {"f1": 0.7}
    np.testing.assert_array_equal(
        second.load("fraud@production").predict(numeric_frame.drop(columns=["is_fraud"])),
        first.load("fraud@1").predict(numeric_frame.drop(columns=["is_fraud"])),
    )


def test_store_tables_match_migrations(registry: Registry) -> None:
    """Check that the Alembic migrations build exactly the tables the code declares."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from mlship.store.schema import SCHEMA_REVISION, metadata

    with registry.store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
        assert (
            conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            == SCHEMA_REVISION
        )


def test_fingerprint_differs_when_rows_change(registry: Registry) -> None:
    a = make_transactions(seed=1).drop(columns=["country"])
    b = a.copy()
    b.loc[3, "amount"] += 1
    model = fit_logreg(a)
    va = registry.register(model, "fraud", train_data=a, label="is_fraud")
    vb = registry.register(model, "fraud", train_data=b, label="is_fraud")
    assert va.data_fingerprint != vb.data_fingerprint
