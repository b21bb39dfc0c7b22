"""NVIDIA's own Open Inference Protocol client, ``tritonclient.http``, against ``/v2``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import pandas as pd
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException, triton_to_np_dtype

from mlship.registry import Registry
from tests.conftest import fit_logreg, fit_pipeline
from tests.integration.conftest import RunningServer, ServeFactory

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

FEATURES = {"amount": "FP64", "hour": "INT64", "distance": "FP64"}
PREDICTIONS = ("predict", "predict_proba")


@pytest.fixture
def served(
    registry: Registry, numeric_frame: pd.DataFrame, serve_factory: ServeFactory
) -> tuple[RunningServer, Any, pd.DataFrame]:
    model = fit_logreg(numeric_frame)
    registry.register(model, "fraud", train_data=numeric_frame, label="is_fraud")
    registry.set_alias("fraud@1", "production")
    server = serve_factory(registry, models=("fraud@production",))
    return server, model, numeric_frame.drop(columns=["is_fraud"]).head(6)


@pytest.fixture
def client(
    served: tuple[RunningServer, Any, pd.DataFrame],
) -> Iterator[triton.InferenceServerClient]:
    server, _, _ = served
    with triton.InferenceServerClient(url=server.url.removeprefix("http://")) as triton_client:
        yield triton_client


def _matrix(
    rows: pd.DataFrame, binary_data: bool = False, name: str = "input-0"
) -> triton.InferInput:
    """One FP64 tensor [N, 3], the features in signature order."""
    values = rows[list(FEATURES)].to_numpy(dtype=np.float64)
    tensor = triton.InferInput(name, list(values.shape), "FP64")
    tensor.set_data_from_numpy(values, binary_data=binary_data)
    return tensor


def _infer_as_the_metadata_says(
    client: triton.InferenceServerClient, model: str, rows: pd.DataFrame
) -> triton.InferResult:
    """What a generic client does (KServe's, MLServer's, Triton's FIL examples): send the [N, F]
    rows under the first input of the model's metadata, as its datatype."""
    first = client.get_model_metadata(model)["inputs"][0]
    values = rows.to_numpy(dtype=triton_to_np_dtype(first["datatype"]))
    tensor = triton.InferInput(first["name"], list(values.shape), first["datatype"])
    tensor.set_data_from_numpy(values, binary_data=False)
    outputs = [triton.InferRequestedOutput(o, binary_data=False) for o in PREDICTIONS]
    return client.infer(model, [tensor], outputs=outputs)


def _per_feature(rows: pd.DataFrame) -> list[triton.InferInput]:
    """One [N] tensor per feature, named after it, of the datatype the metadata gives."""
    tensors = []
    for name, datatype in FEATURES.items():
        values = rows[name].to_numpy(dtype=np.int64 if datatype == "INT64" else np.float64)
        tensor = triton.InferInput(name, [len(values)], datatype)
        tensor.set_data_from_numpy(values, binary_data=False)
        tensors.append(tensor)
    return tensors


def test_health_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("fraud")
    assert client.is_model_ready("fraud", model_version="1")
    assert not client.is_model_ready("nope")
    assert client.get_server_metadata()["name"] == "mlship"
    meta = client.get_model_metadata("fraud")
    assert meta["name"] == "fraud" and meta["versions"] == ["1"]
    matrix, *per_feature = meta["inputs"]
    assert matrix == {
        "name": "input-0",
        "datatype": "FP64",
        "shape": [-1, 3],
        "parameters": {"feature_names": list(FEATURES)},
    }
    assert per_feature == [
        {"name": name, "datatype": datatype, "shape": [-1]} for name, datatype in FEATURES.items()
    ]
    outputs = {o["name"]: o for o in meta["outputs"]}
    assert outputs["predict"]["datatype"] == "INT64"
    assert outputs["predict_proba"] == {
        "name": "predict_proba",
        "datatype": "FP64",
        "shape": [-1, 2],
    }
    assert client.get_model_metadata("fraud", model_version="1") == meta


def test_one_fp64_tensor_gives_the_models_probabilities(
    served: tuple[RunningServer, Any, pd.DataFrame], client: triton.InferenceServerClient
) -> None:
    _, model, rows = served
    result = client.infer(
        "fraud",
        [_matrix(rows)],
        outputs=[triton.InferRequestedOutput("predict_proba", binary_data=False)],
        request_id="req-triton-1",
    )
    np.testing.assert_allclose(result.as_numpy("predict_proba"), model.predict_proba(rows))
    assert result.as_numpy("predict") is None  # only the requested output is sent
    response = result.get_response()
    assert response["id"] == "req-triton-1"
    assert response["model_name"] == "fraud" and response["model_version"] == "1"


def test_a_client_that_reads_only_the_metadata_gets_the_models_answers(
    served: tuple[RunningServer, Any, pd.DataFrame], client: triton.InferenceServerClient
) -> None:
    """Check that the [N, F] rows sent under the first input of the metadata, with its datatype
    and shape, are the model's rows (before: a 422 asking for one tensor per feature)."""
    _, model, rows = served
    result = _infer_as_the_metadata_says(client, "fraud", rows)
    np.testing.assert_array_equal(result.as_numpy("predict"), model.predict(rows))
    np.testing.assert_allclose(result.as_numpy("predict_proba"), model.predict_proba(rows))
    assert client.get_model_metadata("fraud")["inputs"][0]["shape"] == [-1, len(FEATURES)]


def test_a_mixed_model_takes_its_rows_as_the_bytes_tensor_of_its_metadata(
    registry: Registry, transactions: pd.DataFrame, serve_factory: ServeFactory
) -> None:
    """Check that a model with a string feature offers one BYTES [-1, F] input, and that the
    object array a client sends there (each element as its text) gets the model's answers."""
    model = fit_pipeline(transactions)
    registry.register(model, "mixed", train_data=transactions, label="is_fraud")
    server = serve_factory(registry, models=("mixed@1",))
    rows = transactions.drop(columns=["is_fraud"]).head(7)
    with triton.InferenceServerClient(url=server.url.removeprefix("http://")) as client:
        first = client.get_model_metadata("mixed")["inputs"][0]
        assert (first["name"], first["datatype"], first["shape"]) == ("input-0", "BYTES", [-1, 4])
        assert first["parameters"]["feature_names"] == list(rows.columns)
        result = _infer_as_the_metadata_says(client, "mixed", rows)
    np.testing.assert_array_equal(result.as_numpy("predict"), model.predict(rows))
    np.testing.assert_allclose(result.as_numpy("predict_proba"), model.predict_proba(rows))


def test_a_tensor_of_an_unknown_name_is_a_400_naming_the_accepted_ones(
    served: tuple[RunningServer, Any, pd.DataFrame], client: triton.InferenceServerClient
) -> None:
    """Check that a tensor named neither ``input-0`` nor after a feature is refused (before: one
    such tensor was taken as the [N, F] rows whatever its name)."""
    _, _, rows = served
    with pytest.raises(InferenceServerException) as refused:
        client.infer("fraud", [_matrix(rows, name="features")])
    assert refused.value.status() == "400", refused.value.message()
    message = refused.value.message()
    assert "Unknown input tensor(s) 'features'" in message
    assert all(repr(name) in message or name in message for name in ["input-0", *FEATURES])


def test_the_rows_under_a_features_name_are_a_400_naming_the_tensor_and_its_shape(
    served: tuple[RunningServer, Any, pd.DataFrame], client: triton.InferenceServerClient
) -> None:
    """Check that the [N, F] rows sent under the first feature's name (what a client reading the
    old metadata did) are a 400 pointing to ``input-0``, not a 422 about missing features."""
    _, _, rows = served
    with pytest.raises(InferenceServerException) as refused:
        client.infer("fraud", [_matrix(rows, name="amount")])
    assert refused.value.status() == "400", refused.value.message()
    assert "Input 'amount' has shape [6, 3]" in refused.value.message()
    assert "'input-0'" in refused.value.message()


def test_one_tensor_per_feature_gives_the_models_answers(
    served: tuple[RunningServer, Any, pd.DataFrame], client: triton.InferenceServerClient
) -> None:
    _, model, rows = served
    for version in ("", "1"):
        result = client.infer(
            "fraud",
            _per_feature(rows),
            model_version=version,
            outputs=[
                triton.InferRequestedOutput("predict", binary_data=False),
                triton.InferRequestedOutput("predict_proba", binary_data=False),
            ],
        )
        np.testing.assert_array_equal(result.as_numpy("predict"), model.predict(rows))
        np.testing.assert_allclose(result.as_numpy("predict_proba"), model.predict_proba(rows))
        assert result.as_numpy("predict").dtype == np.int64


def test_the_clients_json_body_needs_no_content_type(
    served: tuple[RunningServer, Any, pd.DataFrame],
) -> None:
    """Check that the body tritonclient builds is accepted without a Content-Type header (the
    client sends none)."""
    server, model, rows = served
    body, json_size = triton.InferenceServerClient.generate_request_body(
        [_matrix(rows)], outputs=[triton.InferRequestedOutput("predict_proba", binary_data=False)]
    )
    assert json_size is None  # all JSON: no binary part
    request = httpx.Request("POST", f"{server.url}/v2/models/fraud/infer", content=body)
    assert "content-type" not in request.headers
    with httpx.Client() as http:
        response = http.send(request)
    assert response.status_code == 200, response.text
    (output,) = response.json()["outputs"]
    proba = np.reshape(output["data"], output["shape"])
    np.testing.assert_allclose(proba, model.predict_proba(rows))


def test_binary_tensor_data_is_refused_with_a_4xx_json_error(
    served: tuple[RunningServer, Any, pd.DataFrame], client: triton.InferenceServerClient
) -> None:
    """Check that the binary tensor extension (raw bytes after the JSON header), which mlship
    does not speak, gets a 400 with a JSON error, not a 5xx."""
    server, _, rows = served
    with pytest.raises(InferenceServerException) as refused:
        client.infer("fraud", [_matrix(rows, binary_data=True)])
    assert refused.value.status() == "400"
    assert "binary_data=False" in refused.value.message()  # the server's JSON "error"
    body, json_size = triton.InferenceServerClient.generate_request_body(
        [_matrix(rows, binary_data=True)]
    )
    assert json_size is not None and json_size < len(body)
    response = httpx.post(
        f"{server.url}/v2/models/fraud/infer",
        content=body,
        headers={"inference-header-content-length": str(json_size)},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) == {"error"}


def test_binary_outputs_requested_are_answered_as_json_the_client_reads(
    served: tuple[RunningServer, Any, pd.DataFrame], client: triton.InferenceServerClient
) -> None:
    _, model, rows = served
    result = client.infer(
        "fraud",
        [_matrix(rows)],
        outputs=[triton.InferRequestedOutput("predict_proba", binary_data=True)],
    )
    np.testing.assert_allclose(result.as_numpy("predict_proba"), model.predict_proba(rows))


@pytest.mark.parametrize(
    "version",
    [
        "x",
        "1.0",
        "-1",
        pytest.param(quote("²"), id="superscript-two"),
        pytest.param(quote("①"), id="circled-one"),
    ],
)
def test_a_version_that_is_not_an_integer_is_a_400(
    client: triton.InferenceServerClient, version: str
) -> None:
    """Check that a version which is not a plain integer is refused with a 400, not a 5xx
    (``str.isdigit`` is also true for digit-like characters such as '²' and '①')."""
    with pytest.raises(InferenceServerException) as refused:
        client.get_model_metadata("fraud", model_version=version)
    assert refused.value.status() == "400", refused.value.message()
    assert "Model versions are integers" in refused.value.message()
