"""The project's own tests: what `[checks] code` runs first (CI layer 1)."""

from __future__ import annotations

from make_data import transactions
from train import CATEGORICAL, LABEL, NUMERIC, build_model, evaluate


def test_data_has_the_features_and_a_label() -> None:
    frame = transactions(500, seed=3)
    assert set(NUMERIC + CATEGORICAL + [LABEL]) == set(frame.columns)
    assert 0.02 < frame[LABEL].mean() < 0.4


def test_model_learns_something() -> None:
    train = transactions(1000, seed=0)
    model = build_model().fit(train[NUMERIC + CATEGORICAL], train[LABEL])
    assert evaluate(model, transactions(1000, seed=1))["holdout_roc_auc"] > 0.7
