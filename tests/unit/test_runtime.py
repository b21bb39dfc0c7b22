"""A served version's runtime: numeric models get one float array per batch, answers unchanged."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlship.registry import Registry
from mlship.serving.decode import FloatRows, as_frame
from mlship.serving.observability import ServerMetrics
from mlship.serving.runtime import VersionRuntime
from mlship.serving.settings import ServeSettings
from tests.conftest import fit_logreg, fit_pipeline


def _runtime(registry: Registry, model: Any, frame: pd.DataFrame, name: str) -> VersionRuntime:
    registry.register(model, name, train_data=frame, label="is_fraud")
    runtime = VersionRuntime(
        registry.load(f"{name}@1"),
        ServeSettings(),
        ThreadPoolExecutor(1),
        ServerMetrics(),
    )
    runtime.warm_up()
    return runtime


def _first(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.drop(columns=["is_fraud"]).head(2).to_dict("records")


async def _answers(runtime: VersionRuntime, rows: pd.DataFrame) -> list[Any]:
    """Each row as its own request, all at once: they are merged into batches."""
    frames = [rows.iloc[[i]].reset_index(drop=True) for i in range(len(rows))]
    results = await asyncio.gather(*(runtime.predict(f) for f in frames))
    await runtime.close()
    return [(r.predictions[0], r.probabilities[0] if r.probabilities else None) for r in results]


def test_a_numeric_model_takes_arrays_and_answers_as_with_frames(
    registry: Registry, numeric_frame: pd.DataFrame
) -> None:
    """Check that a model fitted on a DataFrame is called with arrays (no feature-name warning,
    which pytest would raise) and gives exactly its DataFrame answers, batched or not."""
    model = fit_logreg(numeric_frame)
    runtime = _runtime(registry, model, numeric_frame, "fraud")
    assert runtime.takes_arrays
    rows = (
        numeric_frame.drop(columns=["is_fraud"])
        .iloc[:40]
        .astype({"hour": "int64", "amount": "float64", "distance": "float64"})
    )
    # Requests then never become DataFrames: the decoder hands over the float array.
    decoded = runtime.decoder.rows(rows.head(3).to_dict("records"))
    assert type(decoded) is FloatRows
    pd.testing.assert_frame_equal(as_frame(decoded), rows.head(3).reset_index(drop=True))
    got = asyncio.run(_answers(runtime, rows))
    expected_proba = model.predict_proba(rows)
    expected = model.predict(rows)
    assert [g[0] for g in got] == expected.tolist()
    # Equal to the last bit but for BLAS summing a batch in another order than 40 rows at once.
    np.testing.assert_allclose(np.array([g[1] for g in got]), expected_proba, rtol=1e-12)


def test_a_pipeline_selecting_columns_by_name_keeps_its_frame(
    registry: Registry, transactions: pd.DataFrame
) -> None:
    """Check that a model that needs column names (a ColumnTransformer) still gets a frame."""
    model = fit_pipeline(transactions)
    runtime = _runtime(registry, model, transactions, "fraud")
    assert not runtime.takes_arrays
    assert type(runtime.decoder.rows(_first(transactions))) is pd.DataFrame
    rows = transactions.drop(columns=["is_fraud"]).iloc[:10]
    got = asyncio.run(_answers(runtime, rows))
    assert [g[0] for g in got] == model.predict(rows).tolist()


@pytest.mark.parametrize("drop", [["country"], ["country", "hour"]])
def test_a_model_fitted_on_arrays_takes_arrays(
    registry: Registry, transactions: pd.DataFrame, drop: list[str]
) -> None:
    """Check that a model fitted without feature names is called with arrays as well."""
    from sklearn.linear_model import LogisticRegression

    frame = transactions.drop(columns=drop)
    features = frame.drop(columns=["is_fraud"])
    model = LogisticRegression(max_iter=500).fit(features.to_numpy(), frame["is_fraud"])
    runtime = _runtime(registry, model, frame, "plain")
    assert runtime.takes_arrays
    got = asyncio.run(_answers(runtime, features.iloc[:8]))
    assert [g[0] for g in got] == model.predict(features.iloc[:8].to_numpy()).tolist()
