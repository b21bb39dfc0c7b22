"""The web UI at ``/ui`` in a real headless Chromium, against a real server and store.

Each page shows the numbers its JSON returns; during a canary the traffic bar follows the real
split; the rollback button (reached with Tab, pressed with Enter) rolls back; a wrong token is a
clear message. Every page loads nothing from elsewhere and logs no console error. Screenshots go
to ``test-artifacts/dashboard/``.

Needs the Python package ``playwright`` (dev dependency) and a Chromium: Debian's
(``/usr/bin/chromium``) or Playwright's own; skipped when missing, except under ``CI`` (``.ci/run``
installs Debian's Chromium), where a missing browser fails the test.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from mlship.registry import Registry
from mlship.rollout import CanaryConfig, Controller, DeploymentStore, Rollouts
from mlship.rollout.shadow_report import shadow_report
from tests.conftest import fit_logreg
from tests.integration.conftest import RunningServer, ServeFactory

pytestmark = pytest.mark.slow
# The pages in a browser on SQLite; the JSON they read on every backend (the last test).
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
TOKEN = "dashboard-secret"


# ------------------------------------------------------------------------------------ browser


class Tab:
    """A browser tab on one server that records console errors, page errors and every URL."""

    def __init__(self, browser: Any, server: RunningServer, name: str) -> None:
        self.server = server
        self.name = name
        self.context = browser.new_context(viewport={"width": 1366, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.problems: list[str] = []
        self.requests: list[str] = []
        self.page.on(
            "console",
            lambda m: self.problems.append(f"console: {m.text}") if m.type == "error" else None,
        )
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def open(self, fragment: str = "") -> None:
        self.page.goto(f"{self.server.url}/ui/{fragment}", wait_until="load")

    def enter_token(self, token: str) -> None:
        self.page.locator("#token").fill(token)
        self.page.locator("#token").press("Enter")

    def shot(self, what: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"\W+", "-", self.name).strip("-") + f"-{what}"
        self.page.screenshot(
            path=str(ARTIFACTS / f"{name}.png"), full_page=True, animations="disabled"
        )

    def assert_clean(self) -> None:
        """No console error, no page error, nothing fetched from anywhere but the server."""
        assert self.problems == []
        foreign = [u for u in self.requests if not u.startswith(self.server.url)]
        assert foreign == []

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser: Any, request: pytest.FixtureRequest) -> Iterator[Callable[[RunningServer], Tab]]:
    opened: list[Tab] = []

    def make(server: RunningServer) -> Tab:
        opened.append(Tab(browser, server, request.node.name))
        return opened[-1]

    yield make
    for found in opened:
        found.close()


# ----------------------------------------------------------------------------------- the data


def fmt(value: float, digits: int) -> str:
    """A number as the page's ``num`` shows it."""
    return f"{value:.{digits}f}"


def api(server: RunningServer, path: str, token: str | None = TOKEN) -> Any:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(f"{server.url}{path}", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(check: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def send(server: RunningServer, rows: list[dict[str, Any]], requests: int, per: int = 1) -> None:
    """``requests`` predictions of ``per`` rows each, with random routing keys."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for i in range(requests):
            batch = [rows[(i * per + j) % len(rows)] for j in range(per)]
            response = client.post(
                "/models/fraud/predict",
                json={"inputs": batch},
                headers={"x-routing-key": uuid.uuid4().hex},
            )
            assert response.status_code == 200, response.text


def logged(registry: Registry, role: str | None = None) -> int:
    import sqlalchemy as sa

    from mlship.store.schema import predictions

    query = sa.select(sa.func.count()).select_from(predictions)
    if role is not None:
        query = query.where(predictions.c.role == role)
    with registry.store.read() as conn:
        return int(conn.execute(query).scalar_one())


@pytest.fixture
def fraud(registry: Registry, numeric_frame: pd.DataFrame) -> Registry:
    """fraud@1 deployed (production), @2 blessed, @3 failed its performance gate."""
    base = fit_logreg(numeric_frame)
    registry.register(
        base,
        "fraud",
        train_data=numeric_frame,
        label="is_fraud",
        metrics={"roc_auc": 0.8123, "f1": 0.61},
    )
    registry.set_alias("fraud@1", "production", reason="first release")
    other = fit_logreg(numeric_frame.sample(frac=1.0, random_state=3))
    registry.register(
        other, "fraud", train_data=numeric_frame, label="is_fraud", metrics={"roc_auc": 0.8201}
    )
    registry.record_check_run("fraud@2", kind="gate", passed=True, report={})
    registry.register(other, "fraud", train_data=numeric_frame, label="is_fraud")
    failing = {
        "results": [
            {"name": "performance", "status": "fail", "message": "f1 0.55 < 0.61 - 0.01"},
            {"name": "latency", "status": "pass", "message": "p95 1.2 ms"},
        ]
    }
    registry.record_check_run("fraud@3", kind="gate", passed=False, report=failing)
    registry.set_alias("fraud@2", "staging")
    Rollouts(registry).start_canary("fraud@1")  # the first deployment goes live at once
    return registry


def rows_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = frame.drop(columns=["is_fraud"]).to_dict("records")
    return records


# ---------------------------------------------------------------------------------- the pages


@SQLITE_ONLY
def test_models_page_shows_versions_metrics_gates_and_alias_moves(
    fraud: Registry, serve_factory: ServeFactory, tab: Callable[[RunningServer], Tab]
) -> None:
    """Check that the models page shows what /ui/api/models returns (a server without a token:
    no token is asked), and that every page of a model without rollouts or traffic says so."""
    server = serve_factory(fraud)
    browser = tab(server)
    browser.open()
    page = browser.page
    card = page.locator('[data-model="fraud"]')
    card.wait_for()
    assert page.locator("#token-form").count() == 0

    data = api(server, "/ui/api/models", token=None)
    (model,) = data["models"]
    assert model["metric_names"] == ["roc_auc", "f1"]  # the newest metrics first
    for version in model["versions"]:
        row = card.locator(f'tr[data-version="{version["version"]}"]')
        for name in model["metric_names"]:
            cell = row.locator(f'[data-metric="{name}"]')
            value = version["metrics"].get(name)
            assert cell.inner_text() == (fmt(value, 4) if value is not None else "\u2013")
        for alias in version["aliases"]:
            assert alias in row.inner_text()
    gates = {v["version"]: v for v in model["versions"]}
    assert (gates[1]["blessed"], gates[2]["blessed"], gates[3]["blessed"]) == (None, True, False)
    assert gates[3]["gate"]["failed"] == [
        {"name": "performance", "message": "f1 0.55 < 0.61 - 0.01"}
    ]
    assert "never gated" in card.locator('tr[data-version="1"] .gate').inner_text()
    assert card.locator('tr[data-version="2"] .gate').inner_text() == "blessed"
    failed = card.locator('tr[data-version="3"] .gate')
    assert "not blessed" in failed.inner_text()
    assert failed.locator('[data-gate="performance"]').inner_text() == "performance failed"
    assert failed.locator('[data-gate="latency"]').count() == 0

    moves = card.locator("table.moves tbody tr")
    assert moves.count() == len(model["alias_moves"]) == 2
    assert "staging" in moves.nth(0).inner_text() and "none \u2192 v2" in moves.nth(0).inner_text()
    assert "first release" in moves.nth(1).inner_text()
    assert card.locator(".deployment-state").inner_text() == "idle: v1 serves"
    browser.shot("models")

    # The model's other pages, reached through the links: each says why it is empty.
    card.get_by_role("link", name="Shadow report").click()
    page.locator("#shadow .empty").wait_for()
    assert "has had no shadow rollout" in page.locator("#shadow").inner_text()
    browser.shot("shadow-none")
    page.get_by_role("link", name="Drift").click()
    page.locator("#drift-summary .empty").wait_for()
    assert "No predictions of fraud were logged" in page.locator("#drift-summary").inner_text()
    assert "No alert" in page.locator("#alerts").inner_text()
    page.get_by_role("link", name="Deployment").click()
    page.locator('#split[data-candidate-percent="0"]').wait_for(state="attached")
    assert page.locator("#split-text").inner_text() == "All requests go to v1."
    assert page.locator("#action-pause").is_disabled()
    assert page.locator("#action-rollback").is_disabled()  # v1 is the first stable version
    browser.assert_clean()


@SQLITE_ONLY
def test_deployment_page_follows_the_canary_and_its_rollback_button_rolls_back(
    fraud: Registry,
    numeric_frame: pd.DataFrame,
    serve_factory: ServeFactory,
    tab: Callable[[RunningServer], Tab],
) -> None:
    from playwright.sync_api import expect

    # The controller is off: the test moves the canary, as the controller would.
    server = serve_factory(fraud, token=TOKEN, controller=False)
    plan = CanaryConfig(steps=(20, 50, 100), interval_s=1, min_requests=20, max_wait_s=600)
    Rollouts(fraud).start_canary("fraud@2", plan)
    browser = tab(server)
    browser.open("#/models/fraud/deployment")
    page = browser.page
    browser.enter_token(TOKEN)
    split = page.locator("#split")
    expect(split).to_have_attribute("data-candidate-percent", "20")
    expect(page.locator("#split-text")).to_have_text(
        "80 % of requests go to v1 (stable), 20 % to v2 (candidate)."
    )
    expect(page.locator("#step-text")).to_contain_text("Step 1 of 3: 20 %")
    expect(page.locator("#countdown")).not_to_be_empty()
    browser.shot("canary-20")

    send(server, rows_of(numeric_frame), 300)
    wait_for(lambda: logged(fraud, "candidate") >= 20, what="candidate predictions in the log")
    deployment = DeploymentStore(fraud).get("fraud")
    assert deployment is not None
    analysis = Controller(fraud).judge(deployment).to_dict()
    Rollouts(fraud).advance("fraud", analysis)
    expect(split).to_have_attribute("data-candidate-percent", "50", timeout=5_000)
    expect(page.locator("#split-text")).to_have_text(
        "50 % of requests go to v1 (stable), 50 % to v2 (candidate)."
    )

    # The first step's analysis, as the API returns it.
    view = api(server, "/ui/api/models/fraud/deployment")
    first = view["steps"][0]
    assert first["status"] == "passed" and first["analysis"] == analysis
    step = page.locator('[data-step="0"]')
    expect(step).to_contain_text("passed")
    for check in analysis["checks"]:
        row = step.locator(f'[data-check="{check["name"]}"]')
        expect(row).to_contain_text(check["status"])
        for col in ("stable", "candidate"):
            value = check[col]
            cell = row.locator(f'[data-col="{col}"]')
            if value is None:
                expect(cell).to_have_text("\u2013")
            elif check["name"] == "error_rate":
                expect(cell).to_have_text(f"{fmt(value * 100, 2)} %")
            elif check["name"] == "latency_p95":
                expect(cell).to_have_text(f"{fmt(value, 2)} ms")
            else:
                assert float(cell.get_attribute("data-value") or "nan") == pytest.approx(value)
    expect(page.locator('[data-step="1"]')).to_contain_text("running")
    expect(page.locator("#timeline li").first).to_contain_text("step 2: 50 % on the candidate")
    browser.shot("canary-50")

    # Keyboard only: Tab to the rollback button, Enter, a reason, Enter.
    page.locator("body").focus()
    for _ in range(60):
        if page.evaluate("document.activeElement && document.activeElement.id") == (
            "action-rollback"
        ):
            break
        page.keyboard.press("Tab")
    else:
        pytest.fail("the rollback button cannot be reached with Tab")
    page.keyboard.press("Enter")
    dialog = page.locator("#confirm")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("All traffic goes back to v1 at once")
    page.keyboard.type("bad canary, seen on the dashboard")
    page.keyboard.press("Enter")
    wait_for(
        lambda: DeploymentStore(fraud).get("fraud").state == "rolled_back",  # type: ignore[union-attr]
        timeout=10,
        what="the rollback",
    )
    status = api(server, "/admin/models/fraud/status")
    assert (status["state"], status["candidate_version"], status["traffic"]) == (
        "rolled_back",
        None,
        0.0,
    )
    last = status["events"][-1]
    assert last["kind"] == "rolled_back"
    assert last["reason"] == "bad canary, seen on the dashboard"
    assert last["actor"] == "dashboard via http 127.0.0.1"
    expect(split).to_have_attribute("data-candidate-percent", "0", timeout=5_000)
    expect(page.locator("#action-status")).to_contain_text("Roll back: done")
    expect(page.locator('[data-step="1"]')).to_contain_text("rolled back")
    expect(page.locator("#action-rollback")).to_be_disabled()  # nothing before v1
    expect(page.locator("#action-status")).to_be_focused()  # the keyboard focus is not lost
    browser.shot("rolled-back")
    browser.assert_clean()


@SQLITE_ONLY
def test_a_wrong_token_is_a_clear_message(
    fraud: Registry, serve_factory: ServeFactory, tab: Callable[[RunningServer], Tab]
) -> None:
    server = serve_factory(fraud, token=TOKEN)
    refused = httpx.get(f"{server.url}/ui/api/models", headers={"authorization": "Bearer no"})
    assert refused.status_code == 401 and "MLSHIP_TOKEN" in refused.json()["error"]

    browser = tab(server)
    browser.open()
    page = browser.page
    form = page.locator("#token-form")
    form.wait_for()
    assert "Enter it once" in form.inner_text()
    browser.enter_token("not-the-token")
    message = page.locator("#token-message")
    from playwright.sync_api import expect

    expect(message).to_have_text(
        "The server refused this token (HTTP 401). Enter the MLSHIP_TOKEN the server was "
        "started with."
    )
    assert page.locator('[data-model="fraud"]').count() == 0
    browser.shot("wrong-token")

    # A token kept in the tab that the server no longer takes: the same message at once.
    page.evaluate("sessionStorage.setItem('mlship.token', 'stale')")
    page.reload(wait_until="load")
    expect(page.locator("#token-message")).to_contain_text("refused this token")

    browser.enter_token(TOKEN)
    page.locator('[data-model="fraud"]').wait_for()
    assert page.evaluate("sessionStorage.getItem('mlship.token')") == TOKEN
    browser.assert_clean()


@SQLITE_ONLY
def test_shadow_page_shows_the_report(
    fraud: Registry,
    numeric_frame: pd.DataFrame,
    serve_factory: ServeFactory,
    tab: Callable[[RunningServer], Tab],
) -> None:
    server = serve_factory(fraud, token=TOKEN)
    Rollouts(fraud).start_shadow("fraud@2", 100)
    wait_for(lambda: api(server, "/admin/models/fraud/status")["revision"] >= 2, what="the shadow")
    time.sleep(1.0)  # the server loads the shadow on its next poll
    send(server, rows_of(numeric_frame), 150)
    wait_for(
        lambda: shadow_report(fraud, "fraud").paired_requests >= 100,
        what="paired shadow predictions in the log",
    )
    wait_for(lambda: logged(fraud, "shadow") == shadow_report(fraud, "fraud").shadow.requests)
    report = api(server, "/ui/api/models/fraud/shadow")["report"]

    browser = tab(server)
    browser.open("#/models/fraud/shadow")
    browser.enter_token(TOKEN)
    page = browser.page
    from playwright.sync_api import expect

    expect(page.locator("#agreement")).to_have_text(f"{fmt(report['agreement'] * 100, 2)} %")
    expect(page.locator("#paired")).to_have_text(f"{report['paired_requests']:,}")
    expect(page.locator("#rows-compared")).to_have_text(f"{report['rows_compared']:,}")
    expect(page.locator("#mirror")).to_have_text("100 %")
    for role in ("stable", "shadow"):
        latency = report["roles"][role]["latency_ms"]
        for q in ("p50", "p95", "p99"):
            cell = page.locator(f'tr[data-role="{role}"] [data-col="{q}"]')
            expect(cell).to_have_text(fmt(latency[q], 2))
    diffs = report["score_differences"]
    assert diffs is not None
    bars = page.locator("#shadow svg.chart rect[data-count]")
    assert bars.count() == len(diffs["histogram"]["counts"])
    assert [int(bars.nth(i).get_attribute("data-count") or -1) for i in range(bars.count())] == (
        diffs["histogram"]["counts"]
    )
    sliced = page.locator("#shadow .slice")
    assert sliced.count() == min(6, len(report["slices"])) > 0
    assert sliced.first.get_attribute("data-feature") == report["slices"][0]["feature"]
    browser.shot("shadow")
    browser.assert_clean()


@SQLITE_ONLY
def test_drift_page_shows_drift_per_feature_a_histogram_and_the_alerts(
    fraud: Registry,
    numeric_frame: pd.DataFrame,
    serve_factory: ServeFactory,
    tab: Callable[[RunningServer], Tab],
) -> None:
    server = serve_factory(fraud, token=TOKEN)
    shifted = numeric_frame.assign(amount=numeric_frame["amount"] * 4 + 50)
    send(server, rows_of(shifted), 60, per=10)
    wait_for(lambda: logged(fraud) >= 60, what="the predictions in the log")
    alert = {
        "model": "fraud",
        "version": 1,
        "kind": "data_drift",
        "title": "fraud@1: data drift in amount",
        "summary": "Data drift in 1 of 3 features",
        "features": ["amount"],
    }
    fraud.record_event("fraud", "alert_raised", version=1, reason=alert["title"], details=alert)

    browser = tab(server)
    browser.open("#/models/fraud/drift?window=1h")
    browser.enter_token(TOKEN)
    page = browser.page
    from playwright.sync_api import expect

    charts = page.locator("button.feature-chart")
    expect(charts).to_have_count(3)
    data = api(server, "/ui/api/models/fraud/drift?window=1h")
    assert data["available"] and data["source"]["rows"] == 600
    names = [f["name"] for f in data["features"]]
    assert sorted(names) == ["amount", "distance", "hour"]
    assert names[0] == "amount" and data["features"][0]["drift"] is True
    assert [charts.nth(i).get_attribute("data-feature") for i in range(3)] == names
    for i, feature in enumerate(data["features"]):
        chart = charts.nth(i)
        expect(chart).to_contain_text(
            f"{fmt(feature['effect'], 3)} / {fmt(feature['threshold'], 3)}"
        )
        points = chart.locator("circle")
        slices = data["timeline"]["features"][feature["name"]]["effects"]
        assert points.count() == sum(v is not None for v in slices)
    expect(chart_of(page, "amount").locator(".badge")).to_have_text("drift")
    expect(chart_of(page, "hour").locator(".badge")).to_have_text("no drift")
    expect(page.locator("#dataset-verdict")).to_contain_text("Dataset drift")
    expect(page.locator("#dataset-verdict")).to_contain_text("60 requests (600 rows)")
    histogram = page.locator("#drift-histogram svg")
    expect(histogram).to_have_attribute("data-feature", "amount")
    bins = len(data["histogram"]["reference"])
    assert histogram.locator('[data-side="reference"]').count() == bins
    assert histogram.locator('[data-side="current"]').count() == bins
    alerts = page.locator("#alerts li")
    expect(alerts).to_have_count(1)
    expect(alerts.first).to_contain_text("fraud@1: data drift in amount")
    expect(alerts.first).to_contain_text("Data drift in 1 of 3 features")
    browser.shot("drift")

    # Another feature's histogram, chosen with the keyboard.
    chart_of(page, "hour").focus()
    page.keyboard.press("Enter")
    expect(histogram).to_have_attribute("data-feature", "hour", timeout=5_000)
    expect(chart_of(page, "hour")).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("document.activeElement.dataset.feature") == "hour"
    browser.shot("drift-hour")
    browser.assert_clean()


def chart_of(page: Any, feature: str) -> Any:
    return page.locator(f'button.feature-chart[data-feature="{feature}"]')


def test_ui_routes_answer_strict_static_files_and_guarded_json(
    fraud: Registry, serve_factory: ServeFactory
) -> None:
    """Check the static files' types, cache headers and policy, and the JSON routes' guard and
    answers (on every store backend: the gate verdicts are one query of their own)."""
    server = serve_factory(fraud, token=TOKEN)
    auth = {"authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/ui").headers["location"] == "ui/"
        page = client.get("/ui/")
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
        script = client.get("/ui/static/app.js")
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
        assert script.headers["cache-control"] == "no-cache"
        again = client.get("/ui/static/app.js", headers={"if-none-match": script.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        assert client.get("/ui/static/style.css").headers["content-type"].startswith("text/css")
        assert client.get("/ui/static/icon.svg").headers["content-type"] == "image/svg+xml"
        assert client.get("/ui/static/missing.js").status_code == 404
        assert client.get("/ui/static/..%2Fassets.py").status_code == 404

        session = client.get("/ui/api/session").json()
        assert (session["token_required"], session["authorized"]) == (True, False)
        assert client.get("/ui/api/session", headers=auth).json()["authorized"] is True
        assert client.get("/ui/api/models").status_code == 401
        foreign = client.get("/ui/api/models", headers={**auth, "origin": "http://evil.example"})
        assert foreign.status_code == 403
        models = client.get("/ui/api/models", headers=auth)
        assert models.headers["cache-control"] == "no-store"
        versions = {v["version"]: v for v in models.json()["models"][0]["versions"]}
        assert [versions[v]["blessed"] for v in (1, 2, 3)] == [None, True, False]
        assert versions[2]["gate"]["passed"] and versions[2]["gate"]["failed"] == []
        assert [f["name"] for f in versions[3]["gate"]["failed"]] == ["performance"]
        shadow = client.get("/ui/api/models/fraud/shadow", headers=auth).json()
        assert shadow["available"] is False and "no shadow rollout" in shadow["message"]
        drift = client.get("/ui/api/models/fraud/drift?window=15m", headers=auth).json()
        assert (drift["available"], drift["version"], drift["alerts"]) == (False, 1, [])
        bad_window = client.get("/ui/api/models/fraud/drift?window=2y", headers=auth)
        assert bad_window.status_code == 422 and "15m, 1h" in bad_window.json()["error"]
        for path in ("deployment", "shadow", "drift"):
            unknown = client.get(f"/ui/api/models/nope/{path}", headers=auth)
            assert unknown.status_code == 404, path
        # The UI is not part of the API's schema.
        paths = client.get("/openapi.json").json()["paths"]
        assert not [p for p in paths if p.startswith("/ui")]


def test_the_steps_of_a_canary_follow_its_ledger(fraud: Registry) -> None:
    """Check each step's status and analysis through pause, resume, rollback and promotion, and
    that only the running step of a running canary is judged live."""
    from mlship.dashboard import rollout_view
    from mlship.store import utcnow

    def statuses(view: dict[str, Any]) -> list[str]:
        return [s["status"] for s in view["steps"]]

    rollouts = Rollouts(fraud)
    rollouts.start_canary("fraud@2", CanaryConfig(steps=(10, 50, 100), interval_s=60))
    view = rollout_view(fraud, "fraud", utcnow())
    assert statuses(view) == ["running", "pending", "pending"]
    assert view["steps"][0]["analysis"] is None
    countdown = view["countdown"]
    assert (countdown["step"], countdown["percent"], countdown["paused"]) == (0, 10, False)
    assert 55 < countdown["judge_in_s"] <= 60

    passed = {"verdict": "pass", "reason": "every check passed", "failed": [], "checks": []}
    rollouts.advance("fraud", passed)
    rollouts.pause("fraud", reason="look first")
    view = rollout_view(fraud, "fraud", utcnow())
    assert statuses(view) == ["passed", "paused", "pending"]
    assert view["steps"][0]["analysis"] == passed and view["countdown"]["paused"] is True
    assert view["events"][0]["kind"] == "paused"  # newest first

    rollouts.resume("fraud")
    failed = {"verdict": "fail", "reason": "error_rate", "failed": ["error_rate"], "checks": []}
    rollouts.rollback("fraud", reason="canary analysis", analysis=failed)
    view = rollout_view(fraud, "fraud", utcnow())
    assert statuses(view) == ["passed", "failed", "skipped"]
    assert view["steps"][1]["analysis"] == failed and view["countdown"] is None

    rollouts.start_canary("fraud@2", CanaryConfig(steps=(25, 100)))
    judged: list[int] = []

    def judge(deployment: Any) -> dict[str, Any]:
        judged.append(deployment.revision)
        return {"verdict": "inconclusive", "reason": "wait", "failed": [], "checks": []}

    view = rollout_view(fraud, "fraud", utcnow(), judge)
    assert statuses(view) == ["running", "pending"]  # the new rollout's steps only
    assert view["steps"][0]["live"] is True and view["steps"][0]["analysis"]["reason"] == "wait"
    assert len(judged) == 1
    rollouts.promote("fraud", reason="by hand")
    view = rollout_view(fraud, "fraud", utcnow(), judge)
    assert statuses(view) == ["promoted", "skipped"] and len(judged) == 1
