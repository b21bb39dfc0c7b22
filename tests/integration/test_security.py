"""What the server refuses, through a real server on loopback: DNS rebinding (the ``Host``
allow-list), feedback from strangers, pinned requests counted as an arm, oversize CSV, the docs
page's third-party script, and names that end in a newline."""

from __future__ import annotations

import socket
import time
import tracemalloc

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa

from mlship.errors import ConfigError, InvalidInput, InvalidReference
from mlship.registry import Feature, Registry, Signature
from mlship.registry.reference import ModelRef, validate_alias, validate_model_name
from mlship.rollout import CanaryConfig, DeploymentStore, Rollouts
from mlship.serving import ServeSettings
from mlship.serving.decode import DecodeOptions, InputDecoder
from mlship.serving.host_guard import HostGuard
from mlship.serving.http import sane_request_id
from mlship.serving.request_ids import RequestIds
from mlship.store.schema import feedback, predictions
from tests.conftest import fit_logreg
from tests.integration.conftest import RunningServer, ServeFactory

TOKEN = "security-test-token"
SLOW = CanaryConfig(steps=(50, 100), interval_s=3600, max_wait_s=7200)


@pytest.fixture
def deployed(registry: Registry, numeric_frame: pd.DataFrame) -> list[dict[str, object]]:
    """``fraud`` v1 deployed as stable, v2 registered and gated (blessed)."""
    for seed in range(2):
        registry.register(
            fit_logreg(numeric_frame.sample(frac=1.0, random_state=seed)),
            "fraud",
            train_data=numeric_frame,
            label="is_fraud",
        )
    registry.record_check_run("fraud@2", kind="gate", passed=True, report={})
    DeploymentStore(registry).set_stable("fraud@1")
    rows: list[dict[str, object]] = (
        numeric_frame.drop(columns=["is_fraud"]).head(20).to_dict("records")
    )
    return rows


def port_of(server: RunningServer) -> int:
    return server.settings.port


# ------------------------------------------------------------------------------ DNS rebinding


def test_a_rebound_name_reaches_no_route(
    registry: Registry, deployed: list[dict[str, object]], serve_factory: ServeFactory
) -> None:
    """Check that a page on evil.example rebound to 127.0.0.1 (Host and Origin both its own,
    so an Origin-matches-Host test passes) is refused on every route and changes nothing."""
    server = serve_factory(registry)  # no token: the loopback default
    Rollouts(registry).start_canary("fraud@2", SLOW)
    evil = f"evil.example:{port_of(server)}"
    headers = {"host": evil, "origin": f"http://{evil}"}
    before = len(registry.history("fraud"))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        refused = [
            client.post("/admin/models/fraud/pause", json={}, headers=headers),
            client.post("/admin/models/fraud/rollback", json={}, headers=headers),
            client.get("/ui/api/models", headers=headers),
            client.get("/admin/deployments", headers=headers),
            client.post("/models/fraud/predict", json={"inputs": deployed[:1]}, headers=headers),
            client.post("/models/fraud/feedback", json=[], headers=headers),
            client.get("/healthz", headers=headers),
        ]
        for response in refused:
            assert response.status_code == 421, (response.request.url, response.text)
            assert "--allowed-host evil.example" in response.json()["error"]
        assert DeploymentStore(registry).get("fraud").state == "canary"
        assert len(registry.history("fraud")) == before
        # The names a local client uses still work, with and without the port.
        for host in (f"127.0.0.1:{port_of(server)}", f"localhost:{port_of(server)}", "localhost"):
            assert client.get("/ui/api/models", headers={"host": host}).status_code == 200
        assert client.post("/admin/models/fraud/pause", json={}).status_code == 200


def test_allowed_host_adds_names_and_star_allows_any(
    registry: Registry, deployed: list[dict[str, object]], serve_factory: ServeFactory
) -> None:
    named = serve_factory(registry, allowed_hosts=("models.internal",))
    anything = serve_factory(registry, allowed_hosts=("*",))
    for server, host, status in (
        (named, "models.internal", 200),
        (named, "MODELS.internal.:8080", 200),
        (named, "other.internal", 421),
        (anything, "other.internal", 200),
    ):
        response = httpx.get(f"{server.url}/healthz", headers={"host": host})
        assert response.status_code == status, (host, response.text)


def test_the_host_allow_list_of_each_kind_of_bind() -> None:
    loopback = HostGuard.for_server("127.0.0.1", (), has_token=False)
    assert loopback.allowed == frozenset({"127.0.0.1", "localhost", "::1"})
    assert loopback.allows(b"[::1]:8080") and not loopback.allows(b"127.0.0.1.evil.example")
    # All interfaces with a token: clients' names are unknown, the token guards what matters.
    assert HostGuard.for_server("0.0.0.0", (), has_token=True).allowed is None
    narrowed = HostGuard.for_server("0.0.0.0", ("api.example",), has_token=True)
    assert narrowed.allows(b"api.example") and not narrowed.allows(b"evil.example")
    # All interfaces without a token (--insecure): the machine's own names, never any name.
    open_bind = HostGuard.for_server("0.0.0.0", (), has_token=False)
    assert open_bind.allows(socket.gethostname().encode())
    assert not open_bind.allows(b"evil.example")


def test_allowed_hosts_come_from_the_environment_and_bad_ones_are_refused() -> None:
    settings = ServeSettings.from_env({"MLSHIP_ALLOWED_HOSTS": "a.example, 10.0.0.7,[::1]"})
    assert settings.allowed_hosts == ("a.example", "10.0.0.7", "[::1]")
    with pytest.raises(ConfigError, match=r"^The 'allowed_hosts' option must be host names"):
        ServeSettings.from_env({"MLSHIP_ALLOWED_HOSTS": "http://a.example:8080"})


# ----------------------------------------------------------------------------------- feedback


def answered_ids(server: RunningServer, rows: list[dict[str, object]], n: int) -> list[str]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        return [
            client.post("/models/fraud/predict", json={"inputs": [rows[i]]}).json()["request_id"]
            for i in range(n)
        ]


def stored_labels(registry: Registry) -> dict[str, object]:
    with registry.store.read() as conn:
        return {
            r.request_id: r.label
            for r in conn.execute(sa.select(feedback.c.request_id, feedback.c.label))
        }


def test_feedback_needs_the_token_json_and_the_same_site(
    registry: Registry, deployed: list[dict[str, object]], serve_factory: ServeFactory
) -> None:
    server = serve_factory(registry, token=TOKEN, feedback_token="labels-only")
    rid = answered_ids(server, deployed, 1)[0]
    url = f"{server.url}/models/fraud/feedback"
    body = [{"request_id": rid, "label": 1}]
    admin = {"authorization": f"Bearer {TOKEN}"}
    assert httpx.post(url, json=body).status_code == 401
    wrong = httpx.post(url, json=body, headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401 and TOKEN not in wrong.text
    plain = httpx.post(
        url,
        content=b'[{"request_id": "x", "label": 1}]',
        headers={**admin, "content-type": "text/plain"},
    )
    assert plain.status_code == 415 and "application/json" in plain.json()["error"]
    foreign = httpx.post(url, json=body, headers={**admin, "origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert stored_labels(registry) == {}
    # The feedback token, and the admin token with the scheme in another case (RFC 7235).
    labels_only = {"authorization": "Bearer labels-only"}
    assert httpx.post(url, json=body, headers=labels_only).json() == {"stored": 1, "unknown": 0}
    assert (
        httpx.post(url, json=body, headers={"authorization": f"bearer {TOKEN}"}).status_code == 200
    )
    # The feedback token opens nothing else.
    pause = httpx.post(f"{server.url}/admin/models/fraud/pause", json={}, headers=labels_only)
    assert pause.status_code == 401


def test_feedback_stores_only_labels_of_answered_requests(
    registry: Registry, deployed: list[dict[str, object]], serve_factory: ServeFactory
) -> None:
    """Check that labels of request ids the log never saw are counted and named, not stored,
    while labels sent right after their predictions are (the log may still be writing them)."""
    server = serve_factory(registry)
    ids = answered_ids(server, deployed, 3)
    body = [{"request_id": rid, "label": 1} for rid in ids]
    body += [{"request_id": f"made-up-{i}", "label": 0} for i in range(30)]
    answer = httpx.post(f"{server.url}/models/fraud/feedback", json=body, timeout=30).json()
    assert (answer["stored"], answer["unknown"]) == (3, 30)
    assert answer["unknown_request_ids"] == sorted(f"made-up-{i}" for i in range(30))[:20]
    assert "no prediction of 'fraud' has that request id" in answer["message"]
    assert stored_labels(registry) == dict.fromkeys(ids, 1)


def test_feedback_is_capped_in_rows_and_takes_only_plain_labels(
    registry: Registry, deployed: list[dict[str, object]], serve_factory: ServeFactory
) -> None:
    server = serve_factory(registry, max_batch_rows=100)
    url = f"{server.url}/models/fraud/feedback"
    rid = answered_ids(server, deployed, 1)[0]
    many = httpx.post(url, json=[{"request_id": rid, "label": 1}] * 101)
    assert many.status_code == 413 and "at most 100 labels" in many.json()["error"]
    # 300 levels is more than orjson writes (255): this was a 500 with a traceback.
    raw = (
        b'[{"request_id": "'
        + rid.encode()
        + b'", "label": '
        + b"[" * 300
        + b"1"
        + b"]" * 300
        + b"}]"
    )
    nested = httpx.post(url, content=raw, headers={"content-type": "application/json"})
    assert nested.status_code == 422 and nested.json()["field"] == "label", nested.text
    for label, said in (
        ({"a": 1}, "an object"),
        ([1, [2]], "a list holding a list"),
        ([], "an empty list"),
        ([0, None], "a list holding null"),
    ):
        wrong = httpx.post(url, json=[{"request_id": rid, "label": label}])
        assert wrong.status_code == 422, label
        assert wrong.json()["field"] == "label" and said in wrong.json()["error"]
    # A list labels a multi-row request row by row.
    assert httpx.post(url, json=[{"request_id": rid, "label": [1]}]).json()["stored"] == 1
    assert stored_labels(registry) == {rid: [1]}


# ------------------------------------------------------------------------------ pinned versions


def test_a_pinned_version_is_never_counted_as_an_arm(
    registry: Registry, deployed: list[dict[str, object]], serve_factory: ServeFactory
) -> None:
    server = serve_factory(registry)
    Rollouts(registry).start_canary("fraud@2", SLOW)
    tensor = {
        "name": "input-0",
        "shape": [1, 3],
        "datatype": "FP64",
        "data": [[deployed[0]["amount"], deployed[0]["hour"], deployed[0]["distance"]]],
    }
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for _ in range(100):  # the server reads the canary within its refresh interval
            pinned = client.post(
                "/v2/models/fraud/versions/2/infer",
                json={"inputs": [tensor]},
                headers={"x-request-id": "pinned-request"},
            )
            if pinned.status_code != 404:
                break
            time.sleep(0.1)
    assert pinned.status_code == 200, pinned.text
    server.stop()  # a graceful stop writes the log
    with registry.store.read() as conn:
        logged = conn.execute(
            sa.select(predictions.c.version, predictions.c.role).where(
                predictions.c.request_id == "pinned-request"
            )
        ).all()
    assert [(r.version, r.role) for r in logged] == [(2, "pinned")]


# ------------------------------------------------------------------------------ bodies, names


def test_an_oversize_csv_is_refused_before_it_is_parsed_whole() -> None:
    """Check that a 10 MB CSV of 2.6 M short rows is refused after about the row limit, not
    after all its rows are lists in memory (+330 MB before)."""
    signature = Signature((Feature("a", "int"), Feature("b", "int")), "regression")
    decoder = InputDecoder(signature, DecodeOptions(max_batch_rows=10_000))
    text = "1,2\n" * 2_600_000
    tracemalloc.start()
    try:
        with pytest.raises(InvalidInput, match="more than the 10000 rows") as refused:
            decoder.mlflow_csv(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.status == 413
    assert peak < 2 * len(text) + 20 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"


def test_swagger_ui_is_off_by_default_and_confined_when_on(
    registry: Registry, deployed: list[dict[str, object]], serve_factory: ServeFactory
) -> None:
    plain = serve_factory(registry)
    assert httpx.get(f"{plain.url}/docs").status_code == 404
    assert httpx.get(f"{plain.url}/redoc").status_code == 404
    assert "/models/{name}/predict" in httpx.get(f"{plain.url}/openapi.json").json()["paths"]
    with_docs = serve_factory(registry, docs=True)
    page = httpx.get(f"{with_docs.url}/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert "'unsafe-inline'" not in policy and "'sha256-" in policy


def test_names_aliases_and_request_ids_must_match_in_full(
    registry: Registry, deployed: list[dict[str, object]]
) -> None:
    for name in ("fraud\n", "fraud\r\n", "fraud\nx"):
        with pytest.raises(InvalidReference):
            validate_model_name(name)
    with pytest.raises(InvalidReference):
        validate_alias("production\n")
    with pytest.raises(InvalidReference):
        ModelRef.parse("fraud@prod\nuction")
    with pytest.raises(InvalidReference):
        registry.set_alias("fraud@1", "production\n")
    ids = RequestIds()
    assert sane_request_id("abc-1", ids) == "abc-1"
    assert sane_request_id("abc\n", ids) != "abc\n"


def test_bearer_scheme_is_matched_in_any_case(
    registry: Registry, deployed: list[dict[str, object]], serve_factory: ServeFactory
) -> None:
    server = serve_factory(registry, token=TOKEN)
    url = f"{server.url}/admin/deployments"
    for scheme in ("Bearer", "bearer", "BEARER"):
        assert httpx.get(url, headers={"authorization": f"{scheme} {TOKEN}"}).status_code == 200
    assert httpx.get(url, headers={"authorization": f"Basic {TOKEN}"}).status_code == 401
