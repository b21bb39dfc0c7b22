"""The monitor end to end: a served model fed shifted traffic raises an alert that names the
shifted features (and only those) and triggers the retraining command, once.

``fraud`` is a scikit-learn pipeline registered with its training data (the profile drift is
judged against). Shifted traffic multiplies ``amount`` by 3 and sends a third of the rows from a
country the model never saw (``BR``); ``hour`` and ``distance`` keep their distribution. Alerts
go to a real local HTTP server; the retraining command is a Python script that appends its
``MLSHIP_RETRAIN_*`` variables to a marker file and registers a new version.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from mlship.errors import ConfigError
from mlship.monitoring.alerts import Alerter
from mlship.monitoring.monitor import MonitorConfig, evaluate
from mlship.monitoring.options import DriftOptions
from mlship.monitoring.retrain import Retrainer
from mlship.monitoring.schedule import Monitor
from mlship.monitoring.settings import MonitorSettings
from mlship.monitoring.sinks import build_sinks
from mlship.registry import Registry
from mlship.rollout import DeploymentStore
from mlship.serving.log_export import record_feedback
from mlship.serving.prediction_log import PredictionLog, PredictionRecord
from mlship.store import utcnow
from tests.conftest import fit_pipeline, make_transactions
from tests.integration.conftest import ServeFactory

SECRET_PATH = "/hooks/T000/s3cr3t"
RETRAIN_SCRIPT = """
import json, os, sys
from pathlib import Path

seen = {k: v for k, v in os.environ.items() if k.startswith(("MLSHIP_RETRAIN_", "MLSHIP_MONITOR_"))}
with Path(sys.argv[1]).open("a") as fh:
    fh.write(json.dumps(seen) + "\\n")
if len(sys.argv) > 2:  # register a new version, as a real retraining would
    import pandas as pd
    from sklearn.dummy import DummyClassifier

    import mlship

    X = pd.DataFrame({"amount": [1.0, 2.0], "hour": [1, 2], "distance": [1.0, 2.0],
                      "country": ["DE", "FR"]})
    mlship.register(DummyClassifier().fit(X, [0, 1]), "fraud")
"""


class Receiver:
    """A local webhook: keeps every JSON body it is sent, answers 200."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{SECRET_PATH}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


@pytest.fixture
def retrain_script(tmp_path: Path) -> tuple[Path, Path]:
    script = tmp_path / "retrain.py"
    script.write_text(RETRAIN_SCRIPT, encoding="utf-8")
    return script, tmp_path / "retrained.jsonl"


def deploy_fraud(registry: Registry, **options: Any) -> Any:
    """Register ``fraud`` v1 with its training data and deploy it; returns the model."""
    train = make_transactions(3000, seed=0)
    model = fit_pipeline(train)
    registry.register(model, "fraud", train_data=train, label="is_fraud", **options)
    DeploymentStore(registry).set_stable("fraud@1")
    return model


def shifted(rows: int, seed: int = 7) -> pd.DataFrame:
    frame = make_transactions(rows, seed).drop(columns=["is_fraud"])
    frame["amount"] = frame["amount"] * 3
    frame.loc[frame.index % 3 == 0, "country"] = "BR"
    return frame


def log_requests(
    registry: Registry,
    folder: Path,
    model: Any,
    frame: pd.DataFrame,
    *,
    requests: int,
    minutes_ago: float,
    prefix: str,
    now: datetime | None = None,
) -> list[str]:
    """Log ``frame`` as ``requests`` requests of fraud@1, one minute apart, the last one
    ``minutes_ago`` before ``now``; returns the request ids."""
    now = now or utcnow()
    ids = []
    size = len(frame) // requests
    with PredictionLog(registry.store, folder / f"spill-{prefix}") as plog:
        for i in range(requests):
            rows = frame.iloc[i * size : (i + 1) * size]
            at = now - timedelta(minutes=minutes_ago + (requests - 1 - i))
            rid = f"{prefix}-{i}"
            outputs = model.predict(rows.fillna({"distance": 10.0})).tolist()
            inputs = rows.astype(object).where(rows.notna(), None).to_dict("records")
            plog.record(PredictionRecord(rid, at, "fraud", 1, "stable", inputs, outputs, 2.0))
            ids.append(rid)
        assert plog.flush()
    return ids


def kinds(registry: Registry) -> list[str]:
    return [e.kind for e in registry.history("fraud")]


# ------------------------------------------------------------------ through the prediction log


def test_shifted_traffic_alerts_on_the_shifted_features_and_retrains_once(
    registry: Registry,
    db_url: str,
    tmp_path: Path,
    receiver: Receiver,
    retrain_script: tuple[Path, Path],
) -> None:
    model = deploy_fraud(registry)
    log_requests(registry, tmp_path, model, shifted(1000), requests=10, minutes_ago=5, prefix="s")
    script, marker = retrain_script
    env = {
        **os.environ,
        "MLSHIP_DB_URL": db_url,
        "MLSHIP_ARTIFACTS": str(tmp_path / "artifacts"),
        "MLSHIP_HOME": str(tmp_path / "child-home"),
        "MLSHIP_MONITOR_WEBHOOK": receiver.url,
    }
    retrainer = Retrainer(
        registry,
        command=[sys.executable, str(script), str(marker), "register"],
        cooldown=timedelta(hours=1),
        environ=env,
        log_dir=tmp_path / "retrain-logs",
    )
    monitor = Monitor(
        registry,
        MonitorConfig(window=timedelta(hours=1)),
        Alerter(build_sinks(webhooks=[receiver.url])),
        retrainer,
        reports=tmp_path / "reports",
    )
    first = monitor.tick()
    (result,) = first
    assert [v.kind for v in result.verdicts] == ["data_drift"]
    assert result.verdicts[0].features == ("amount", "country")
    running = monitor.tick()  # the job may still run: skipped either way
    assert retrainer.wait(120)
    later = monitor.tick()  # finished: the cooldown holds
    assert [r.verdicts[0].features for r in (*running, *later)] == [("amount", "country")] * 2

    (alert,) = receiver.bodies  # de-duplicated: one alert for three evaluations
    assert alert["kind"] == "data_drift" and alert["model"] == "fraud" and alert["version"] == 1
    assert alert["features"] == ["amount", "country"]
    findings = {f["name"]: f for f in alert["findings"]}
    assert set(findings) == {"amount", "country"}
    assert findings["amount"]["measure"] == "wasserstein_norm"
    assert findings["amount"]["value"] > findings["amount"]["threshold"] == 0.1
    assert findings["country"]["new_categories"] == ["BR"]
    assert all(f["since"] == result.at.isoformat() for f in alert["findings"])
    assert alert["window"]["requests"] == 10 and alert["window"]["rows"] == 1000
    report = Path(alert["report"])
    assert report.parent == tmp_path / "reports" / "fraud" and report.suffix == ".html"
    assert "Drift report: fraud@1" in report.read_text(encoding="utf-8")

    runs = [json.loads(line) for line in marker.read_text().splitlines()]
    assert len(runs) == 1
    (run,) = runs
    assert run["MLSHIP_RETRAIN_MODEL"] == "fraud" and run["MLSHIP_RETRAIN_VERSION"] == "1"
    assert run["MLSHIP_RETRAIN_KINDS"] == "data_drift"
    assert run["MLSHIP_RETRAIN_REASON"] == "data drift in amount, country"
    assert "MLSHIP_MONITOR_WEBHOOK" not in run  # secrets stay with the monitor

    history = registry.history("fraud")
    ledger = [e.kind for e in history if e.kind.startswith(("alert_", "retrain_"))]
    assert ledger == ["alert_raised", "retrain_started", "retrain_skipped", "retrain_finished"] or (
        ledger == ["alert_raised", "retrain_started", "retrain_finished", "retrain_skipped"]
    )
    events = {e.kind: e for e in history}
    assert events["alert_raised"].details["features"] == ["amount", "country"]
    assert events["retrain_started"].reason == "data drift in amount, country"
    finished = events["retrain_finished"].details
    assert finished["exit_code"] == 0 and finished["timed_out"] is False
    assert finished["new_version"] == 2
    assert events["retrain_skipped"].details["why"].startswith(("cooldown", "a retraining"))


def test_a_restarted_monitor_keeps_the_open_alert_and_the_cooldown(
    registry: Registry, tmp_path: Path, receiver: Receiver, retrain_script: tuple[Path, Path]
) -> None:
    """Check that what a restart would lose is read back from the ledger."""
    model = deploy_fraud(registry)
    log_requests(registry, tmp_path, model, shifted(600), requests=6, minutes_ago=2, prefix="s")
    script, marker = retrain_script

    def fresh() -> Monitor:
        retrainer = Retrainer(registry, command=[sys.executable, str(script), str(marker)])
        return Monitor(registry, alerter=Alerter(build_sinks(webhooks=[receiver.url])),
                       retrainer=retrainer)  # fmt: skip

    first = fresh()
    first.tick()
    assert first.retrainer is not None and first.retrainer.wait(60)
    second = fresh()
    (result,) = second.tick()
    assert result.verdicts and len(receiver.bodies) == 1
    assert len(marker.read_text().splitlines()) == 1
    assert kinds(registry).count("retrain_started") == 1
    assert second.alerter.duplicates == 1


def test_an_alert_resolves_on_healthy_traffic_not_on_silence(
    registry: Registry, tmp_path: Path, receiver: Receiver
) -> None:
    model = deploy_fraud(registry)
    start = utcnow()
    clock = {"now": start}
    monitor = Monitor(
        registry,
        # The baseline of prediction drift would be the shifted first hour: judge inputs only.
        MonitorConfig(prediction_drift=False),
        alerter=Alerter(build_sinks(webhooks=[receiver.url]), clock=lambda: clock["now"]),
        clock=lambda: clock["now"],
    )

    def at(hours: float, frame: pd.DataFrame | None, prefix: str) -> list[str]:
        clock["now"] = start + timedelta(hours=hours)
        if frame is not None:
            log_requests(registry, tmp_path, model, frame, requests=4, minutes_ago=5,
                         prefix=prefix, now=clock["now"])  # fmt: skip
        (result,) = monitor.tick()
        return [v.kind for v in result.verdicts]

    assert at(0, shifted(400), "a") == ["data_drift"]
    assert at(2, None, "quiet") == []  # no traffic: nothing judged, nothing resolved
    assert "alert_resolved" not in kinds(registry)
    healthy = make_transactions(400, seed=11).drop(columns=["is_fraud"])
    assert at(4, healthy, "b") == []
    assert kinds(registry).count("alert_resolved") == 1
    assert at(6, shifted(400, seed=12), "c") == ["data_drift"]  # a new alert, a new since
    first, second = receiver.bodies
    assert first["since"] == start.isoformat()
    assert second["since"] == (start + timedelta(hours=6)).isoformat()
    assert kinds(registry).count("alert_raised") == 2


def test_every_kind_of_verdict(registry: Registry, tmp_path: Path) -> None:
    """Check data drift, prediction drift (against the version's first hour of traffic),
    missing values and the live metric's decay on one window."""
    model = deploy_fraud(registry, metrics={"accuracy": 0.9})
    baseline = make_transactions(600, seed=3).drop(columns=["is_fraud"])
    log_requests(registry, tmp_path, model, baseline, requests=6, minutes_ago=180, prefix="b")
    current = shifted(600, seed=4)
    current.loc[current.index % 2 == 0, "distance"] = None
    ids = log_requests(registry, tmp_path, model, current, requests=6, minutes_ago=1, prefix="c")
    # Every label the opposite of the prediction: accuracy 0 against 0.9 at registration.
    predicted = model.predict(current.fillna({"distance": 10.0})).tolist()
    labels = [
        (rid, [1 - p for p in predicted[i * 100 : (i + 1) * 100]]) for i, rid in enumerate(ids)
    ]
    record_feedback(registry.store, "fraud", labels)

    result = evaluate(registry, "fraud", MonitorConfig(window=timedelta(hours=1)))
    by_kind = {v.kind: v for v in result.verdicts}
    assert set(by_kind) == {"data_drift", "prediction_drift", "missingness", "metric_decay"}
    # distance drifts by its missing values (0 % -> 50 %), and is a missingness verdict too.
    assert sorted(by_kind["data_drift"].features) == ["amount", "country", "distance"]
    assert by_kind["prediction_drift"].features == ("prediction",)
    assert by_kind["missingness"].features == ("distance",)
    (missing,) = by_kind["missingness"].findings
    assert missing.value == pytest.approx(0.5) and missing.baseline == 0.0
    (decay,) = by_kind["metric_decay"].findings
    assert decay.name == "accuracy" and decay.value == 0.0 and decay.baseline == 0.9
    assert result.window is not None and result.window.requests == 6
    out = result.to_dict()
    assert out["data_drift"]["dataset_drift"] is True
    assert out["prediction_drift"]["drift"] is True
    assert out["live_metric"]["decayed"] is True
    json.dumps(out)  # JSON-ready


def deploy_with_gaps(registry: Registry) -> Any:
    """``fraud`` v1 trained on 3,000 rows of which 1 % have no ``distance``; deployed."""
    train = make_transactions(3000, seed=0)
    model = fit_pipeline(train)
    gappy = train.copy()
    gappy.loc[gappy.index % 100 == 0, "distance"] = None
    registry.register(model, "fraud", train_data=gappy, label="is_fraud")
    DeploymentStore(registry).set_stable("fraud@1")
    return model


def with_gaps(rows: int, seed: int, missing: float, new: float) -> pd.DataFrame:
    """Healthy traffic but for ``missing`` of ``distance`` missing and ``new`` of the
    countries BR, which training never saw."""
    frame = make_transactions(rows, seed).drop(columns=["is_fraud"])
    frame.loc[: round(rows * missing) - 1, "distance"] = None
    frame.loc[rows - round(rows * new) :, "country"] = "BR"
    return frame


def test_missing_values_and_new_categories_are_data_drift(
    registry: Registry, tmp_path: Path
) -> None:
    """Check distance 1 % -> 25 % missing and 1.5 % of BR (the monitor judges them against the
    training profile's counts), then 2 % missing and 0.5 % of BR three hours later: healthy."""
    model = deploy_with_gaps(registry)
    start = utcnow()
    config = MonitorConfig(window=timedelta(hours=1), prediction_drift=False)
    bad = with_gaps(2000, seed=21, missing=0.25, new=0.015)
    log_requests(registry, tmp_path, model, bad, requests=10, minutes_ago=5, prefix="a", now=start)
    result = evaluate(registry, "fraud", config, now=start)
    by_kind = {v.kind: v for v in result.verdicts}
    assert set(by_kind) == {"data_drift", "missingness"}
    findings = {f.name: f for f in by_kind["data_drift"].findings}
    assert set(findings) == {"distance", "country"}  # not amount, not hour
    distance, country = findings["distance"], findings["country"]
    assert (distance.measure, distance.value, distance.baseline) == ("missing_rate", 0.25, 0.01)
    assert distance.threshold == 0.05 and distance.test == "fisher"
    assert distance.p_value is not None and distance.p_value < 1e-50
    assert (country.measure, country.value, country.baseline) == ("new_category_share", 0.015, 0)
    assert country.threshold == 0.01 and country.new_categories == ("BR",)
    assert result.drift is not None
    assert result.drift.features["country"].drift_reasons == ("new_categories",)
    assert result.drift.features["distance"].details() == ("missing 1 % → 25 %",)
    assert by_kind["missingness"].features == ("distance",)

    later = start + timedelta(hours=3)
    good = with_gaps(2000, seed=22, missing=0.02, new=0.005)
    log_requests(registry, tmp_path, model, good, requests=10, minutes_ago=5, prefix="b", now=later)
    healthy = evaluate(registry, "fraud", config, now=later)
    assert healthy.verdicts == ()
    assert healthy.drift is not None and not healthy.drift.dataset_drift
    figures = healthy.drift.to_dict()["features"]
    assert figures["distance"]["missing"]["current"] == 0.02
    assert figures["country"]["new_categories"]["share"] == 0.005


def test_the_dashboard_drift_view_judges_them_too(registry: Registry, tmp_path: Path) -> None:
    """Check the drift page's JSON: the same verdicts, and why, as the table says it."""
    from mlship.dashboard.drift_view import drift_view

    model = deploy_with_gaps(registry)
    now = utcnow()
    bad = with_gaps(2000, seed=21, missing=0.25, new=0.015)
    log_requests(registry, tmp_path, model, bad, requests=10, minutes_ago=5, prefix="d", now=now)
    view = drift_view(registry, "fraud", now, "1h", None)
    assert view["available"] is True and view["dataset_drift"] is True
    features = {f["name"]: f for f in view["features"]}
    assert features["distance"]["drift"] is True
    assert features["distance"]["drift_reasons"] == ["missing"]
    assert features["distance"]["details"] == ["missing 1 % → 25 %"]
    assert features["country"]["drift_reasons"] == ["new_categories"]
    assert features["country"]["details"] == ["new categories 1.5 % (BR)"]
    assert features["amount"]["drift"] is False and features["amount"]["details"] == []
    # The gaps are in the window's first requests: its first time slice drifts, its last not.
    slices = view["timeline"]["features"]["distance"]["drift"]
    assert slices[0] is True and slices[-1] is False


def test_missing_values_alone_alert_but_do_not_retrain(
    registry: Registry, tmp_path: Path, receiver: Receiver, retrain_script: tuple[Path, Path]
) -> None:
    """Check that a feature drifting by its missing values only is an alert, not a reason to
    retrain (a pipeline bug: retraining on the broken data would not help)."""
    model = deploy_with_gaps(registry)
    current = with_gaps(2000, seed=23, missing=0.25, new=0.0)
    log_requests(registry, tmp_path, model, current, requests=10, minutes_ago=5, prefix="m")
    script, marker = retrain_script
    monitor = Monitor(
        registry,
        MonitorConfig(window=timedelta(hours=1), prediction_drift=False),
        Alerter(build_sinks(webhooks=[receiver.url])),
        Retrainer(registry, command=[sys.executable, str(script), str(marker)]),
    )
    (result,) = monitor.tick()
    assert [v.kind for v in result.verdicts] == ["data_drift", "missingness"]
    assert result.verdicts[0].features == ("distance",)
    assert {b["kind"] for b in receiver.bodies} == {"data_drift", "missingness"}
    assert "retrain_started" not in kinds(registry) and not marker.exists()


def test_missing_and_new_category_thresholds_from_variables_and_the_project_file() -> None:
    settings = MonitorSettings.from_env(
        {"MLSHIP_MONITOR_NEW_CATEGORY_THRESHOLD": "0.03"},
        {"monitoring": {"missing_threshold": 0.2, "drift_share": 0.4}},
    )
    drift = settings.config().drift
    assert (drift.missing_threshold, drift.new_category_threshold) == (0.2, 0.03)
    assert drift.drift_share == 0.4 and drift.dataset_rule == "share"
    # ``mlship monitor --threshold`` replaces ``drift``; the thresholds set here still hold.
    replaced = dataclasses.replace(settings, drift=DriftOptions(threshold=0.3)).config().drift
    assert (replaced.threshold, replaced.missing_threshold) == (0.3, 0.2)
    assert MonitorSettings.from_env({}).config().drift == DriftOptions()
    with pytest.raises(ConfigError) as caught:
        MonitorSettings.from_env({"MLSHIP_MONITOR_MISSING_THRESHOLD": "5"})
    assert caught.value.message == (
        "The 'missing_threshold' option must be a share between 0 and 1. Got 5.0 instead."
    )
    with pytest.raises(ConfigError, match="The 'new_category_threshold' option must be a number"):
        MonitorSettings.from_env({}, {"monitoring": {"new_category_threshold": "lots"}})


def test_count_windows_and_quiet_models(registry: Registry, tmp_path: Path) -> None:
    model = deploy_fraud(registry)
    quiet = evaluate(registry, "fraud")
    assert quiet.verdicts == () and quiet.window is not None and quiet.window.requests == 0
    assert quiet.notes == ("No predictions of fraud in the window: nothing to judge.",)
    same = make_transactions(1000, seed=5).drop(columns=["is_fraud"])
    log_requests(registry, tmp_path, model, same, requests=10, minutes_ago=1, prefix="q")
    result = evaluate(registry, "fraud", MonitorConfig(window=4))
    assert result.window is not None
    assert (result.window.requests, result.window.rows) == (4, 400)
    assert result.verdicts == ()  # the training distribution: nothing to say
    assert result.drift is not None and not result.drift.dataset_drift


def test_settings_from_variables_and_the_project_file(tmp_path: Path) -> None:
    settings = MonitorSettings.from_env(
        {
            "MLSHIP_HOME": str(tmp_path),
            "MLSHIP_MONITOR_WINDOW": "5000",
            "MLSHIP_MONITOR_WEBHOOK": "https://a.example.com/1 https://b.example.com/2",
            "MLSHIP_MONITOR_RETRAIN_COOLDOWN": "2h",
        },
        {"monitoring": {"interval": "10m", "window": "1h"}, "retrain": {"command": "make train"}},
    )
    assert settings.window == 5000 and settings.interval == timedelta(minutes=10)
    assert settings.webhooks == ("https://a.example.com/1", "https://b.example.com/2")
    assert settings.retrain_command == "make train"
    assert settings.retrain_cooldown == timedelta(hours=2)
    assert settings.reports == tmp_path / "reports"
    assert MonitorSettings.from_env({"MLSHIP_MONITOR_REPORTS": "off"}).reports is None
    with pytest.raises(Exception, match="'interval' option must be a duration"):
        MonitorSettings.from_env({"MLSHIP_MONITOR_INTERVAL": "soon"})
    with pytest.raises(Exception, match="Unknown monitor option"):
        MonitorSettings.from_env({}, {"monitoring": {"windw": "1h"}})


def test_retrainer_calls_an_entry_point_and_stops_a_job_past_its_timeout(
    registry: Registry, tmp_path: Path
) -> None:
    deploy_fraud(registry)
    (tmp_path / "retrain_hook.py").write_text(
        "from pathlib import Path\n"
        "def retrain(model, reason):\n"
        f"    Path({str(tmp_path / 'called.txt')!r}).write_text(model + ': ' + reason)\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    hook = Retrainer(registry, entry_point="retrain_hook:retrain", environ=env)
    assert hook.trigger("fraud", 1, "metric decay in accuracy").action == "started"
    assert hook.wait(60)
    assert (tmp_path / "called.txt").read_text() == "fraud: metric decay in accuracy"
    assert hook.finished[-1]["exit_code"] == 0 and hook.finished[-1]["new_version"] is None

    slow = Retrainer(
        registry,
        command=[sys.executable, "-c", "import time; time.sleep(60)"],
        cooldown=timedelta(0),
        timeout=timedelta(seconds=1),
    )
    assert slow.trigger("fraud", 1, "data drift in amount").action == "started"
    skipped = slow.trigger("fraud", 1, "data drift in amount")
    assert (skipped.action, skipped.why) == ("skipped", "a retraining of fraud is running")
    assert slow.wait(30)
    assert slow.finished[-1]["timed_out"] is True and slow.finished[-1]["exit_code"] != 0
    history = [e for e in registry.history("fraud") if e.kind.startswith("retrain_")]
    assert [e.kind for e in history] == [
        "retrain_started",
        "retrain_finished",
        "retrain_started",
        "retrain_skipped",
        "retrain_finished",
    ]
    assert history[-1].reason == "timed out"
    with pytest.raises(Exception, match="a command or an entry point, not both"):
        Retrainer(registry, command="make train", entry_point="train:main")
    with pytest.raises(Exception, match="must be module:function"):
        Retrainer(registry, entry_point="train.py")


# ------------------------------------------------------------------ through a real server


def test_served_model_fed_shifted_traffic_alerts_and_retrains_once(
    serve_factory: ServeFactory,
    tmp_path: Path,
    receiver: Receiver,
    retrain_script: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The done-criterion: ``mlship serve`` with the monitor on, shifted traffic over HTTP."""
    db_url = f"sqlite:///{tmp_path / 'mlship.db'}"
    env = {
        "MLSHIP_HOME": str(tmp_path / "home"),
        "MLSHIP_DB_URL": db_url,
        "MLSHIP_ARTIFACTS": str(tmp_path / "artifacts"),
        "MLSHIP_MONITOR_INTERVAL": "0.5s",
        "MLSHIP_MONITOR_WINDOW": "1h",
        "MLSHIP_MONITOR_WEBHOOK": receiver.url,
        "MLSHIP_MONITOR_RETRAIN_COMMAND": f"{sys.executable} {retrain_script[0]} "
        f"{retrain_script[1]}",
        "MLSHIP_MONITOR_RETRAIN_COOLDOWN": "1h",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    registry = Registry.from_env(env)
    try:
        deploy_fraud(registry)
        server = serve_factory(registry, monitor=True)
        rows = shifted(1000)
        answer = httpx.post(
            f"{server.url}/models/fraud/predict",
            json={"inputs": rows.to_dict("records")},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text

        def until(done: Callable[[], bool], what: str) -> None:
            deadline = time.monotonic() + 90
            while not done():
                assert time.monotonic() < deadline, f"timed out waiting for {what}"
                time.sleep(0.2)

        until(lambda: bool(receiver.bodies), "the alert")
        # A skip is recorded only after the retraining started: later evaluations happened.
        until(lambda: {"retrain_finished", "retrain_skipped"} <= set(kinds(registry)), "retrain")
        time.sleep(1.5)  # a few more evaluations
        server.stop()
    finally:
        registry.close()

    data_drift = [b for b in receiver.bodies if b["kind"] == "data_drift"]
    assert len(data_drift) == 1
    (alert,) = data_drift
    assert alert["features"] == ["amount", "country"]  # named, and hour, distance not
    assert {f["name"] for f in alert["findings"]} == {"amount", "country"}
    assert alert["report"].startswith(str(tmp_path / "home" / "reports" / "fraud"))
    runs = [json.loads(line) for line in retrain_script[1].read_text().splitlines()]
    assert len(runs) == 1 and runs[0]["MLSHIP_RETRAIN_MODEL"] == "fraud"
    ledger = kinds(Registry.from_env(env))
    assert ledger.count("retrain_started") == 1 and ledger.count("alert_raised") >= 1


# ------------------------------------------------------------------ the command line


def _cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlship", "monitor", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_monitor_once_as_json_then_no_repeat(tmp_path: Path, receiver: Receiver) -> None:
    env = {
        **os.environ,
        "MLSHIP_HOME": str(tmp_path / "home"),
        "MLSHIP_DB_URL": f"sqlite:///{tmp_path / 'mlship.db'}",
        "COLUMNS": "200",
    }
    registry = Registry.from_env(env)
    model = deploy_fraud(registry)
    log_requests(registry, tmp_path, model, shifted(600), requests=6, minutes_ago=2, prefix="s")
    registry.close()

    result = _cli(env, tmp_path, "fraud", "--once", "--json", "--webhook", receiver.url)
    assert result.returncode == 0, result.stderr
    (out,) = json.loads(result.stdout)
    assert out["model"] == "fraud" and out["version"] == 1 and out["error"] is None
    assert [v["kind"] for v in out["verdicts"]] == ["data_drift"]
    assert [f["name"] for f in out["verdicts"][0]["findings"]] == ["amount", "country"]
    assert out["data_drift"]["features"]["hour"]["drift"] is False
    assert len(receiver.bodies) == 1
    assert "s3cr3t" not in result.stderr

    table = _cli(env, tmp_path, "--once", "--webhook", receiver.url)
    assert table.returncode == 0, table.stderr
    assert "fraud@1" in table.stdout and "ALERT amount, country" in table.stdout
    assert len(receiver.bodies) == 1  # the open alert was read back from the ledger

    unknown = _cli(env, tmp_path, "nosuch", "--once")
    assert unknown.returncode == 2 and unknown.stderr.startswith("Error:")
    assert "Traceback" not in unknown.stderr


def test_monitor_loop_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "MLSHIP_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlship", "monitor", "--interval", "1s", "--json"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "[]"  # one tick: nothing deployed
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
