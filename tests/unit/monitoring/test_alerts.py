"""Alerts: the alerter's de-duplication and cooldown (injected clock), webhook delivery against
a real local HTTP server (retries with backoff, timeout), and the Slack payload."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mlship.errors import ConfigError
from mlship.monitoring.alerts import Alert, Alerter, Finding
from mlship.monitoring.sinks import LogSink, SlackSink, WebhookSink, build_sinks

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SECRET = "/services/T000/B000/s3cr3t-token"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Recorder:
    """A sink that keeps what it was sent."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.alerts.append(alert)


class Broken:
    def send(self, alert: Alert) -> None:
        raise RuntimeError("down")


def alert(*features: str, kind: str = "data_drift", model: str = "fraud") -> Alert:
    findings = tuple(
        Finding(name, "wasserstein_norm", 0.5, threshold=0.1, test="wasserstein", since=T0)
        for name in features
    )
    return Alert(
        model=model,
        version=3,
        kind=kind,
        summary=f"Data drift in {len(features)} of 4 judged features.",
        findings=findings,
        since=T0,
        at=T0,
        window={"since": "a", "until": "b", "requests": 40, "rows": 2000},
        report="/tmp/reports/fraud/20240501T120000Z.html",
    )


# ------------------------------------------------------------------------------ the alerter


def test_same_alert_within_the_cooldown_is_suppressed_and_counted() -> None:
    clock, sink = Clock(), Recorder()
    alerter = Alerter([sink], cooldown=timedelta(minutes=30), clock=clock)
    assert alerter.notify(alert("amount", "country"))
    clock.advance(minutes=5)
    assert not alerter.notify(alert("country", "amount"))  # same set, other order
    assert not alerter.notify(alert("amount"))  # another set: the cooldown holds it
    assert (alerter.sent, alerter.duplicates, alerter.cooled_down) == (1, 1, 1)
    assert alerter.suppressed == 2
    assert len(sink.alerts) == 1


def test_cooldown_is_per_model_and_kind() -> None:
    clock, sink = Clock(), Recorder()
    alerter = Alerter([sink], clock=clock)
    assert alerter.notify(alert("amount"))
    assert alerter.notify(alert("amount", kind="missingness"))
    assert alerter.notify(alert("amount", model="churn"))
    assert [(a.model, a.kind) for a in sink.alerts] == [
        ("fraud", "data_drift"),
        ("fraud", "missingness"),
        ("churn", "data_drift"),
    ]


def test_after_the_cooldown_a_changed_alert_is_sent_and_an_unchanged_one_waits() -> None:
    clock, sink = Clock(), Recorder()
    alerter = Alerter(
        [sink], cooldown=timedelta(minutes=30), repeat_after=timedelta(hours=24), clock=clock
    )
    alerter.notify(alert("amount"))
    clock.advance(minutes=10)
    alerter.notify(alert("amount"))  # duplicate
    clock.advance(minutes=25)
    assert not alerter.notify(alert("amount"))  # past the cooldown, still a duplicate
    assert alerter.notify(alert("amount", "country"))  # escalated: sent
    assert sink.alerts[-1].suppressed == 2
    clock.advance(hours=25)
    assert alerter.notify(alert("amount", "country"))  # repeated after a day
    assert sink.alerts[-1].suppressed == 0


def test_never_repeated_until_resolved_then_sent_again_after_the_cooldown() -> None:
    clock, sink = Clock(), Recorder()
    alerter = Alerter([sink], cooldown=timedelta(minutes=30), repeat_after=None, clock=clock)
    alerter.notify(alert("amount"))
    clock.advance(days=3)
    assert not alerter.notify(alert("amount"))
    assert alerter.resolve("fraud", "data_drift") is True
    assert alerter.resolve("fraud", "missingness") is False
    assert alerter.notify(alert("amount"))  # the problem came back: a new alert
    assert alerter.resolve("fraud", "data_drift")
    clock.advance(minutes=1)
    assert not alerter.notify(alert("amount"))  # flapping: the cooldown holds it
    assert alerter.cooled_down == 1


def test_remembered_alerts_count_as_sent() -> None:
    """Check that an alert read back from the ledger de-duplicates like one sent here."""
    clock, sink = Clock(), Recorder()
    alerter = Alerter([sink], clock=clock)
    alerter.remember("fraud", "data_drift", ["country", "amount"], T0 - timedelta(minutes=1))
    assert not alerter.admits(alert("amount", "country"))
    assert not alerter.notify(alert("amount", "country"))
    assert sink.alerts == []


def test_a_failing_sink_is_logged_and_the_others_still_get_the_alert(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = Recorder()
    alerter = Alerter([Broken(), sink])
    with caplog.at_level(logging.WARNING, logger="mlship.monitoring.alerts"):
        assert alerter.notify(alert("amount"))
    assert len(sink.alerts) == 1
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("ALERT fraud@3: data drift in amount") for m in messages)
    assert any("Broken" in m and "RuntimeError" in m for m in messages)


def test_log_line_names_features_effects_since_and_report(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="mlship.monitoring.alerts"):
        LogSink().send(alert("amount", "country"))
    (line,) = [r.getMessage() for r in caplog.records]
    assert "\n" not in line
    assert "amount: wasserstein_norm 0.5 (threshold 0.1)" in line
    assert "Since 2024-05-01 12:00:00 UTC" in line
    assert "Report: /tmp/reports/fraud/20240501T120000Z.html" in line


# ------------------------------------------------------------------------------ webhooks


class Hook:
    """A local HTTP server answering each POST with the next planned status, or hanging."""

    def __init__(self, plan: list[int | str]) -> None:
        self.plan = list(plan)
        self.bodies: list[Any] = []
        self.release = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                hook.bodies.append(json.loads(self.rfile.read(length)))
                step = hook.plan.pop(0) if hook.plan else 200
                if step == "hang":
                    hook.release.wait(10)
                    return
                self.send_response(int(step))
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{SECRET}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook_factory() -> Iterator[Callable[[list[int | str]], Hook]]:
    hooks: list[Hook] = []

    def make(plan: list[int | str]) -> Hook:
        hooks.append(Hook(plan))
        return hooks[-1]

    yield make
    for hook in hooks:
        hook.close()


def test_webhook_retries_5xx_with_exponential_backoff_then_delivers(
    hook_factory: Callable[[list[int | str]], Hook],
) -> None:
    hook = hook_factory([500, 503, 200])
    waits: list[float] = []
    sink = WebhookSink(hook.url, timeout=5, retries=3, backoff=0.5, sleep=waits.append)
    sink.send(alert("amount", "country"))
    assert waits == [0.5, 1.0]
    assert (sink.delivered, sink.failed) == (1, 0)
    assert len(hook.bodies) == 3
    body = hook.bodies[-1]
    assert body["type"] == "mlship.alert" and body["schema_version"] == 1
    assert body["model"] == "fraud" and body["version"] == 3 and body["kind"] == "data_drift"
    assert body["features"] == ["amount", "country"]
    assert body["findings"][0]["name"] == "amount"
    assert body["findings"][0]["value"] == 0.5 and body["findings"][0]["threshold"] == 0.1
    assert body["since"] == T0.isoformat()
    assert body["report"].endswith(".html")


def test_webhook_gives_up_after_the_retries_and_logs_the_host_only(
    hook_factory: Callable[[list[int | str]], Hook], caplog: pytest.LogCaptureFixture
) -> None:
    hook = hook_factory([500, 500, 500])
    sink = WebhookSink(hook.url, retries=2, backoff=0, sleep=lambda s: None)
    with caplog.at_level(logging.INFO, logger="mlship.monitoring.alerts"):
        sink.send(alert("amount"))
    assert (sink.delivered, sink.failed, len(hook.bodies)) == (0, 1, 3)
    text = caplog.text
    assert "giving up on the data_drift alert of fraud (HTTP 500)" in text
    assert f"127.0.0.1:{hook.server.server_address[1]}" in text
    assert "s3cr3t" not in text and "services" not in text
    assert "s3cr3t" not in repr(sink)


def test_a_client_error_is_not_retried(hook_factory: Callable[[list[int | str]], Hook]) -> None:
    hook = hook_factory([404])
    sink = WebhookSink(hook.url, retries=3, backoff=0, sleep=lambda s: None)
    sink.send(alert("amount"))
    assert (sink.failed, len(hook.bodies)) == (1, 1)


def test_a_hanging_webhook_times_out_and_never_blocks_long(
    hook_factory: Callable[[list[int | str]], Hook], caplog: pytest.LogCaptureFixture
) -> None:
    hook = hook_factory(["hang", "hang"])
    sink = WebhookSink(hook.url, timeout=0.3, retries=1, backoff=0.05)
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="mlship.monitoring.alerts"):
        sink.send(alert("amount"))
    took = time.monotonic() - started
    assert took < 3.0, took
    assert (sink.delivered, sink.failed, len(hook.bodies)) == (0, 1, 2)
    assert "giving up" in caplog.text and "s3cr3t" not in caplog.text
    assert "timeout" in caplog.text.lower()


def test_a_refused_connection_is_retried_then_given_up() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    waits: list[float] = []
    sink = WebhookSink(f"http://127.0.0.1:{port}{SECRET}", retries=2, sleep=waits.append)
    sink.send(alert("amount"))
    assert sink.failed == 1 and waits == [0.5, 1.0]


def test_webhook_urls_are_checked_without_echoing_them() -> None:
    with pytest.raises(ConfigError, match="http:// or https://") as info:
        WebhookSink("ftp://hooks.example.com/secret-path")
    assert "secret-path" not in info.value.message
    with pytest.raises(ConfigError, match="'retries'"):
        WebhookSink("https://hooks.example.com/x", retries=-1)


# ------------------------------------------------------------------------------ Slack


def test_slack_payload_has_text_and_blocks(
    hook_factory: Callable[[list[int | str]], Hook],
) -> None:
    hook = hook_factory([200])
    sink = SlackSink(hook.url)
    many = alert(*[f"feature_{i:02d}" for i in range(12)])
    sink.send(many)
    (body,) = hook.bodies
    assert set(body) == {"text", "blocks"}
    assert body["text"] == many.title
    types = [b["type"] for b in body["blocks"]]
    assert types == ["header", "section", "context", "section"]
    header = body["blocks"][0]["text"]
    assert header["type"] == "plain_text" and len(header["text"]) <= 150
    section = body["blocks"][1]["text"]
    assert section["type"] == "mrkdwn"
    assert "feature_00: wasserstein_norm 0.5 (threshold 0.1)" in section["text"]
    assert "feature_09" in section["text"] and "feature_10:" not in section["text"]
    assert "and 2 more" in section["text"]
    assert "Since 2024-05-01 12:00:00 UTC" in body["blocks"][2]["elements"][0]["text"]
    assert body["blocks"][3]["text"]["text"] == f"Report: {many.report}"


def test_slack_links_a_report_url() -> None:
    linked = SlackSink("https://hooks.slack.com/x").payload(
        replace(alert("amount"), report="https://reports.example.com/fraud/a.html")
    )
    assert linked["blocks"][-1]["text"]["text"] == (
        "Report: <https://reports.example.com/fraud/a.html|drift report>"
    )


def test_new_categories_are_named() -> None:
    finding = Finding("country", "js", 0.31, threshold=0.1, new_categories=("BR", "MX"))
    assert finding.describe() == "country: js 0.31 (threshold 0.1); new categories: BR, MX"


def test_build_sinks_makes_one_sink_per_url() -> None:
    sinks = build_sinks(
        webhooks=["https://a.example.com/1"], slack_webhooks=["https://hooks.slack.com/2"]
    )
    assert [type(s).__name__ for s in sinks] == ["WebhookSink", "SlackSink"]
    assert [repr(s) for s in sinks] == [
        "WebhookSink(host='a.example.com')",
        "SlackSink(host='hooks.slack.com')",
    ]
