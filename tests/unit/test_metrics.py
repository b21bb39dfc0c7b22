"""The metric library: every built-in equals scikit-learn's function, with and without weights."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from mlship.checks.metrics import Predictions, builtin_metrics, get_metric
from mlship.errors import ConfigError, InvalidInput

Data = tuple[np.ndarray, Predictions]


def classification(n: int, k: int, seed: int, *, decimals: int | None = 2) -> Data:
    """Seeded labels and probabilities; rounding the probabilities makes ties."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    proba = np.exp(logits)
    proba /= proba.sum(axis=1, keepdims=True)
    if decimals is not None:
        proba = np.round(proba, decimals)
        proba /= proba.sum(axis=1, keepdims=True)
    return y, Predictions(proba.argmax(axis=1), proba, tuple(range(k)))


def regression(n: int, seed: int) -> Data:
    rng = np.random.default_rng(seed)
    y = 100 + 3 * rng.normal(size=n)
    return y, Predictions(y + rng.normal(size=n))


def reference(name: str, y: np.ndarray, p: Predictions, w: np.ndarray | None) -> float:
    """scikit-learn's value of the metric ``name`` (zero_division=0 is its default's value)."""
    classes = list(p.classes) if p.classes is not None else sorted(set(y) | set(p.labels))
    binary = len(classes) == 2
    average = "binary" if binary else "macro"
    pos: dict[str, Any] = {"pos_label": classes[1]} if binary else {}
    score = None if p.proba is None else p.proba[:, 1] if binary else p.proba
    funcs: dict[str, Callable[[], float]] = {
        "accuracy": lambda: skm.accuracy_score(y, p.labels, sample_weight=w),
        "precision": lambda: skm.precision_score(
            y, p.labels, average=average, sample_weight=w, zero_division=0, **pos
        ),
        "recall": lambda: skm.recall_score(
            y, p.labels, average=average, sample_weight=w, zero_division=0, **pos
        ),
        "f1": lambda: skm.f1_score(
            y, p.labels, average=average, sample_weight=w, zero_division=0, **pos
        ),
        # sklearn's binary roc_auc takes the greater label as the positive one: say which.
        "roc_auc": lambda: skm.roc_auc_score(
            y == classes[1] if binary else y, score, multi_class="ovr", sample_weight=w
        ),
        "pr_auc": lambda: skm.average_precision_score(y, score, sample_weight=w, **pos),
        "log_loss": lambda: skm.log_loss(y, y_proba=p.proba, labels=classes, sample_weight=w),
        "brier": lambda: skm.brier_score_loss(
            y, score, sample_weight=w, **(pos if binary else {"labels": classes})
        ),
        "rmse": lambda: skm.root_mean_squared_error(y, p.labels, sample_weight=w),
        "mae": lambda: skm.mean_absolute_error(y, p.labels, sample_weight=w),
        "r2": lambda: skm.r2_score(y, p.labels, sample_weight=w),
    }
    return float(funcs[name]())


CLASSIFICATION = ["accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier"]
REGRESSION = ["rmse", "mae", "r2"]


def weights(kind: str, n: int, seed: int) -> np.ndarray | None:
    rng = np.random.default_rng(seed + 100)
    if kind == "none":
        return None
    if kind == "counts":
        return rng.integers(0, 4, n).astype(np.float64)
    return rng.random(n) * 3


def test_builtins_are_the_documented_set() -> None:
    assert sorted(builtin_metrics()) == sorted(CLASSIFICATION + REGRESSION)


@pytest.mark.parametrize("weighting", ["none", "counts", "real"])
@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("name", CLASSIFICATION)
def test_classification_metric_equals_sklearn(name: str, k: int, weighting: str) -> None:
    y, p = classification(600, k, seed=k)
    w = weights(weighting, len(y), k)
    assert get_metric(name).score(y, p, sample_weight=w) == pytest.approx(
        reference(name, y, p, w), abs=1e-9, rel=0
    )


@pytest.mark.parametrize("weighting", ["none", "counts", "real"])
@pytest.mark.parametrize("name", REGRESSION)
def test_regression_metric_equals_sklearn(name: str, weighting: str) -> None:
    y, p = regression(500, seed=1)
    w = weights(weighting, len(y), 1)
    assert get_metric(name).score(y, p, sample_weight=w) == pytest.approx(
        reference(name, y, p, w), abs=1e-9, rel=0
    )


@pytest.mark.parametrize("name", ["roc_auc", "pr_auc", "f1", "log_loss"])
def test_continuous_scores_without_ties_equal_sklearn(name: str) -> None:
    y, p = classification(2000, 2, seed=9, decimals=None)
    w = weights("counts", len(y), 9)
    assert get_metric(name).score(y, p, w) == pytest.approx(reference(name, y, p, w), abs=1e-9)


@pytest.mark.parametrize("share", [0.05, 0.95])
@pytest.mark.parametrize("name", ["roc_auc", "pr_auc"])
def test_imbalanced_classes_equal_sklearn(name: str, share: float) -> None:
    """Check both ways of cumulating the smaller class, with ties and weights."""
    rng = np.random.default_rng(6)
    y = (rng.random(3000) < share).astype(int)
    p1 = np.round(np.clip(0.3 * y + rng.random(3000) * 0.7, 0, 1), 2)
    p = Predictions((p1 > 0.5).astype(int), np.column_stack([1 - p1, p1]), (0, 1))
    w = weights("counts", 3000, 6)
    for sw in (None, w):
        assert get_metric(name).score(y, p, sw) == pytest.approx(
            reference(name, y, p, sw), abs=1e-9
        )


@pytest.mark.parametrize("name", ["precision", "recall", "f1", "roc_auc", "pr_auc", "brier"])
def test_positive_class_is_the_second_of_classes(name: str) -> None:
    """Check that string classes work and the second class is the positive one."""
    y, p = classification(300, 2, seed=4)
    names = np.array(["spam", "ham"])  # the model's order, not the sorted one
    y_named = names[y]
    named = Predictions(names[p.labels], p.proba, ("spam", "ham"))
    expected = reference(name, y_named, named, None)
    assert get_metric(name).score(y_named, named) == pytest.approx(expected, abs=1e-9)


def test_classes_inferred_from_zero_one_labels() -> None:
    y = np.array([0, 1, 1, 0, 1])
    labels = np.array([0, 1, 0, 0, 1])
    assert get_metric("f1").score(y, Predictions(labels)) == pytest.approx(skm.f1_score(y, labels))
    only_ones = Predictions(np.ones(3, dtype=int))
    assert get_metric("recall").score(np.ones(3, dtype=int), only_ones) == 1.0


def test_one_dimensional_proba_is_the_positive_class() -> None:
    y, p = classification(200, 2, seed=2)
    assert p.proba is not None
    one_column = Predictions(p.labels, p.proba[:, 1], p.classes)
    for name in ("roc_auc", "log_loss", "brier"):
        assert get_metric(name).score(y, one_column) == pytest.approx(
            get_metric(name).score(y, p), abs=1e-12
        )


def test_macro_average_skips_classes_absent_from_the_data() -> None:
    """As sklearn: labels that occur in neither y_true nor the predictions are not averaged."""
    y = np.array([0, 1, 1, 0, 1, 0])
    labels = np.array([0, 1, 0, 0, 1, 1])
    p = Predictions(labels, None, (0, 1, 2))
    assert get_metric("f1").score(y, p) == pytest.approx(skm.f1_score(y, labels, average="macro"))


def test_no_predicted_positive_gives_zero_precision() -> None:
    y = np.array([0, 1, 1, 0])
    p = Predictions(np.zeros(4, dtype=int), None, (0, 1))
    assert get_metric("precision").score(y, p) == 0.0
    assert get_metric("f1").score(y, p) == 0.0


def test_r2_of_constant_truth_is_finite() -> None:
    y = np.full(5, 3.0)
    assert get_metric("r2").score(y, Predictions(y.copy())) == 1.0
    assert get_metric("r2").score(y, Predictions(y + 1)) == 0.0


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(
        st.tuples(
            st.integers(0, 1), st.integers(0, 1), st.sampled_from([0.1, 0.35, 0.5, 0.8, 0.95])
        ),
        min_size=2,
        max_size=40,
    ),
    counts=st.lists(st.integers(0, 5), min_size=40, max_size=40),
)
def test_binary_metrics_equal_sklearn_on_any_small_data(
    data: list[tuple[int, int, float]], counts: list[int]
) -> None:
    y = np.array([d[0] for d in data])
    labels = np.array([d[1] for d in data])
    positive = np.array([d[2] for d in data])
    w = np.array(counts[: len(y)], dtype=np.float64)
    assume(w.sum() > 0)
    p = Predictions(labels, np.column_stack([1 - positive, positive]), (0, 1))
    for name in ("accuracy", "precision", "recall", "f1", "log_loss", "brier"):
        assert get_metric(name).score(y, p, w) == pytest.approx(reference(name, y, p, w), abs=1e-9)
    if w[y == 1].sum() > 0 and w[y == 0].sum() > 0:
        for name in ("roc_auc", "pr_auc"):
            assert get_metric(name).score(y, p, w) == pytest.approx(
                reference(name, y, p, w), abs=1e-9
            )


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.floats(-1e3, 1e3, allow_nan=False), st.floats(-1e3, 1e3, allow_nan=False)),
        min_size=2,
        max_size=40,
    ),
    counts=st.lists(st.integers(0, 5), min_size=40, max_size=40),
)
def test_regression_metrics_equal_sklearn_on_any_small_data(
    rows: list[tuple[float, float]], counts: list[int]
) -> None:
    y = np.array([r[0] for r in rows])
    p = Predictions(np.array([r[1] for r in rows]))
    w = np.array(counts[: len(y)], dtype=np.float64)
    assume(w.sum() > 0)
    for name in ("rmse", "mae"):
        assert get_metric(name).score(y, p, w) == pytest.approx(
            reference(name, y, p, w), rel=1e-9, abs=1e-9
        )


@settings(max_examples=40, deadline=None)
@given(
    k=st.integers(3, 4),
    seed=st.integers(0, 10_000),
    n=st.integers(12, 60),
)
def test_multiclass_ranking_equals_sklearn_on_any_seed(k: int, seed: int, n: int) -> None:
    y, p = classification(n, k, seed=seed, decimals=1)
    assume(len(np.unique(y)) == k)
    w = weights("counts", n, seed)
    assert w is not None
    assume(all(w[y == c].sum() > 0 and w[y != c].sum() > 0 for c in range(k)))
    for name in ("roc_auc", "pr_auc", "f1", "log_loss"):
        assert get_metric(name).score(y, p, w) == pytest.approx(reference(name, y, p, w), abs=1e-9)


# ---------------------------------------------------------------- errors


def test_unknown_metric_lists_the_valid_names() -> None:
    with pytest.raises(ConfigError, match=r"Unknown metric 'auc'.*accuracy, brier, f1"):
        get_metric("auc")


def test_length_mismatch_is_named() -> None:
    with pytest.raises(InvalidInput, match="y_true has 3 rows but the predictions have 2"):
        get_metric("f1").score(np.array([0, 1, 1]), Predictions(np.array([0, 1])))


def test_empty_input_is_refused() -> None:
    with pytest.raises(InvalidInput, match="empty"):
        get_metric("rmse").score(np.array([]), Predictions(np.array([])))


def test_unknown_label_values_are_named() -> None:
    y = np.array(["a", "b", "z", "y", "z"])
    p = Predictions(np.array(["a", "b", "a", "a", "b"]), None, ("a", "b"))
    with pytest.raises(InvalidInput, match=r"never had: 'y', 'z'\. The classes are 'a', 'b'"):
        get_metric("accuracy").score(y, p)


def test_labels_of_another_type_than_the_classes_are_refused() -> None:
    p = Predictions(np.array([0, 1]), None, (0, 1))
    with pytest.raises(InvalidInput, match="y_true"):
        get_metric("accuracy").score(np.array(["a", "b"]), p)


@pytest.mark.parametrize("name", ["roc_auc", "pr_auc", "log_loss", "brier"])
def test_missing_probabilities_are_named(name: str) -> None:
    with pytest.raises(InvalidInput, match="needs predicted probabilities"):
        get_metric(name).score(np.array([0, 1]), Predictions(np.array([0, 1])))


@pytest.mark.parametrize("name", ["roc_auc", "pr_auc"])
def test_one_class_makes_auc_undefined(name: str) -> None:
    p = Predictions(np.array([1, 1, 1]), np.array([[0.2, 0.8], [0.4, 0.6], [0.1, 0.9]]), (0, 1))
    with pytest.raises(InvalidInput, match="undefined with one class: every row of y_true is 1"):
        get_metric(name).score(np.array([1, 1, 1]), p)


def test_class_absent_from_truth_makes_one_vs_rest_undefined() -> None:
    y, p = classification(50, 3, seed=1)
    with pytest.raises(InvalidInput, match=r"undefined for class\(es\) 2"):
        get_metric("roc_auc").score(np.where(y == 2, 0, y), p)


def test_weights_leaving_one_class_are_refused() -> None:
    y, p = classification(50, 2, seed=1)
    with pytest.raises(InvalidInput, match="undefined on these rows: AUC is undefined when"):
        get_metric("roc_auc").score(y, p, sample_weight=(y == 1).astype(float))


def test_probabilities_are_checked() -> None:
    y = np.array([0, 1, 2])
    bad_sum = Predictions(y, np.full((3, 3), 0.5), (0, 1, 2))
    with pytest.raises(InvalidInput, match="do not sum to 1"):
        get_metric("log_loss").score(y, bad_sum)
    too_few = Predictions(y, np.full((3, 2), 0.5), (0, 1, 2))
    with pytest.raises(InvalidInput, match="2 columns but there are 3 classes"):
        get_metric("log_loss").score(y, too_few)
    negative = Predictions(y[:2], np.array([[1.5, -0.5], [0.5, 0.5]]), (0, 1))
    with pytest.raises(InvalidInput, match=r"must lie in \[0, 1\]"):
        get_metric("roc_auc").score(y[:2], negative)


def test_nan_regression_values_are_refused() -> None:
    with pytest.raises(InvalidInput, match="NaN"):
        get_metric("rmse").score(np.array([1.0, np.nan]), Predictions(np.array([1.0, 2.0])))


def test_bad_sample_weights_are_refused() -> None:
    y, p = regression(5, seed=0)
    with pytest.raises(InvalidInput, match="one value per row"):
        get_metric("mae").score(y, p, sample_weight=[1.0, 2.0])
    with pytest.raises(InvalidInput, match=">= 0"):
        get_metric("mae").score(y, p, sample_weight=[1.0, -1.0, 1.0, 1.0, 1.0])


# ---------------------------------------------------------------- user metrics


def balanced(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """A user metric: sklearn's balanced accuracy."""
    return float(skm.balanced_accuracy_score(y_true, y_pred))


def spread(y_true: np.ndarray, proba: np.ndarray) -> float:
    """A user metric on probabilities."""
    return float(np.mean(proba[:, 1][y_true == 1]) - np.mean(proba[:, 1][y_true == 0]))


def broken(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    raise ZeroDivisionError("oops")


def wordy(y_true: np.ndarray, y_pred: np.ndarray) -> str:
    return "good"


NOT_A_FUNCTION = 3


def test_user_metric_on_labels() -> None:
    y, p = classification(300, 3, seed=3)
    metric = get_metric(f"{__name__}:balanced", greater_is_better=True)
    assert metric.greater_is_better and not metric.needs_proba
    assert metric.score(y, p) == balanced(y, p.labels)


def test_user_metric_on_probabilities() -> None:
    y, p = classification(300, 2, seed=3)
    metric = get_metric(f"{__name__}:spread", greater_is_better=True, needs_proba=True)
    assert metric.kind == "classification"
    assert p.proba is not None
    assert metric.score(y, p) == spread(y, p.proba)
    with pytest.raises(InvalidInput, match="needs predicted probabilities"):
        metric.score(y, Predictions(p.labels))


def test_user_metric_needs_a_direction() -> None:
    with pytest.raises(ConfigError, match="say whether greater is better"):
        get_metric(f"{__name__}:balanced")


def test_builtins_ignore_the_direction_given() -> None:
    assert get_metric("rmse", greater_is_better=True).greater_is_better is False


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("no_such_package_xyz.mod:fn", r"Cannot import module 'no_such_package_xyz\.mod'"),
        (f"{__name__}:missing", "has no function 'missing'"),
        (f"{__name__}:NOT_A_FUNCTION", "is not a function"),
        (":fn", "must be written 'package.module:function'"),
    ],
)
def test_user_metric_import_errors_are_clear(name: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        get_metric(name, greater_is_better=True)


def test_user_metric_failures_are_input_errors() -> None:
    y, p = classification(20, 2, seed=3)
    with pytest.raises(InvalidInput, match="raised ZeroDivisionError: oops"):
        get_metric(f"{__name__}:broken", greater_is_better=True).score(y, p)
    with pytest.raises(InvalidInput, match="must return a number"):
        get_metric(f"{__name__}:wordy", greater_is_better=True).score(y, p)
    with pytest.raises(InvalidInput, match="takes no sample weights"):
        get_metric(f"{__name__}:balanced", greater_is_better=True).score(y, p, np.ones(20))


def test_builtin_table_is_read_only() -> None:
    table = builtin_metrics()
    with pytest.raises(TypeError):
        table["f1"] = table["accuracy"]  # type: ignore[index]
