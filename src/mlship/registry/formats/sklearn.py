"""scikit-learn models (and XGBoost/LightGBM through their scikit-learn API).

Stored with skops by default, which loads without running arbitrary code: only types from an
allow-list of scientific packages may appear in the file. joblib/pickle files are accepted only with
``trusted=True`` and are then loaded as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlship.errors import UnsafeArtifact, UnsupportedFormat
from mlship.registry.formats.base import PreparedArtifact

SAFE_MODULE_PREFIXES = ("sklearn.", "numpy.", "scipy.", "xgboost.", "lightgbm.", "collections.")
_PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
_MODEL_PACKAGES = ("sklearn", "xgboost", "lightgbm")


def _is_safe_type(name: str) -> bool:
    return name.startswith(SAFE_MODULE_PREFIXES)


class SklearnFormat:
    """Fitted scikit-learn estimators and pipelines."""

    name = "sklearn"

    def accepts_object(self, obj: Any) -> bool:
        module = type(obj).__module__
        return hasattr(obj, "predict") and module.split(".")[0] in _MODEL_PACKAGES

    def accepts_path(self, path: Path) -> bool:
        return path.is_file() and path.suffix in (".skops", *_PICKLE_SUFFIXES)

    def prepare(self, source: Any, workdir: Path, *, trusted: bool) -> PreparedArtifact:
        import skops.io as sio

        if isinstance(source, Path):
            if source.suffix in _PICKLE_SUFFIXES:
                return self._prepare_pickle(source, trusted=trusted)
            path = source
        else:
            path = workdir / "model.skops"
            sio.dump(source, path)
        try:
            untrusted = list(sio.get_untrusted_types(file=path))
        except Exception as exc:  # skops raises bare exceptions on files that are not its own
            raise UnsupportedFormat(f"{path} is not a readable skops file: {exc}") from None
        from_file = isinstance(source, Path)
        # A file may have been crafted: only the types skops itself trusts are accepted. An object
        # comes from the caller's own process and mlship wrote the file: scientific types are fine.
        unsafe = untrusted if from_file else [t for t in untrusted if not _is_safe_type(t)]
        if unsafe and not trusted:
            raise UnsafeArtifact(_untrusted_message(unsafe, from_file))
        if not from_file:
            model = source
        else:
            try:
                model = sio.load(path, trusted=untrusted)
            except Exception as exc:  # a type that cannot be imported here, a damaged array, ...
                raise UnsupportedFormat(f"skops could not load {path.name}: {exc}") from None
        return PreparedArtifact(
            path=path,
            load_spec={"serializer": "skops", "trusted_types": untrusted},
            model=model,
            feature_names=_feature_names(model),
        )

    def _prepare_pickle(self, path: Path, *, trusted: bool) -> PreparedArtifact:
        if not trusted:
            raise UnsafeArtifact(
                f"{path.name} is a pickle (joblib) file: loading it runs whatever code it "
                "contains. mlship refuses pickles unless you say you trust the file: pass "
                "trusted=True (CLI: --trusted), or save the model with skops.io.dump and register "
                "the .skops file."
            )
        import joblib

        try:
            model = joblib.load(path)
        except Exception as exc:  # unpickling fails with whatever error the bytes provoke
            raise UnsupportedFormat(f"{path.name} is not a readable joblib file: {exc}") from None
        if not hasattr(model, "predict"):
            raise UnsupportedFormat(f"{path.name} holds a {type(model).__name__}, not a model.")
        return PreparedArtifact(
            path=path,
            load_spec={"serializer": "joblib", "trusted": True},
            model=model,
            feature_names=_feature_names(model),
        )

    def load(self, path: Path, load_spec: dict[str, Any], workdir: Path) -> Any:
        if load_spec.get("serializer") == "joblib":
            if not load_spec.get("trusted"):
                raise UnsafeArtifact("Refusing to load a pickle not registered as trusted.")
            import joblib

            return joblib.load(path)
        import skops.io as sio

        return sio.load(path, trusted=list(load_spec.get("trusted_types", [])))


def _untrusted_message(types: list[str], from_file: bool) -> str:
    if from_file:
        return (
            f"The skops file contains types skops does not trust by default: {', '.join(types)}. "
            "A crafted file with them can run code, crash the process or read memory it should "
            "not. If you produced this file, register it with trusted=True (CLI: --trusted), or "
            "register the fitted model object from Python (mlship then writes the file itself)."
        )
    return (
        f"The model contains types outside scikit-learn/numpy/scipy: {', '.join(types)}. Loading "
        "them may run their code. If you wrote or audited them, register again with trusted=True "
        "(CLI: --trusted)."
    )


def _feature_names(model: Any) -> tuple[str, ...] | None:
    names = getattr(model, "feature_names_in_", None)
    return tuple(str(n) for n in names) if names is not None else None
