"""The inference server over real HTTP: protocols, validation errors, deployments, the log."""

from __future__ import annotations

import json
import time

import httpx
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from mlship.registry import Registry
from mlship.rollout import DeploymentStore
from mlship.store.schema import predictions
from tests.conftest import fit_logreg
from tests.integration.conftest import ServeFactory

FEATURES = ["amount", "hour", "distance"]


@pytest.fixture
def served(registry: Registry, numeric_frame: pd.DataFrame, serve_factory: ServeFactory):
    model = fit_logreg(numeric_frame)
    registry.register(model, "fraud", train_data=numeric_frame, label="is_fraud")
    registry.set_alias("fraud@1", "production")
    server = serve_factory(registry, models=("fraud@production",))
    return server, model, numeric_frame.drop(columns=["is_fraud"])


def test_native_rows_and_columns_give_the_models_answers(served) -> None:
    server, model, rows = served
    sample = rows.head(5)
    by_rows = httpx.post(
        f"{server.url}/models/fraud/predict", json={"inputs": sample.to_dict("records")}
    )
    assert by_rows.status_code == 200, by_rows.text
    body = by_rows.json()
    assert body["model"] == "fraud" and body["version"] == 1
    assert body["predictions"] == model.predict(sample).tolist()
    np.testing.assert_allclose(body["probabilities"], model.predict_proba(sample))
    assert by_rows.headers["x-request-id"] == body["request_id"]
    by_columns = httpx.post(
        f"{server.url}/models/fraud/predict",
        json={"columns": FEATURES, "data": sample[FEATURES].values.tolist()},
    )
    assert by_columns.json()["predictions"] == body["predictions"]


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({"inputs": [{"amount": 1.0, "hour": 3}]}, 422, "distance"),
        ({"inputs": [{"amount": 1.0, "hour": 3, "distance": 2.0, "zip": 1}]}, 422, "zip"),
        ({"inputs": [{"amount": "lots", "hour": 3, "distance": 2.0}]}, 422, "amount"),
        ({"inputs": []}, 400, None),
        ({"rows": []}, 400, None),
        ([1, 2, 3], 400, None),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_field(served, payload, status, field) -> None:
    server, _, _ = served
    response = httpx.post(f"{server.url}/models/fraud/predict", json=payload)
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    if field is not None:
        assert body["field"] == field
        assert field in body["error"]


def test_malformed_json_oversize_body_and_unknown_model(served) -> None:
    server, _, rows = served
    broken = httpx.post(
        f"{server.url}/models/fraud/predict",
        content=b'{"inputs": [',
        headers={"content-type": "application/json"},
    )
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]
    many = {"inputs": [rows.iloc[0].to_dict()] * 10_001}
    assert httpx.post(f"{server.url}/models/fraud/predict", json=many).status_code == 413
    huge = b'{"inputs": [' + b" " * (11 * 1024 * 1024) + b"]}"
    too_big = httpx.post(
        f"{server.url}/models/fraud/predict",
        content=huge,
        headers={"content-type": "application/json"},
    )
    assert too_big.status_code == 413 and "max-body-mb" in too_big.json()["error"]
    missing = httpx.post(f"{server.url}/models/nope/predict", json={"inputs": []})
    assert missing.status_code == 404 and "fraud" in missing.json()["error"]


def test_mlflow_scoring_forms(served) -> None:
    server, model, rows = served
    sample = rows.head(3)
    expected = model.predict(sample).tolist()
    split = sample.to_dict("split")
    forms = [
        {"dataframe_split": {"columns": split["columns"], "data": split["data"]}},
        {"dataframe_split": {"data": sample[FEATURES].values.tolist()}},
        {"dataframe_records": sample.to_dict("records")},
        {"instances": sample.to_dict("records")},
        {"inputs": {c: sample[c].tolist() for c in FEATURES}},
    ]
    for form in forms:
        for path in ("/invocations", "/models/fraud/invocations"):
            response = httpx.post(f"{server.url}{path}", json=form)
            assert response.status_code == 200, (form, response.text)
            assert response.json() == {"predictions": expected}
    csv = httpx.post(
        f"{server.url}/invocations",
        content=sample.to_csv(index=False),
        headers={"content-type": "text/csv"},
    )
    assert csv.json() == {"predictions": expected}
    assert httpx.get(f"{server.url}/ping").status_code == 200


@pytest.mark.parametrize("content_type", [None, ""], ids=["no-header", "empty-header"])
def test_invocations_without_a_content_type_is_a_415_naming_json_and_csv(
    served, content_type: str | None
) -> None:
    """Check that a scoring body without a Content-Type is refused, as MLflow's scoring server
    does, instead of being guessed to be JSON (before: a 200)."""
    server, _, rows = served
    body = json.dumps({"dataframe_records": rows.head(2).to_dict("records")})
    headers = {} if content_type is None else {"content-type": content_type}
    for path in ("/invocations", "/models/fraud/invocations"):
        request = httpx.Request("POST", f"{server.url}{path}", content=body, headers=headers)
        assert request.headers.get("content-type") == content_type
        with httpx.Client() as http:
            response = http.send(request)
        assert response.status_code == 415, response.text
        assert response.headers["content-type"] == "application/json"
        error = response.json()["error"]
        assert "application/json" in error and "text/csv" in error


def test_v2_metadata_and_inference(served) -> None:
    server, model, rows = served
    sample = rows.head(4)
    meta = httpx.get(f"{server.url}/v2/models/fraud").json()
    assert [i["name"] for i in meta["inputs"]] == ["input-0", *FEATURES]
    assert meta["inputs"][0]["shape"] == [-1, 3]
    assert meta["inputs"][0]["parameters"] == {"feature_names": FEATURES}
    assert httpx.get(f"{server.url}/v2/models/fraud/ready").json()["ready"] is True
    assert httpx.get(f"{server.url}/v2/health/ready").status_code == 200
    one_tensor = {
        "id": "req-7",
        "inputs": [
            {
                "name": "input-0",
                "shape": [4, 3],
                "datatype": "FP64",
                "data": sample[FEATURES].values.ravel().tolist(),
            }
        ],
    }
    response = httpx.post(f"{server.url}/v2/models/fraud/infer", json=one_tensor)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == "req-7" and body["model_version"] == "1"
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["predict"]["data"] == model.predict(sample).tolist()
    np.testing.assert_allclose(
        np.reshape(outputs["predict_proba"]["data"], (4, 2)), model.predict_proba(sample)
    )
    per_feature = {
        "inputs": [
            {"name": c, "shape": [4], "datatype": "FP64", "data": sample[c].tolist()}
            for c in FEATURES
        ],
        "outputs": [{"name": "predict_proba"}],
    }
    only = httpx.post(f"{server.url}/v2/models/fraud/versions/1/infer", json=per_feature).json()
    assert [o["name"] for o in only["outputs"]] == ["predict_proba"]
    mismatch = {
        "inputs": [
            {
                "name": c,
                "shape": [2],
                "datatype": "FP64",
                "data": [1.0] if c == "amount" else [1.0, 2.0],
            }
            for c in FEATURES
        ]
    }
    bad = httpx.post(f"{server.url}/v2/models/fraud/infer", json=mismatch)
    assert bad.status_code == 400, bad.text
    assert "amount" in bad.json()["error"]


def test_deployment_change_takes_effect_without_restart(
    served, registry: Registry, numeric_frame: pd.DataFrame
) -> None:
    server, _, rows = served
    registry.register(
        fit_logreg(numeric_frame.sample(frac=1.0, random_state=3)),
        "fraud",
        train_data=numeric_frame,
        label="is_fraud",
    )
    moved = time.monotonic()
    registry.set_alias("fraud@2", "production")
    payload = {"inputs": rows.head(1).to_dict("records")}
    while True:
        version = httpx.post(f"{server.url}/models/fraud/predict", json=payload).json()["version"]
        if version == 2:
            break
        assert time.monotonic() - moved < 5, "the alias move was not picked up"
        time.sleep(0.05)
    elapsed = time.monotonic() - moved
    assert elapsed < 2.0  # issue target: 1 s; a loaded CI machine gets slack


def test_store_deployment_is_served_and_predictions_are_logged(
    registry: Registry, numeric_frame: pd.DataFrame, serve_factory: ServeFactory
) -> None:
    model = fit_logreg(numeric_frame)
    registry.register(model, "fraud", train_data=numeric_frame, label="is_fraud")
    DeploymentStore(registry).set_stable("fraud@1", reason="first")
    server = serve_factory(registry)
    rows = numeric_frame.drop(columns=["is_fraud"]).head(3).to_dict("records")
    ids = []
    probabilities = {}
    for i, row in enumerate(rows):
        headers = {"x-routing-key": f"card-{i}"} if i else {}
        response = httpx.post(
            f"{server.url}/models/fraud/predict", json={"inputs": [row]}, headers=headers
        )
        assert response.status_code == 200
        ids.append(response.json()["request_id"])
        probabilities[ids[-1]] = response.json()["probabilities"]
    assert ids == sorted(ids) and len(set(ids)) == 3  # new request ids sort by time
    fb = httpx.post(
        f"{server.url}/models/fraud/feedback", json=[{"request_id": ids[0], "label": 1}]
    )
    assert fb.status_code == 200 and fb.json() == {"stored": 1, "unknown": 0}
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'mlship_requests_total{model="fraud"' in metrics
    server.stop()  # a graceful shutdown flushes the log
    with registry.store.read() as conn:
        logged = conn.execute(
            sa.select(
                predictions.c.request_id,
                predictions.c.version,
                predictions.c.scores,
                predictions.c.routing_key,
                predictions.c.latency_ms,
                predictions.c.model_ms,
                predictions.c.batch_wait_ms,
            )
        ).all()
    assert sorted(r.request_id for r in logged) == sorted(ids)
    keys = {r.request_id: r.routing_key for r in logged}
    assert [keys[rid] for rid in ids] == [None, "card-1", "card-2"]
    for r in logged:  # the model's own time and the wait for a batch are parts of the latency
        assert 0 < r.model_ms and r.batch_wait_ms >= 0
        assert r.model_ms + r.batch_wait_ms <= r.latency_ms
    assert {r.version for r in logged} == {1}
    assert {r.request_id: r.scores for r in logged} == probabilities
    kinds = [e.kind for e in registry.history("fraud")]
    assert "deployed" in kinds


def test_admin_routes_need_the_token(
    registry: Registry, numeric_frame: pd.DataFrame, serve_factory: ServeFactory
) -> None:
    model = fit_logreg(numeric_frame)
    registry.register(model, "fraud", train_data=numeric_frame, label="is_fraud")
    registry.register(model, "fraud", train_data=numeric_frame, label="is_fraud")
    DeploymentStore(registry).set_stable("fraud@1")
    server = serve_factory(registry, token="s3cret-token")
    url = f"{server.url}/admin/models/fraud/deploy"
    assert httpx.post(url, json={"ref": "2"}).status_code == 401
    wrong = httpx.post(url, json={"ref": "2"}, headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "s3cret" not in wrong.text
    ok = httpx.post(
        url, json={"ref": "2", "force": True}, headers={"authorization": "Bearer s3cret-token"}
    )
    assert ok.status_code == 200 and ok.json()["stable_version"] == 2
    row = {"inputs": numeric_frame.drop(columns=["is_fraud"]).head(1).to_dict("records")}
    assert httpx.post(f"{server.url}/models/fraud/predict", json=row).json()["version"] == 2


class Exploding:
    """A model whose predict raises on purpose (stored with cloudpickle, trusted)."""

    classes_ = np.array([0, 1])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        raise RuntimeError("boom: secret internal detail")


def test_model_that_raises_is_a_500_with_request_id_and_no_traceback(
    registry: Registry, numeric_frame: pd.DataFrame, serve_factory: ServeFactory
) -> None:
    registry.register(Exploding(), "boom", train_data=numeric_frame, label="is_fraud", trusted=True)
    server = serve_factory(registry, models=("boom",))
    row = {"inputs": numeric_frame.drop(columns=["is_fraud"]).head(1).to_dict("records")}
    response = httpx.post(
        f"{server.url}/models/boom/predict", json=row, headers={"x-request-id": "req-42"}
    )
    assert response.status_code == 500
    body = response.json()
    assert body["request_id"] == "req-42"
    assert "Traceback" not in response.text and "secret internal detail" not in response.text


def test_no_request_fails_while_deployments_switch_under_load(
    registry: Registry, numeric_frame: pd.DataFrame, serve_factory: ServeFactory
) -> None:
    """Check that every request gets a 200 while the stable version flips back and forth."""
    import concurrent.futures

    for seed in (1, 2):
        registry.register(
            fit_logreg(numeric_frame.sample(frac=1.0, random_state=seed)),
            "fraud",
            train_data=numeric_frame,
            label="is_fraud",
        )
    deployments = DeploymentStore(registry)
    deployments.set_stable("fraud@1")
    server = serve_factory(registry, refresh_interval_s=0.05)
    row = {"inputs": numeric_frame.drop(columns=["is_fraud"]).head(2).to_dict("records")}
    stop = time.monotonic() + 4.0

    def hammer() -> tuple[int, set[int], list[int]]:
        ok, versions, failures = 0, set(), []
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while time.monotonic() < stop:
                response = client.post("/models/fraud/predict", json=row)
                if response.status_code == 200:
                    ok += 1
                    versions.add(response.json()["version"])
                else:
                    failures.append(response.status_code)
        return ok, versions, failures

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(hammer) for _ in range(8)]
        flips = 0
        while time.monotonic() < stop - 0.5:
            deployments.set_stable(f"fraud@{2 if flips % 2 == 0 else 1}")
            flips += 1
            time.sleep(0.3)
        results = [f.result() for f in futures]
    assert flips >= 5
    assert [f for _, _, failures in results for f in failures] == []
    assert sum(ok for ok, _, _ in results) > 50
    assert set().union(*(v for _, v, _ in results)) == {1, 2}


def test_admin_deploy_of_a_version_that_cannot_load_leaves_the_store_alone(
    registry: Registry, numeric_frame: pd.DataFrame, serve_factory: ServeFactory
) -> None:
    from pathlib import Path

    model = fit_logreg(numeric_frame)
    registry.register(model, "fraud", train_data=numeric_frame, label="is_fraud")
    v2 = registry.register(
        fit_logreg(numeric_frame.sample(frac=1.0, random_state=9)),
        "fraud",
        train_data=numeric_frame,
        label="is_fraud",
    )
    DeploymentStore(registry).set_stable("fraud@1")
    server = serve_factory(registry)
    Path(v2.artifact_uri).write_bytes(b"tampered")
    response = httpx.post(f"{server.url}/admin/models/fraud/deploy", json={"ref": "2"})
    assert response.status_code == 409 and "Nothing was loaded" in response.json()["error"]
    assert DeploymentStore(registry).get("fraud").stable_version == 1
    row = {"inputs": numeric_frame.drop(columns=["is_fraud"]).head(1).to_dict("records")}
    assert httpx.post(f"{server.url}/models/fraud/predict", json=row).json()["version"] == 1


def test_admin_routes_refuse_cross_site_requests(
    registry: Registry, numeric_frame: pd.DataFrame, serve_factory: ServeFactory
) -> None:
    registry.register(
        fit_logreg(numeric_frame), "fraud", train_data=numeric_frame, label="is_fraud"
    )
    DeploymentStore(registry).set_stable("fraud@1")
    server = serve_factory(registry)
    url = f"{server.url}/admin/models/fraud/deploy"
    plain = httpx.post(url, content='{"ref": "1"}', headers={"content-type": "text/plain"})
    assert plain.status_code == 415
    evil = httpx.post(url, json={"ref": "1"}, headers={"origin": "https://evil.example"})
    assert evil.status_code == 403
    assert httpx.post(url, json={"ref": "1", "force": True}).status_code == 200
