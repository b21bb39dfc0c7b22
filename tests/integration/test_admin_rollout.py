"""The rollout admin API over real HTTP: deploy (blue-green, canary), status, promote, rollback,
pause, resume, abort; the token, the error statuses, and ``mlship status`` beside it."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from mlship.registry import Registry
from mlship.rollout import DeploymentStore, Rollouts
from tests.conftest import fit_logreg
from tests.integration.conftest import RunningServer, ServeFactory

TOKEN = "admin-test-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
# No step is judged during a test: every change comes from the test itself.
SLOW = {"interval_s": 3600, "max_wait_s": 7200}
ACTIONS = ("promote", "rollback", "pause", "resume", "abort")


@pytest.fixture
def served(
    registry: Registry, numeric_frame: pd.DataFrame, serve_factory: ServeFactory
) -> tuple[Registry, RunningServer, list[dict[str, Any]]]:
    """``fraud`` v1 deployed, v2 and v3 gated (blessed), v4 never gated; a server with a token."""
    for seed in range(4):
        registry.register(
            fit_logreg(numeric_frame.sample(frac=1.0, random_state=seed)),
            "fraud",
            train_data=numeric_frame,
            label="is_fraud",
        )
    for version in (2, 3):
        registry.record_check_run(f"fraud@{version}", kind="gate", passed=True, report={})
    DeploymentStore(registry).set_stable("fraud@1")
    server = serve_factory(registry, token=TOKEN)
    rows = numeric_frame.drop(columns=["is_fraud"]).head(20).to_dict("records")
    return registry, server, rows


def post(server: RunningServer, path: str, body: object = None, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/admin/models/{path}",
        json={} if body is None else body,
        headers={**AUTH, **headers},
        timeout=60,
    )


def versions_served(server: RunningServer, rows: list[dict[str, Any]], keys: int = 60) -> set[int]:
    """The versions that answer ``keys`` different routing keys."""
    seen = set()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for i in range(keys):
            response = client.post(
                "/models/fraud/predict",
                json={"inputs": [rows[i % len(rows)]]},
                headers={"x-routing-key": f"user-{i}"},
            )
            assert response.status_code == 200, response.text
            seen.add(response.json()["version"])
    return seen


def test_canary_over_http_pause_resume_promote(served) -> None:
    registry, server, rows = served
    started = post(
        server,
        "fraud/deploy",
        {"ref": "fraud@2", "strategy": "canary", "steps": [50, 100], "min_requests": 30, **SLOW},
    )
    assert started.status_code == 200, started.text
    body = started.json()
    assert (body["state"], body["candidate_version"], body["traffic"]) == ("canary", 2, 0.5)
    assert body["config"]["steps"] == [50, 100] and body["config"]["min_requests"] == 30
    # The server that took the change serves it at once (no poll to wait for).
    assert versions_served(server, rows) == {1, 2}

    paused = post(server, "fraud/pause", {"reason": "look first", "actor": "alice"})
    assert paused.status_code == 200 and paused.json()["state"] == "paused"
    assert versions_served(server, rows) == {1}  # a paused canary serves stable only
    assert post(server, "fraud/resume").json()["state"] == "canary"
    promoted = post(server, "fraud/promote", {"reason": "looks good"})
    assert promoted.status_code == 200
    assert (promoted.json()["stable_version"], promoted.json()["state"]) == (2, "idle")
    assert versions_served(server, rows) == {2}
    assert registry.resolve("fraud@production") == ("fraud", 2)

    by_kind = {e.kind: e for e in registry.history("fraud")}
    assert by_kind["canary_started"].actor == "http 127.0.0.1"
    assert by_kind["paused"].actor == "alice via http 127.0.0.1"
    assert by_kind["paused"].reason == "look first"
    assert by_kind["promoted"].reason == "looks good"


def test_rollback_and_abort_over_http_take_effect_on_the_answering_server(served) -> None:
    registry, server, rows = served
    half = {"ref": "3", "strategy": "canary", "steps": [50, 100], **SLOW}
    assert post(server, "fraud/deploy", half).status_code == 200
    back = post(server, "fraud/rollback")
    assert back.status_code == 200
    assert (back.json()["state"], back.json()["candidate_version"]) == ("rolled_back", None)
    assert versions_served(server, rows) == {1}
    assert registry.history("fraud")[-1].reason == "manual rollback"

    assert (
        post(server, "fraud/deploy", {"ref": "3", "strategy": "canary", **SLOW}).status_code == 200
    )
    assert versions_served(server, rows, keys=200) == {1, 3}  # 5 % of 200 keys
    aborted = post(server, "fraud/abort", {"reason": "wrong build"})
    assert (aborted.json()["state"], aborted.json()["stable_version"]) == ("idle", 1)
    assert versions_served(server, rows) == {1}


def test_shadow_over_http_then_promote_to_a_canary(served) -> None:
    registry, server, rows = served
    shadow = post(server, "fraud/deploy", {"ref": "2", "strategy": "shadow", "mirror_percent": 50})
    assert shadow.status_code == 200, shadow.text
    body = shadow.json()
    assert (body["state"], body["shadow_version"], body["mirror_percent"]) == ("shadow", 2, 50)
    assert versions_served(server, rows) == {1}  # users get stable's answers only
    refused = post(server, "fraud/promote", {"strategy": "blue-green", "steps": [50, 100]})
    assert refused.status_code == 422 and refused.json()["field"] == "steps"
    canary = post(server, "fraud/promote", {"steps": [50, 100], **SLOW, "reason": "shadow ok"})
    assert canary.status_code == 200, canary.text
    assert (canary.json()["state"], canary.json()["traffic"]) == ("canary", 0.5)
    assert versions_served(server, rows) == {1, 2}
    # From a canary, a promotion takes no strategy (the domain says why).
    wrong = post(server, "fraud/promote", {"strategy": "canary"})
    assert wrong.status_code == 409 and "only apply when promoting a shadow" in wrong.text
    assert post(server, "fraud/promote").json()["stable_version"] == 2
    assert registry.resolve("fraud@production") == ("fraud", 2)


def test_blue_green_over_http_needs_a_blessed_version_or_force(served) -> None:
    registry, server, rows = served
    refused = post(server, "fraud/deploy", {"ref": "fraud@4"})
    assert refused.status_code == 409 and "never gated" in refused.json()["error"]
    assert DeploymentStore(registry).get("fraud").stable_version == 1

    switched = post(server, "fraud/deploy", {"ref": "2", "strategy": "blue-green"})
    assert switched.status_code == 200 and switched.json()["stable_version"] == 2
    assert versions_served(server, rows) == {2}
    forced = post(server, "fraud/deploy", {"ref": 4, "force": True, "reason": "hotfix"})
    assert forced.status_code == 200 and forced.json()["stable_version"] == 4
    assert versions_served(server, rows) == {4}
    # Rollback without a candidate: back to the stable version before this one.
    assert post(server, "fraud/rollback").json()["stable_version"] == 2
    deployed = [e for e in registry.history("fraud") if e.kind == "deployed"]
    assert deployed[-1].reason == "hotfix" and deployed[-1].actor == "http 127.0.0.1"


ROUTES = [("POST", "fraud/deploy"), ("GET", "fraud/status")] + [
    ("POST", f"fraud/{action}") for action in ACTIONS
]


def test_every_rollout_route_needs_the_token(served) -> None:
    registry, server, _ = served
    revision = DeploymentStore(registry).get("fraud").revision
    for method, path in ROUTES:
        url = f"{server.url}/admin/models/{path}"
        body = {"ref": "2", "strategy": "canary"} if path.endswith("deploy") else {}
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}):
            response = httpx.request(method, url, json=body, headers=headers)
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
            assert TOKEN not in response.text
    assert DeploymentStore(registry).get("fraud").revision == revision


def test_invalid_transitions_are_409_and_change_nothing(served) -> None:
    registry, server, _ = served
    for action in ("promote", "pause", "resume", "abort"):
        response = post(server, f"fraud/{action}")
        assert response.status_code == 409, (action, response.text)
        assert "fraud is idle; this needs it to be" in response.json()["error"]
    canary = {"ref": "2", "strategy": "canary", **SLOW}
    assert post(server, "fraud/deploy", canary).status_code == 200
    assert post(server, "fraud/resume").status_code == 409
    again = post(server, "fraud/deploy", {**canary, "ref": "3"})
    assert again.status_code == 409 and "already rolling out v2" in again.json()["error"]
    same = post(server, "fraud/deploy", {"ref": "1", "strategy": "canary"})
    assert same.status_code == 409
    assert DeploymentStore(registry).get("fraud").candidate_version == 2


def test_unknown_model_or_version_is_404(served) -> None:
    _, server, _ = served
    for path in ("ghost/" + a for a in ACTIONS):
        response = post(server, path)
        assert response.status_code == 404, (path, response.text)
        assert "mlship deploy ghost@VERSION" in response.json()["error"]
    status = httpx.get(f"{server.url}/admin/models/ghost/status", headers=AUTH)
    assert status.status_code == 404
    assert post(server, "ghost/deploy", {"ref": "1"}).status_code == 404
    missing = post(server, "fraud/deploy", {"ref": "fraud@99", "strategy": "canary"})
    assert missing.status_code == 404


BAD_DEPLOY_BODIES: list[tuple[object, int, str | None, str]] = [
    ({}, 422, "ref", "Field required"),
    ({"ref": None}, 422, "ref", "Invalid field 'ref'"),
    ({"ref": True}, 422, "ref", "Invalid field 'ref'"),
    ({"ref": "2", "strategy": "yolo"}, 422, "strategy", "'blue-green', 'canary' or 'shadow'"),
    ({"ref": "2", "strategy": "shadow", "mirror_percent": 0}, 400, None, "above 0"),
    ({"ref": "2", "strategy": "shadow", "steps": [50, 100]}, 422, "steps", "canary strategy"),
    ({"ref": "2", "mirror_percent": 50}, 422, "mirror_percent", "shadow strategy only"),
    ({"ref": "2", "steps": [10, 100]}, 422, "steps", "canary strategy only"),
    ({"ref": "2", "strategy": "canary", "steps": [5, 50, 25]}, 400, None, "ending at 100"),
    ({"ref": "2", "strategy": "canary", "steps": "5,100"}, 422, "steps", "valid list"),
    ({"ref": "2", "strategy": "canary", "interval_s": -1}, 400, None, "'interval_s'"),
    ({"ref": "2", "strategy": "canary", "interval_s": "5m"}, 422, "interval_s", "number"),
    ({"ref": "2", "strategy": "canary", "max_latency_ratio": 2}, 422, None, "server-wide"),
    ({"ref": "2", "colour": "blue"}, 422, "colour", "Unknown field 'colour'"),
    ({"ref": "2", "reason": 7}, 422, "reason", "Invalid field 'reason'"),
    ({"ref": "2", "reason": "a\x00b"}, 422, "reason", "NUL"),
    ({"ref": "2", "actor": "x" * 121}, 422, "actor", "at most 120 characters"),
    ({"ref": "other@2"}, 422, "ref", "not a version of 'fraud'"),
    ([{"ref": "2"}], 400, None, "JSON object"),
    ("{not json", 400, None, "not valid JSON"),
]
"""(body, status, field named in the error, text of the message)."""


def test_bad_deploy_bodies_are_4xx_that_name_the_field(served) -> None:
    registry, server, _ = served
    url = f"{server.url}/admin/models/fraud/deploy"
    headers = {**AUTH, "content-type": "application/json"}
    for body, status, field, says in BAD_DEPLOY_BODIES:
        content = body if isinstance(body, str) else json.dumps(body)
        response = httpx.post(url, content=content, headers=headers)
        assert response.status_code == status, (body, response.text)
        error = response.json()
        assert says in error["error"], (body, error)
        assert field is None or error["field"] == field, (body, error)
    assert DeploymentStore(registry).get("fraud").revision == 1


def test_bad_action_bodies_are_4xx(served) -> None:
    _, server, _ = served
    assert post(server, "fraud/rollback", {"reason": ["x"]}).status_code == 422
    assert post(server, "fraud/rollback", {"why": "x"}).json()["field"] == "why"
    empty = httpx.post(
        f"{server.url}/admin/models/fraud/pause",
        headers={**AUTH, "content-type": "application/json"},
    )
    assert empty.status_code == 409  # an empty body is fine: the transition itself is refused
    plain = httpx.post(
        f"{server.url}/admin/models/fraud/rollback",
        content="{}",
        headers={**AUTH, "content-type": "text/plain"},
    )
    assert plain.status_code == 415


def test_status_over_http_is_what_the_cli_prints(served, db_url: str, tmp_path: Path) -> None:
    registry, server, _ = served
    Rollouts(registry).start_canary("fraud@2")
    over_http = httpx.get(f"{server.url}/admin/models/fraud/status", headers=AUTH)
    assert over_http.status_code == 200
    cli = subprocess.run(
        [sys.executable, "-m", "mlship", "status", "fraud", "--json"],
        env=_env(tmp_path, db_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    assert over_http.json() == json.loads(cli.stdout)
    kinds = [e["kind"] for e in over_http.json()["events"]]
    assert kinds[-2:] == ["deployed", "canary_started"] and "registered" not in kinds


def _env(tmp_path: Path, db_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "MLSHIP_HOME": str(tmp_path / "home"),
        "MLSHIP_DB_URL": db_url,
        "MLSHIP_ARTIFACTS": str(tmp_path / "artifacts"),
        "COLUMNS": "160",
        "LINES": "60",
    }


def test_status_watch_refreshes_and_stops_cleanly_on_ctrl_c(
    served, db_url: str, tmp_path: Path
) -> None:
    """Check that ``mlship status --watch`` (on a terminal: a pty) shows a change made while it
    runs, and that Ctrl-C (SIGINT) ends it with exit code 0."""
    registry, _, _ = served
    rollouts = Rollouts(registry)
    rollouts.start_canary("fraud@2")
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlship", "status", "fraud", "--watch"],
        env=_env(tmp_path, db_url),
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=secondary,
        start_new_session=True,
    )
    os.close(secondary)
    output = b""

    def read_until(text: bytes, after: int, timeout: float = 60.0) -> None:
        nonlocal output
        deadline = time.monotonic() + timeout
        while text not in output[after:]:
            assert proc.poll() is None, output.decode(errors="replace")
            assert time.monotonic() < deadline, output[-2000:].decode(errors="replace")
            if select.select([primary], [], [], 0.2)[0]:
                try:
                    output += os.read(primary, 65536)
                except OSError:  # the child closed the terminal
                    break

    try:
        read_until(b"canary", 0)
        mark = len(output)
        rollouts.pause("fraud", reason=f"watch-{uuid.uuid4().hex[:6]}")
        read_until(b"paused", mark)  # the next refresh (every second) shows the change
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(primary)
