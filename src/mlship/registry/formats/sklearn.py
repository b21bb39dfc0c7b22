"""scikit-learn models (and XGBoost/LightGBM through their scikit-learn API).

Stored with skops by default, which loads without running arbitrary code. A .skops file may hold
the types skops trusts by default and the few in ``REVIEWED_TYPES``, whose content mlship checks
first; any other type needs ``trusted=True``. A fitted object is written to a file by mlship itself,
so any type of the packages in ``SAFE_MODULE_PREFIXES`` is accepted from it. joblib/pickle files are
accepted only with ``trusted=True`` and are then loaded as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlship.errors import UnsafeArtifact, UnsupportedFormat
from mlship.registry.formats.base import PreparedArtifact

SAFE_MODULE_PREFIXES = ("sklearn.", "numpy.", "scipy.", "xgboost.", "lightgbm.", "collections.")
# scikit-learn's own types that a file may hold beyond skops' defaults, by exact name (a prefix
# would also let in their methods and their neighbours). Each holds only arrays and numbers, but
# skops leaves it out on purpose: it checks a type, not its content, and these arrays hold indices
# that scikit-learn's Cython code follows without bounds checks. So mlship loads a file that needs
# them only once _check_hist_trees finds every index in range.
REVIEWED_TYPES = frozenset(
    {
        # One tree of a HistGradientBoosting* model: a structured `nodes` array (split feature and
        # threshold, child node indices, leaf value) and two uint32 bitset arrays.
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    }
)
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
        # A file may have been crafted: only the types skops trusts and the reviewed ones, checked
        # below, are accepted. An object comes from the caller's own process and mlship wrote the
        # file: scientific types are fine.
        if from_file:
            unsafe = [t for t in untrusted if t not in REVIEWED_TYPES]
        else:
            unsafe = [t for t in untrusted if not _is_safe_type(t)]
        if unsafe and not trusted:
            raise UnsafeArtifact(_untrusted_message(unsafe, from_file))
        load_spec: dict[str, Any] = {"serializer": "skops", "trusted_types": untrusted}
        if not from_file:
            model = source
        else:
            try:
                model = sio.load(path, trusted=untrusted)
            except Exception as exc:  # a type that cannot be imported here, a damaged array, ...
                raise UnsupportedFormat(f"skops could not load {path.name}: {exc}") from None
            if untrusted and not trusted:  # loaded on the strength of REVIEWED_TYPES alone
                _check_hist_trees(model, path.name)
                load_spec["check_trees"] = True
        return PreparedArtifact(
            path=path,
            load_spec=load_spec,
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

        model = sio.load(path, trusted=list(load_spec.get("trusted_types", [])))
        if load_spec.get("check_trees"):
            _check_hist_trees(model, "The stored model")
        return model


def _untrusted_message(types: list[str], from_file: bool) -> str:
    if from_file:
        return (
            "The skops file contains types that neither skops nor mlship trust by default: "
            f"{', '.join(types)}. "
            "A crafted file with them can run code, crash the process or read memory it should "
            "not. If you produced this file, register it with trusted=True (CLI: --trusted), or "
            "register the fitted model object from Python (mlship then writes the file itself)."
        )
    return (
        f"The model contains types outside scikit-learn/numpy/scipy: {', '.join(types)}. Loading "
        "them may run their code. If you wrote or audited them, register again with trusted=True "
        "(CLI: --trusted)."
    )


def _check_hist_trees(model: Any, name: str) -> None:
    """Refuse ``model`` unless scikit-learn can walk the trees of every HistGradientBoosting* in it
    without leaving their arrays (it does not check bounds: a crafted index would crash the process
    or read memory it should not)."""
    from sklearn.ensemble._hist_gradient_boosting.gradient_boosting import BaseHistGradientBoosting

    for booster in _reachable(model, BaseHistGradientBoosting):
        problem = _hist_trees_problem(booster)
        if problem is not None:
            raise UnsafeArtifact(
                f"{name} holds a {type(booster).__name__} that mlship cannot check: {problem}. "
                "scikit-learn follows the indices in its trees without bounds checks, so a crafted "
                "file could crash the process or read memory it should not. If you produced this "
                "file, register it with trusted=True (CLI: --trusted)."
            )


def _hist_trees_problem(booster: Any) -> str | None:
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

    state = vars(booster)
    if "_in_fit" in state:  # predict() would then skip validating X and walk the trees over it
        return "it is marked as still being fitted"
    if state.get("_preprocessor") is not None:  # it, not n_features_in_, sets what the trees index
        return "it has categorical features"
    n_features = state.get("n_features_in_")
    # predict() checks that X has n_features_in_ columns: the trees may index below that.
    if type(n_features) is not int or n_features < 1:
        return "n_features_in_ is not a positive integer"
    iterations = state.get("_predictors")
    if type(iterations) is not list or any(type(trees) is not list for trees in iterations):
        return "_predictors is not a list of lists"
    for i, trees in enumerate(iterations):
        for k, tree in enumerate(trees):
            if type(tree) is not TreePredictor:
                return f"tree {k} of iteration {i} is a {type(tree).__name__}"
            problem = _nodes_problem(vars(tree).get("nodes"), n_features)
            if problem is not None:
                return f"tree {k} of iteration {i}: {problem}"
    return None


def _nodes_problem(nodes: Any, n_features: int) -> str | None:
    import numpy as np
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE

    if type(nodes) is not np.ndarray or nodes.dtype != PREDICTOR_RECORD_DTYPE or nodes.ndim != 1:
        return "its nodes are not an array of this scikit-learn's node records"
    if nodes.size == 0:
        return "it has no nodes"
    splits = np.flatnonzero(nodes["is_leaf"] == 0)
    left = nodes["left"][splits].astype(np.int64)
    right = nodes["right"][splits].astype(np.int64)
    children = np.concatenate([left, right])
    # Children after their parent and no node the child of two splits: every walk from the root
    # ends, and partial dependence's stack (one slot per node) never overflows.
    bad = (np.minimum(left, right) <= splits) | (np.maximum(left, right) >= nodes.size)
    if bad.any():
        return f"node {splits[bad][0]} has a child outside the nodes after it"
    if np.unique(children).size != children.size:
        return "a node is the child of two splits"
    features = nodes["feature_idx"][splits]
    bad = (features < 0) | (features >= n_features)
    if bad.any():
        return f"node {splits[bad][0]} splits on feature {features[bad][0]} of {n_features}"
    # Categorical splits index two more arrays; a model with categorical features never gets here.
    if nodes["is_categorical"][splits].any():
        return "it has categorical splits"
    return None


def _reachable(root: Any, kind: type) -> list[Any]:
    """The objects of type ``kind`` that ``root`` refers to, directly or not.

    ``gc.get_referents`` follows every reference the interpreter knows of (attributes, containers,
    bound methods), so no place in a loaded model hides an object from this walk; numpy does not
    report the items of an object array, so they are added here.
    """
    import gc
    import types

    import numpy as np

    code = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType)
    found: list[Any] = []
    seen: set[int] = set()
    todo = [root]
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, code):  # code is not model state: do not walk it
            continue
        seen.add(id(obj))
        if isinstance(obj, kind):
            found.append(obj)
        if isinstance(obj, np.ndarray):
            if obj.dtype == object:
                todo.extend(obj.ravel().tolist())
        else:
            todo.extend(gc.get_referents(obj))
    return found


def _feature_names(model: Any) -> tuple[str, ...] | None:
    names = getattr(model, "feature_names_in_", None)
    return tuple(str(n) for n in names) if names is not None else None
