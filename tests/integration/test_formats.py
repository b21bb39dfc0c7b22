"""The model-format contract: every format registers, loads back and predicts like the original.

Each test runs on every store backend (the ``registry`` fixture is parametrized over SQLite and
PostgreSQL).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge

from mlship.errors import UnsafeArtifact, UnsupportedFormat
from mlship.registry import Feature, Registry, Signature
from tests.conftest import RegistryFactory, fit_logreg, fit_pipeline

LABEL = "is_fraud"
NUMERIC_FEATURES = (
    Feature("amount", "float"),
    Feature("hour", "int"),
    Feature("distance", "float"),
)

# MLflow warns about its own type hints when mlflow.pyfunc is first imported.
mlflow_import_warning = pytest.mark.filterwarnings(
    "ignore:.*Any type hint is inferred as AnyType:UserWarning"
)


class AmountRule:
    """A hand-written classifier: the fraud probability rises with the amount."""

    def __init__(self, cut: float, scale: float) -> None:
        self.cut = cut
        self.scale = scale
        self.classes_ = np.array([0, 1])

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        fraud = 1.0 / (1.0 + np.exp(-(frame["amount"].to_numpy() - self.cut) / self.scale))
        return np.column_stack([1.0 - fraud, fraud])

    def predict(self, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        return self.classes_[self.predict_proba(frame).argmax(axis=1)]


def features(frame: pd.DataFrame, label: str = LABEL) -> pd.DataFrame:
    return frame.drop(columns=[label])


def classifier_signature(inputs: tuple[Feature, ...] = NUMERIC_FEATURES) -> Signature:
    return Signature(features=inputs, output_kind="classification", classes=(0, 1), has_proba=True)


def assert_same_classifier(loaded: Any, model: Any, rows: pd.DataFrame) -> None:
    np.testing.assert_array_equal(loaded.predict(rows), model.predict(rows))
    np.testing.assert_array_equal(loaded.predict_proba(rows), model.predict_proba(rows))


def save_onnx(model: Any, rows: pd.DataFrame, path: Path, options: dict[str, Any] | None) -> Path:
    from skl2onnx import to_onnx

    path.write_bytes(
        to_onnx(model, rows.to_numpy(np.float32)[:1], options=options).SerializeToString()
    )
    return path


def save_garbage(path: Path) -> Path:
    path.write_bytes(b"this is not a model\n" * 8)
    return path


# ------------------------------------------------------------------------------------- sklearn


def test_sklearn_classifier_round_trips_through_skops(
    registry: Registry, numeric_frame: pd.DataFrame
) -> None:
    model = fit_logreg(numeric_frame)

    version = registry.register(model, "fraud", train_data=numeric_frame, label=LABEL)
    loaded = registry.load(version.ref)

    assert version.format == "sklearn"
    assert version.load_spec["serializer"] == "skops"
    assert loaded.signature == classifier_signature()
    assert_same_classifier(loaded, model, features(numeric_frame))


def test_pipeline_with_one_hot_encoding_round_trips(
    registry: Registry, transactions: pd.DataFrame
) -> None:
    model = fit_pipeline(transactions)

    version = registry.register(model, "fraud", train_data=transactions, label=LABEL)
    loaded = registry.load(version.ref)

    assert version.format == "sklearn"
    assert loaded.signature == classifier_signature(
        (*NUMERIC_FEATURES, Feature("country", "string"))
    )
    assert_same_classifier(loaded, model, features(transactions))


def test_regressor_signature_is_regression(registry: Registry, numeric_frame: pd.DataFrame) -> None:
    frame = features(numeric_frame)
    model = Ridge().fit(features(frame, "amount"), frame["amount"])

    version = registry.register(model, "amount", train_data=frame, label="amount")
    loaded = registry.load(version.ref)

    assert loaded.signature == Signature(
        features=(Feature("hour", "int"), Feature("distance", "float")), output_kind="regression"
    )
    assert not loaded.has_proba
    np.testing.assert_array_equal(
        loaded.predict(features(frame, "amount")), model.predict(features(frame, "amount"))
    )


def test_saved_skops_file_is_stored_as_it_is(
    registry: Registry, numeric_frame: pd.DataFrame, tmp_path: Path
) -> None:
    """Check that a .skops file is stored byte for byte, so its hash is the file's hash."""
    model = fit_logreg(numeric_frame)
    path = tmp_path / "model.skops"
    sio.dump(model, path)

    version = registry.register(path, "fraud", train_data=numeric_frame, label=LABEL)
    loaded = registry.load(version.ref)

    assert version.format == "sklearn"
    assert version.artifact_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert loaded.signature == classifier_signature()
    assert_same_classifier(loaded, model, features(numeric_frame))


def test_joblib_file_is_refused_without_trusted(
    registry: Registry, numeric_frame: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "model.joblib"
    joblib.dump(fit_logreg(numeric_frame), path)

    with pytest.raises(UnsafeArtifact, match="trusted=True"):
        registry.register(path, "fraud", train_data=numeric_frame, label=LABEL)
    assert registry.list_models() == []


def test_joblib_file_loads_when_trusted(
    registry: Registry, numeric_frame: pd.DataFrame, tmp_path: Path
) -> None:
    model = fit_logreg(numeric_frame)
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)

    version = registry.register(path, "fraud", train_data=numeric_frame, label=LABEL, trusted=True)
    loaded = registry.load(version.ref)

    assert version.load_spec["serializer"] == "joblib"
    assert loaded.signature == classifier_signature()
    assert_same_classifier(loaded, model, features(numeric_frame))


def test_skops_file_with_a_custom_type_is_refused_without_trusted(
    registry: Registry, numeric_frame: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "rule.skops"
    sio.dump(AmountRule(cut=60.0, scale=10.0), path)

    with pytest.raises(UnsafeArtifact) as refused:
        registry.register(path, "rule", train_data=numeric_frame, label=LABEL)
    assert f"{AmountRule.__module__}.AmountRule" in str(refused.value)
    assert "trusted=True" in str(refused.value)
    assert registry.list_models() == []


def test_skops_file_with_a_custom_type_loads_when_trusted(
    registry: Registry, numeric_frame: pd.DataFrame, tmp_path: Path
) -> None:
    model = AmountRule(cut=60.0, scale=10.0)
    path = tmp_path / "rule.skops"
    sio.dump(model, path)

    version = registry.register(path, "rule", train_data=numeric_frame, label=LABEL, trusted=True)
    loaded = registry.load(version.ref)

    assert version.load_spec["trusted_types"] == [f"{AmountRule.__module__}.AmountRule"]
    assert isinstance(loaded.raw, AmountRule)
    assert loaded.signature == classifier_signature()
    assert_same_classifier(loaded, model, features(numeric_frame))


TREE_PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"


def fit_hgb(
    frame: pd.DataFrame, estimator: type[Any] = HistGradientBoostingClassifier, label: str = LABEL
) -> Any:
    model = estimator(max_iter=5, early_stopping=False, random_state=0)
    return model.fit(features(frame, label), frame[label])


def rename_type(path: Path, old: str, new: str) -> Path:
    """A copy of the skops file with every ``old`` object in its schema named ``new`` instead."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    old_name = tuple(old.rsplit(".", 1))
    new_module, new_class = new.rsplit(".", 1)

    def rename(node: Any) -> Any:
        if isinstance(node, list):
            return [rename(item) for item in node]
        if not isinstance(node, dict):
            return node
        if (node.get("__module__"), node.get("__class__")) == old_name:
            node = {**node, "__module__": new_module, "__class__": new_class}
        return {key: rename(value) for key, value in node.items()}

    members["schema.json"] = json.dumps(rename(json.loads(members["schema.json"]))).encode()
    crafted = path.with_name(f"crafted-{path.name}")
    with zipfile.ZipFile(crafted, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return crafted


@pytest.mark.parametrize(
    ("estimator", "label", "methods"),
    [
        (HistGradientBoostingClassifier, LABEL, ("predict", "predict_proba")),
        (HistGradientBoostingRegressor, "amount", ("predict",)),
    ],
    ids=["classifier", "regressor"],
)
def test_hist_gradient_boosting_file_registers_without_trusted(
    registry: Registry,
    numeric_frame: pd.DataFrame,
    tmp_path: Path,
    estimator: type[Any],
    label: str,
    methods: tuple[str, ...],
) -> None:
    """Check that the trees skops does not trust are trusted once checked, at register and load."""
    model = fit_hgb(numeric_frame, estimator, label)
    path = tmp_path / "hgb.skops"
    sio.dump(model, path)

    version = registry.register(path, "hgb", train_data=numeric_frame, label=label)
    loaded = registry.load(version.ref)

    assert version.load_spec["trusted_types"] == [TREE_PREDICTOR]
    assert version.load_spec["check_trees"] is True
    assert loaded.raw is not model
    rows = features(numeric_frame, label)
    for method in methods:
        np.testing.assert_array_equal(getattr(loaded, method)(rows), getattr(model, method)(rows))


@pytest.mark.parametrize(
    "type_name",
    ["os.system", "sklearn.ensemble._hist_gradient_boosting.grower.TreeGrower"],
    ids=["outside-sklearn", "sklearn-internal"],
)
def test_skops_file_naming_a_type_outside_the_reviewed_ones_is_refused(
    registry: Registry, numeric_frame: pd.DataFrame, tmp_path: Path, type_name: str
) -> None:
    """Check that trust goes by exact name: a crafted file naming another type is refused, even a
    scikit-learn internal next to the reviewed one."""
    path = tmp_path / "hgb.skops"
    sio.dump(fit_hgb(numeric_frame), path)
    crafted = rename_type(path, TREE_PREDICTOR, type_name)

    with pytest.raises(UnsafeArtifact, match="neither skops nor mlship trust") as refused:
        registry.register(crafted, "hgb")
    assert type_name in str(refused.value)
    assert TREE_PREDICTOR not in str(refused.value)
    assert registry.list_models() == []


def child_past_the_end(nodes: np.ndarray[Any, Any]) -> None:
    nodes["left"][0] = nodes.size


def child_before_its_parent(nodes: np.ndarray[Any, Any]) -> None:
    nodes["right"][0] = 0


def child_of_two_splits(nodes: np.ndarray[Any, Any]) -> None:
    nodes["right"][0] = nodes["left"][0]


def feature_past_the_end(nodes: np.ndarray[Any, Any]) -> None:
    nodes["feature_idx"][0] = len(NUMERIC_FEATURES)


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (child_past_the_end, "node 0 has a child outside the nodes after it"),
        (child_before_its_parent, "node 0 has a child outside the nodes after it"),
        (child_of_two_splits, "a node is the child of two splits"),
        (feature_past_the_end, "node 0 splits on feature 3 of 3"),
    ],
)
def test_hist_gradient_boosting_file_with_a_malformed_tree_is_refused(
    registry: Registry,
    numeric_frame: pd.DataFrame,
    tmp_path: Path,
    damage: Callable[[np.ndarray[Any, Any]], None],
    problem: str,
) -> None:
    """Check that a tree that would send scikit-learn outside its arrays is refused unloaded."""
    model = fit_hgb(numeric_frame)
    damage(model._predictors[-1][0].nodes)
    path = tmp_path / "hgb.skops"
    sio.dump(model, path)

    with pytest.raises(UnsafeArtifact, match=rf": tree 0 of iteration 4: {problem}\. "):
        registry.register(path, "hgb")
    assert registry.list_models() == []


# ------------------------------------------------------------------------------- python object


def test_python_object_is_refused_without_trusted(
    registry: Registry, numeric_frame: pd.DataFrame
) -> None:
    with pytest.raises(UnsafeArtifact, match=r"AmountRule object .* trusted=True"):
        registry.register(AmountRule(cut=60.0, scale=10.0), "rule", train_data=numeric_frame)
    assert registry.list_models() == []


def test_python_object_round_trips_through_cloudpickle_when_trusted(
    registry: Registry, numeric_frame: pd.DataFrame
) -> None:
    model = AmountRule(cut=60.0, scale=10.0)

    version = registry.register(model, "rule", train_data=numeric_frame, label=LABEL, trusted=True)
    loaded = registry.load(version.ref)

    assert version.format == "python"
    assert version.load_spec["serializer"] == "cloudpickle"
    assert loaded.raw is not model
    assert loaded.signature == classifier_signature()
    assert_same_classifier(loaded, model, features(numeric_frame))


# ---------------------------------------------------------------------------------------- onnx


@pytest.mark.parametrize("options", [None, {"zipmap": False}], ids=["zipmap", "tensor"])
def test_onnx_classifier_matches_sklearn(
    registry: Registry,
    numeric_frame: pd.DataFrame,
    tmp_path: Path,
    options: dict[str, Any] | None,
) -> None:
    """Check that both skl2onnx probability outputs (ZipMap and a plain tensor) load back."""
    rows = features(numeric_frame)
    model = fit_logreg(numeric_frame)
    path = save_onnx(model, rows, tmp_path / "model.onnx", options)

    version = registry.register(path, "fraud", train_data=numeric_frame, label=LABEL)
    loaded = registry.load(version.ref)

    assert version.format == "onnx"
    assert loaded.signature == classifier_signature()
    np.testing.assert_array_equal(loaded.predict(rows), model.predict(rows))
    np.testing.assert_allclose(loaded.predict_proba(rows), model.predict_proba(rows), atol=1e-5)


def test_onnx_regressor_matches_sklearn(
    registry: Registry, numeric_frame: pd.DataFrame, tmp_path: Path
) -> None:
    frame = features(numeric_frame)
    rows = features(frame, "amount")
    model = Ridge().fit(rows, frame["amount"])
    path = save_onnx(model, rows, tmp_path / "amount.onnx", None)

    version = registry.register(path, "amount", train_data=frame, label="amount")
    loaded = registry.load(version.ref)

    assert loaded.signature == Signature(
        features=(Feature("hour", "int"), Feature("distance", "float")), output_kind="regression"
    )
    assert loaded.predict(rows).shape == (len(rows),)
    np.testing.assert_allclose(loaded.predict(rows), model.predict(rows), rtol=1e-5)


def test_onnx_pipeline_with_one_input_per_column_matches_sklearn(
    registry: Registry, transactions: pd.DataFrame, tmp_path: Path
) -> None:
    """Check that an ONNX graph with a named input per column, one of them strings, is fed right."""
    from skl2onnx import to_onnx

    rows = features(transactions)
    model = fit_pipeline(transactions)
    path = tmp_path / "pipeline.onnx"
    path.write_bytes(to_onnx(model, rows[:1], options={"zipmap": False}).SerializeToString())

    version = registry.register(path, "fraud", train_data=transactions, label=LABEL)
    loaded = registry.load(version.ref)

    assert loaded.signature == classifier_signature(
        (*NUMERIC_FEATURES, Feature("country", "string"))
    )
    np.testing.assert_array_equal(loaded.predict(rows), model.predict(rows))
    np.testing.assert_allclose(loaded.predict_proba(rows), model.predict_proba(rows), atol=1e-5)


def test_onnx_inputs_give_dtypes_without_training_data(
    registry: Registry, transactions: pd.DataFrame, tmp_path: Path
) -> None:
    """Check that a per-column ONNX graph registered without data keeps string inputs text."""
    from skl2onnx import to_onnx

    rows = features(transactions)
    model = fit_pipeline(transactions)
    path = tmp_path / "pipeline.onnx"
    path.write_bytes(to_onnx(model, rows[:1], options={"zipmap": False}).SerializeToString())

    version = registry.register(path, "fraud")
    assert version.signature is not None
    assert dict((f.name, f.dtype) for f in version.signature.features)["country"] == "string"
    np.testing.assert_array_equal(registry.load(version.ref).predict(rows), model.predict(rows))


def test_onnx_model_proto_object_registers(registry: Registry, numeric_frame: pd.DataFrame) -> None:
    from skl2onnx import to_onnx

    rows = features(numeric_frame)
    model = fit_logreg(numeric_frame)
    proto = to_onnx(model, rows.to_numpy(np.float32)[:1])

    version = registry.register(proto, "fraud", train_data=numeric_frame, label=LABEL)
    loaded = registry.load(version.ref)

    assert version.format == "onnx"
    assert version.artifact_sha256 == hashlib.sha256(proto.SerializeToString()).hexdigest()
    np.testing.assert_allclose(loaded.predict_proba(rows), model.predict_proba(rows), atol=1e-5)


# -------------------------------------------------------------------------------------- mlflow


@mlflow_import_warning
def test_mlflow_folder_is_refused_without_trusted(
    registry: Registry, numeric_frame: pd.DataFrame, tmp_path: Path
) -> None:
    mlflow_sklearn = pytest.importorskip("mlflow.sklearn")
    folder = tmp_path / "mlflow-model"
    mlflow_sklearn.save_model(fit_logreg(numeric_frame), str(folder))

    with pytest.raises(UnsafeArtifact, match="trusted=True"):
        registry.register(folder, "fraud", train_data=numeric_frame, label=LABEL)
    assert registry.list_models() == []


@mlflow_import_warning
def test_mlflow_folder_round_trips_when_trusted(
    registry: Registry, numeric_frame: pd.DataFrame, tmp_path: Path
) -> None:
    mlflow_sklearn = pytest.importorskip("mlflow.sklearn")
    model = fit_logreg(numeric_frame)
    folder = tmp_path / "mlflow-model"
    mlflow_sklearn.save_model(model, str(folder))

    version = registry.register(
        folder, "fraud", train_data=numeric_frame, label=LABEL, trusted=True
    )
    loaded = registry.load(version.ref)

    assert version.format == "mlflow"
    assert loaded.signature == classifier_signature()
    assert_same_classifier(loaded, model, features(numeric_frame))


def save_mlflow(model: Any, folder: Path) -> Path:
    """``model`` saved as an MLflow folder whose model file is ``model.skops``."""
    mlflow_sklearn = pytest.importorskip("mlflow.sklearn")
    mlflow_sklearn.save_model(model, str(folder), serialization_format="skops")
    return folder


def folder_contents(root: Path) -> dict[str, bytes | str]:
    """Each entry under ``root`` by relative path: a file's bytes, else what it is."""
    assert not root.is_symlink()
    return {
        path.relative_to(root).as_posix(): (
            "symlink" if path.is_symlink() else "folder" if path.is_dir() else path.read_bytes()
        )
        for path in root.rglob("*")
    }


def replace_model_file(unpacked: Path, other: Path) -> None:
    shutil.copyfile(other / "model.skops", unpacked / "model.skops")


def add_a_file(unpacked: Path, other: Path) -> None:
    (unpacked / "extra.py").write_text("raise SystemExit('tampered')\n")


def link_model_file(unpacked: Path, other: Path) -> None:
    (unpacked / "model.skops").unlink()
    (unpacked / "model.skops").symlink_to(other / "model.skops")


def link_the_folder(unpacked: Path, other: Path) -> None:
    shutil.rmtree(unpacked)
    unpacked.symlink_to(other, target_is_directory=True)


@mlflow_import_warning
@pytest.mark.parametrize(
    ("tamper", "difference"),
    [
        (replace_model_file, "model.skops has changed"),
        (add_a_file, "extra.py is an extra file"),
        (link_model_file, "model.skops is a symlink, not a file"),
        (link_the_folder, "mlflow-model is not a folder"),
    ],
    ids=["changed", "extra", "file-symlink", "folder-symlink"],
)
def test_tampered_unpacked_mlflow_folder_is_unpacked_again(
    registry_factory: RegistryFactory,
    numeric_frame: pd.DataFrame,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    tamper: Callable[[Path, Path], None],
    difference: str,
) -> None:
    """Check that a process loads what was verified, not what someone left in the shared cache."""
    rows = features(numeric_frame)
    model = fit_logreg(numeric_frame)
    folder = save_mlflow(model, tmp_path / "mlflow-model")
    flipped = numeric_frame.assign(**{LABEL: 1 - numeric_frame[LABEL]})
    other = save_mlflow(fit_logreg(flipped), tmp_path / "other-model")
    first = registry_factory()
    version = first.register(folder, "fraud", train_data=numeric_frame, label=LABEL, trusted=True)
    first.load(version.ref)
    unpacked = tmp_path / "cache" / "unpacked" / version.artifact_sha256 / "mlflow-model"
    assert folder_contents(unpacked) == folder_contents(folder)

    tamper(unpacked, other)
    with caplog.at_level(logging.WARNING):
        loaded = registry_factory().load(version.ref)  # a new loader, as in a new process

    assert_same_classifier(loaded, model, rows)
    assert folder_contents(unpacked) == folder_contents(folder)
    mlflow_dir_log = "mlship.registry.formats.mlflow_dir"
    assert [r.getMessage() for r in caplog.records if r.name == mlflow_dir_log] == [
        f"The unpacked model in {unpacked} differs from its verified archive ({difference}); "
        "unpacking the archive again."
    ]
    assert [p.name for p in unpacked.parent.iterdir()] == ["mlflow-model"]  # no leftovers


@mlflow_import_warning
def test_mlflow_cache_folders_are_owner_only(
    registry: Registry, numeric_frame: pd.DataFrame, tmp_path: Path
) -> None:
    """Check that the loader's cache folders are mode 0700, also ones made looser before."""
    cache = tmp_path / "cache"
    (cache / "unpacked").mkdir(parents=True)
    for loose in (cache, cache / "unpacked"):
        loose.chmod(0o755)
    folder = save_mlflow(fit_logreg(numeric_frame), tmp_path / "mlflow-model")
    version = registry.register(folder, "fraud", trusted=True)

    registry.load(version.ref)

    unpacked = cache / "unpacked" / version.artifact_sha256
    folders = [cache, cache / "artifacts", cache / "unpacked", unpacked, unpacked / "mlflow-model"]
    assert {str(f.relative_to(tmp_path)): oct(stat.S_IMODE(f.stat().st_mode)) for f in folders} == {
        str(f.relative_to(tmp_path)): "0o700" for f in folders
    }


@mlflow_import_warning
def test_mlflow_folder_with_a_symlink_out_of_it_is_refused(
    registry: Registry, numeric_frame: pd.DataFrame, tmp_path: Path
) -> None:
    """Check that packing never follows a symlink out of the folder (a secret would be stored)."""
    folder = save_mlflow(fit_logreg(numeric_frame), tmp_path / "mlflow-model")
    secret = tmp_path / "secret.txt"
    secret.write_text("password\n")
    (folder / "notes").mkdir()
    (folder / "notes" / "secret.txt").symlink_to(secret)

    with pytest.raises(UnsafeArtifact) as raised:
        registry.register(folder, "fraud", trusted=True)

    assert raised.value.message == (
        f"The MLflow model folder {folder} holds the symlink 'notes/secret.txt' to {secret}, "
        "which is outside the folder: mlship stores only what is inside the model folder. Copy "
        "the file into the folder in place of the link, then register again."
    )
    assert registry.list_models() == []
    assert not (tmp_path / "artifacts").exists()


@mlflow_import_warning
def test_mlflow_folder_with_a_symlink_inside_it_stores_a_copy(
    registry: Registry, numeric_frame: pd.DataFrame, tmp_path: Path
) -> None:
    folder = save_mlflow(fit_logreg(numeric_frame), tmp_path / "mlflow-model")
    (folder / "requirements-copy.txt").symlink_to("requirements.txt")
    version = registry.register(folder, "fraud", trusted=True)

    registry.load(version.ref)

    unpacked = tmp_path / "cache" / "unpacked" / version.artifact_sha256 / "mlflow-model"
    assert not (unpacked / "requirements-copy.txt").is_symlink()
    assert (unpacked / "requirements-copy.txt").read_bytes() == (
        folder / "requirements.txt"
    ).read_bytes()


# ------------------------------------------------------------------------------ refused inputs


def test_garbage_onnx_file_is_unsupported(registry: Registry, tmp_path: Path) -> None:
    """Check that onnxruntime's parse error becomes one UnsupportedFormat, chained to nothing."""
    path = save_garbage(tmp_path / "broken.onnx")

    with pytest.raises(UnsupportedFormat, match=r"broken\.onnx is not a valid ONNX model") as bad:
        registry.register(path, "broken")
    assert bad.value.__cause__ is None
    assert bad.value.__suppress_context__
    assert registry.list_models() == []


def test_garbage_skops_file_is_unsupported(registry: Registry, tmp_path: Path) -> None:
    path = save_garbage(tmp_path / "broken.skops")

    with pytest.raises(UnsupportedFormat, match=r"broken\.skops is not a readable skops file"):
        registry.register(path, "broken")
    assert registry.list_models() == []


def test_garbage_joblib_file_is_unsupported_even_when_trusted(
    registry: Registry, tmp_path: Path
) -> None:
    path = save_garbage(tmp_path / "broken.joblib")

    with pytest.raises(UnsupportedFormat, match=r"broken\.joblib is not a readable joblib file"):
        registry.register(path, "broken", trusted=True)


def test_unknown_extension_lists_the_formats(registry: Registry, tmp_path: Path) -> None:
    path = save_garbage(tmp_path / "model.txt")

    with pytest.raises(UnsupportedFormat, match="Cannot tell the model format") as unknown:
        registry.register(path, "model")
    for name in ("sklearn", "onnx", "mlflow", "python"):
        assert name in str(unknown.value)


def test_unknown_format_name_lists_the_valid_formats(
    registry: Registry, numeric_frame: pd.DataFrame
) -> None:
    with pytest.raises(
        UnsupportedFormat,
        match=r"^Unknown model format 'nope'\. Valid formats: sklearn, onnx, mlflow, python\.$",
    ):
        registry.register(fit_logreg(numeric_frame), "fraud", format="nope")


@pytest.mark.parametrize(
    ("format", "message"),
    [("onnx", "takes an .onnx file or an onnx.ModelProto"), ("mlflow", "not an MLflow model")],
)
def test_format_that_does_not_fit_the_object_is_unsupported(
    registry: Registry, format: str, message: str
) -> None:
    model = LogisticRegression()

    with pytest.raises(UnsupportedFormat, match=message):
        registry.register(model, "fraud", format=format)


def test_skops_file_with_types_skops_does_not_trust_needs_trusted(
    registry: Registry, numeric_frame: pd.DataFrame, tmp_path: Path
) -> None:
    """Check that a file is held to skops' trust list and the reviewed types, a live object not."""
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier

    X, y = numeric_frame.drop(columns=[LABEL]), numeric_frame[LABEL]
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    path = tmp_path / "forest.skops"
    sio.dump(model, path)
    with pytest.raises(UnsafeArtifact, match=r"sklearn\.tree\._tree\.Tree"):
        registry.register(path, "fraud")
    assert registry.register(path, "fraud", trusted=True).version == 1
    assert registry.register(model, "fraud").version == 2
    np.testing.assert_array_equal(registry.load("fraud@2").predict(X), model.predict(X))
