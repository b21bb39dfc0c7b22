"""The paired bootstrap: the vectorized interval equals a plain loop calling scikit-learn."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from sklearn import metrics as skm

from mlship.checks.bootstrap import BootstrapResult, paired_bootstrap, resample_indices
from mlship.checks.metrics import Predictions, get_metric
from mlship.errors import ConfigError, InvalidInput

Reference = Callable[[np.ndarray, Predictions], float]


def classifier(y: np.ndarray, skill: float, seed: int, decimals: int | None = None) -> Predictions:
    rng = np.random.default_rng(seed)
    p = 1 / (1 + np.exp(-(skill * (2 * y - 1) + rng.normal(size=len(y)))))
    if decimals is not None:
        p = np.round(p, decimals)
    return Predictions((p > 0.5).astype(np.int64), np.column_stack([1 - p, p]), (0, 1))


def regressor(y: np.ndarray, noise: float, seed: int) -> Predictions:
    return Predictions(y + noise * np.random.default_rng(seed).normal(size=len(y)))


def binary_task(n: int, seed: int = 0) -> tuple[np.ndarray, Predictions, Predictions]:
    y = np.random.default_rng(seed).integers(0, 2, n)
    return y, classifier(y, 1.0, seed + 1, decimals=2), classifier(y, 0.7, seed + 2, decimals=2)


def proba1(p: Predictions) -> np.ndarray:
    assert p.proba is not None
    return p.proba[:, 1]


SKLEARN: dict[str, Reference] = {
    "accuracy": lambda y, p: skm.accuracy_score(y, p.labels),
    "f1": lambda y, p: skm.f1_score(y, p.labels, zero_division=0),
    "precision": lambda y, p: skm.precision_score(y, p.labels, zero_division=0),
    "roc_auc": lambda y, p: skm.roc_auc_score(y, proba1(p)),
    "pr_auc": lambda y, p: skm.average_precision_score(y, proba1(p)),
    "log_loss": lambda y, p: skm.log_loss(y, y_proba=p.proba, labels=[0, 1]),
    "brier": lambda y, p: skm.brier_score_loss(y, proba1(p)),
}


def subset(p: Predictions, idx: np.ndarray) -> Predictions:
    proba = None if p.proba is None else p.proba[idx]
    return Predictions(p.labels[idx], proba, p.classes)


def by_hand(
    reference: Reference,
    y: np.ndarray,
    cand: Predictions,
    base: Predictions,
    resamples: int,
    confidence: float,
    seed: int,
) -> tuple[float, float]:
    """The bootstrap as a plain loop over the published resamples, calling sklearn."""
    differences = [
        reference(y[idx], subset(cand, idx)) - reference(y[idx], subset(base, idx))
        for block in resample_indices(len(y), resamples, seed)
        for idx in block
    ]
    tail = (1 - confidence) / 2
    low, high = np.quantile(differences, [tail, 1 - tail])
    return float(low), float(high)


@pytest.mark.parametrize("name", sorted(SKLEARN))
def test_interval_equals_the_loop_with_sklearn(name: str) -> None:
    y, cand, base = binary_task(400, seed=1)
    result = paired_bootstrap(get_metric(name), y, cand, base, resamples=300, seed=7)
    low, high = by_hand(SKLEARN[name], y, cand, base, 300, 0.95, 7)
    assert result.low == pytest.approx(low, abs=1e-9)
    assert result.high == pytest.approx(high, abs=1e-9)
    assert result.candidate == pytest.approx(SKLEARN[name](y, cand), abs=1e-9)
    assert result.baseline == pytest.approx(SKLEARN[name](y, base), abs=1e-9)
    assert result.difference == result.candidate - result.baseline


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("rmse", lambda y, p: skm.root_mean_squared_error(y, p.labels)),
        ("mae", lambda y, p: skm.mean_absolute_error(y, p.labels)),
        ("r2", lambda y, p: skm.r2_score(y, p.labels)),
    ],
)
def test_regression_interval_equals_the_loop_with_sklearn(name: str, reference: Reference) -> None:
    y = 50 + 10 * np.random.default_rng(3).normal(size=300)
    cand, base = regressor(y, 1.0, 4), regressor(y, 1.2, 5)
    result = paired_bootstrap(get_metric(name), y, cand, base, resamples=200, seed=2)
    low, high = by_hand(reference, y, cand, base, 200, 0.95, 2)
    assert (result.low, result.high) == pytest.approx((low, high), abs=1e-9)


def test_multiclass_interval_equals_the_loop_with_sklearn() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 500)

    def model(skill: float) -> Predictions:
        logits = rng.normal(size=(500, 3)) + skill * np.eye(3)[y]
        proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        return Predictions(proba.argmax(axis=1), proba, (0, 1, 2))

    cand, base = model(1.5), model(1.0)
    for name, reference in {
        "f1": lambda y, p: skm.f1_score(y, p.labels, average="macro", zero_division=0),
        "roc_auc": lambda y, p: skm.roc_auc_score(y, p.proba, multi_class="ovr"),
    }.items():
        result = paired_bootstrap(get_metric(name), y, cand, base, resamples=100, seed=1)
        low, high = by_hand(reference, y, cand, base, 100, 0.95, 1)
        assert (result.low, result.high) == pytest.approx((low, high), abs=1e-9)


def test_large_data_one_resample_per_block_equals_the_loop() -> None:
    """Check the path where each block holds a single resample (n above the block size)."""
    y = np.random.default_rng(0).integers(0, 2, 70_000)
    cand, base = classifier(y, 1.0, 1), classifier(y, 0.8, 2)
    result = paired_bootstrap(get_metric("roc_auc"), y, cand, base, resamples=12, seed=3)
    low, high = by_hand(SKLEARN["roc_auc"], y, cand, base, 12, 0.95, 3)
    assert (result.low, result.high) == pytest.approx((low, high), abs=1e-9)


def test_identical_models_differ_by_exactly_zero() -> None:
    y, cand, _ = binary_task(300)
    for name in ("f1", "roc_auc", "log_loss", "pr_auc"):
        result = paired_bootstrap(get_metric(name), y, cand, cand, resamples=200)
        assert (result.difference, result.low, result.high) == (0.0, 0.0, 0.0)


def test_a_clearly_better_model_has_a_positive_interval() -> None:
    y = np.random.default_rng(0).integers(0, 2, 2000)
    good, poor = classifier(y, 2.0, 1), classifier(y, 0.3, 2)
    for name in ("f1", "roc_auc", "accuracy"):
        assert paired_bootstrap(get_metric(name), y, good, poor, resamples=200).low > 0
    for name in ("log_loss", "brier"):
        # Lower is better: the whole interval of candidate - baseline is below 0.
        assert paired_bootstrap(get_metric(name), y, good, poor, resamples=200).high < 0


def test_same_seed_same_result_other_seed_other_interval() -> None:
    y, cand, base = binary_task(300)
    metric = get_metric("f1")
    first = paired_bootstrap(metric, y, cand, base, resamples=200, seed=11)
    assert paired_bootstrap(metric, y, cand, base, resamples=200, seed=11) == first
    other = paired_bootstrap(metric, y, cand, base, resamples=200, seed=12)
    assert (other.low, other.high) != (first.low, first.high)
    assert other.difference == first.difference


def test_result_does_not_depend_on_threads() -> None:
    y, cand, base = binary_task(300)
    metric = get_metric("roc_auc")
    one = paired_bootstrap(metric, y, cand, base, resamples=500, threads=1)
    assert paired_bootstrap(metric, y, cand, base, resamples=500, threads=3) == one


def test_higher_confidence_widens_the_interval() -> None:
    y, cand, base = binary_task(300)
    metric = get_metric("roc_auc")
    narrow = paired_bootstrap(metric, y, cand, base, resamples=400, confidence=0.8)
    wide = paired_bootstrap(metric, y, cand, base, resamples=400, confidence=0.99)
    assert wide.low < narrow.low < narrow.high < wide.high


def test_resamples_do_not_depend_on_chunking() -> None:
    whole = np.concatenate(list(resample_indices(50, 23, seed=4)))
    assert whole.shape == (23, 50)
    assert np.array_equal(np.concatenate(list(resample_indices(50, 23, seed=4, chunk=5))), whole)
    assert np.array_equal(np.concatenate(list(resample_indices(50, 10, seed=4))), whole[:10])
    assert whole.min() >= 0 and whole.max() < 50


def test_paired_interval_is_narrower_than_either_models_spread() -> None:
    """Check the pairing: both models are scored on the same resampled rows."""
    y, cand, _ = binary_task(500)
    assert cand.proba is not None
    p = np.clip(cand.proba[:, 1] + 0.001, 0, 1)
    nudged = Predictions(cand.labels, np.column_stack([1 - p, p]), (0, 1))
    result = paired_bootstrap(get_metric("brier"), y, cand, nudged, resamples=200)
    # Unpaired, each Brier score varies by ~0.01 between resamples; paired, the difference
    # moves only with the tiny nudge.
    assert result.high - result.low < 1e-3


def user_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(skm.f1_score(y_true, y_pred, zero_division=0))


def test_user_metric_falls_back_to_the_loop() -> None:
    y, cand, base = binary_task(200)
    user = get_metric(f"{__name__}:user_f1", greater_is_better=True)
    mine = paired_bootstrap(user, y, cand, base, resamples=100, seed=5)
    builtin = paired_bootstrap(get_metric("f1"), y, cand, base, resamples=100, seed=5)
    assert (mine.low, mine.high) == pytest.approx((builtin.low, builtin.high), abs=1e-9)
    assert mine.metric == user.name and mine.greater_is_better


def test_undefined_resamples_raise_instead_of_nan() -> None:
    y = np.array([0] * 19 + [1])
    cand = classifier(y, 1.0, 1)
    with pytest.raises(InvalidInput, match=r"roc_auc is undefined on \d+ of 200 bootstrap"):
        paired_bootstrap(get_metric("roc_auc"), y, cand, cand, resamples=200)


def test_input_errors_surface_before_resampling() -> None:
    y, cand, base = binary_task(100)
    with pytest.raises(InvalidInput, match="y_true has 99 rows"):
        paired_bootstrap(get_metric("f1"), y[:99], cand, base)
    with pytest.raises(InvalidInput, match="needs predicted probabilities"):
        paired_bootstrap(get_metric("roc_auc"), y, cand, Predictions(base.labels))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"resamples": 0}, "'resamples' option must be an integer >= 1"),
        ({"confidence": 1.0}, "'confidence' option must be a number between 0 and 1"),
        ({"seed": -1}, "'seed' option must be an integer >= 0"),
        ({"threads": 0}, "'threads' option must be an integer >= 1"),
    ],
)
def test_options_are_validated(options: dict[str, int | float], message: str) -> None:
    y, cand, base = binary_task(50)
    with pytest.raises(ConfigError, match=message):
        paired_bootstrap(get_metric("f1"), y, cand, base, **options)  # type: ignore[arg-type]


def test_result_serializes() -> None:
    y, cand, base = binary_task(100)
    result = paired_bootstrap(get_metric("f1"), y, cand, base, resamples=50)
    data = result.to_dict()
    assert BootstrapResult(**data) == result
    assert data["n"] == 100 and data["resamples"] == 50 and data["confidence"] == 0.95
