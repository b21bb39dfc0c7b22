"""MLflow's own scoring client and request builders against ``/invocations``.

``ScoringServerClient`` is what MLflow uses to call ``mlflow models serve``; the other JSON forms
are built by MLflow's helpers (``dump_input_data``, ``convert_input_example_to_serving_input``),
so the payloads are byte for byte what MLflow users send.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature
from mlflow.models.utils import convert_input_example_to_serving_input
from mlflow.pyfunc.scoring_server.client import ScoringServerClient
from mlflow.utils.proto_json_utils import dump_input_data

from mlship.registry import Registry
from tests.conftest import fit_logreg
from tests.integration.conftest import RunningServer, ServeFactory

pytestmark = [
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
    # MLflow compares a pandas 3 Index with a range when it turns a DataFrame into a payload.
    pytest.mark.filterwarnings(
        "ignore:Operation with range is deprecated:pandas.errors.Pandas4Warning"
    ),
]

LABEL = "is_fraud"

Served = tuple[RunningServer, Any, pd.DataFrame]

PAYLOADS: dict[str, Callable[[pd.DataFrame], str]] = {
    "dataframe_split": convert_input_example_to_serving_input,
    "dataframe_records": lambda rows: dump_input_data(
        rows.to_dict("records"), inputs_key="dataframe_records"
    ),
    "instances as objects": lambda rows: dump_input_data(
        rows.to_dict("records"), inputs_key="instances"
    ),
    "instances as lists": lambda rows: dump_input_data(rows.to_numpy(), inputs_key="instances"),
    "inputs as columns": lambda rows: convert_input_example_to_serving_input(
        {c: rows[c].to_numpy() for c in rows.columns}
    ),
    "inputs as lists": lambda rows: dump_input_data(rows.to_numpy()),
}


def _client(server: RunningServer) -> ScoringServerClient:
    host, port = server.url.removeprefix("http://").split(":")
    return ScoringServerClient(host, int(port))


@pytest.fixture
def served(registry: Registry, numeric_frame: pd.DataFrame, serve_factory: ServeFactory) -> Served:
    """A scikit-learn model, the only one served (so ``/invocations`` is its URL)."""
    model = fit_logreg(numeric_frame)
    registry.register(model, "fraud", train_data=numeric_frame, label=LABEL)
    registry.set_alias("fraud@1", "production")
    server = serve_factory(registry, models=("fraud@production",))
    return server, model, numeric_frame.drop(columns=[LABEL]).head(8)


@pytest.fixture
def served_mlflow_folder(
    registry: Registry, numeric_frame: pd.DataFrame, serve_factory: ServeFactory, tmp_path: Path
) -> Served:
    """The same kind of model saved by ``mlflow.sklearn.save_model`` (with a signature, so
    MLflow enforces the column types too), registered with ``trusted=True``."""
    import mlflow.sklearn

    model = fit_logreg(numeric_frame)
    features = numeric_frame.drop(columns=[LABEL])
    folder = tmp_path / "mlflow-model"
    mlflow.sklearn.save_model(
        model, str(folder), signature=infer_signature(features, model.predict(features))
    )
    version = registry.register(
        folder, "fraud", train_data=numeric_frame, label=LABEL, trusted=True
    )
    assert version.format == "mlflow"
    server = serve_factory(registry, models=("fraud@1",))
    return server, model, features.head(8)


def _check_client_and_payloads(server: RunningServer, model: Any, rows: pd.DataFrame) -> None:
    expected = model.predict(rows)
    client = _client(server)
    client.wait_server_ready(timeout=10)
    # invoke(): a DataFrame goes as "dataframe_split" with its index, an array as "inputs".
    for data in (rows, rows.to_numpy(), rows.to_dict("records")):
        predictions = client.invoke(data).get_predictions(predictions_format="ndarray")
        np.testing.assert_array_equal(predictions, expected)
    for form, build in PAYLOADS.items():
        for path in ("/invocations", "/models/fraud/invocations"):
            response = httpx.post(
                f"{server.url}{path}",
                content=build(rows),
                headers={"content-type": "application/json"},
            )
            assert response.status_code == 200, (form, response.text)
            assert response.json() == {"predictions": expected.tolist()}, form


def test_scoring_client_and_mlflow_payloads_give_the_models_predictions(served: Served) -> None:
    _check_client_and_payloads(*served)


def test_mlflow_model_folder_is_served_to_the_same_client(served_mlflow_folder: Served) -> None:
    _check_client_and_payloads(*served_mlflow_folder)


@pytest.mark.parametrize("header", [True, False], ids=["with-header", "without-header"])
def test_csv_gives_the_models_predictions(served: Served, header: bool) -> None:
    """Check ``text/csv`` (what ``curl --data-binary @data.csv`` sends to an MLflow server);
    without a header row the columns are in signature order."""
    server, model, rows = served
    response = httpx.post(
        f"{server.url}/invocations",
        content=rows.to_csv(index=False, header=header),
        headers={"content-type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": model.predict(rows).tolist()}


@pytest.mark.parametrize("value", ["inf", "-Infinity", "1e999"])
def test_csv_infinity_is_a_422_naming_the_feature(served: Served, value: str) -> None:
    """Check that a non-finite number, which CSV can carry but JSON cannot, is refused like a
    missing one instead of reaching the model (scikit-learn raises on it: a 500)."""
    server, _, _ = served
    response = httpx.post(
        f"{server.url}/invocations",
        content=f"amount,hour,distance\n{value},3,2.5\n",
        headers={"content-type": "text/csv"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "amount"


def test_scoring_client_sees_the_error_of_a_bad_request(served: Served) -> None:
    server, _, rows = served
    with pytest.raises(Exception, match=r"error code 422") as failed:
        _client(server).invoke(rows.drop(columns=["distance"]))
    assert "distance" in str(failed.value)
