"""Step 5: the world shifts. The monitor finds the drift, alerts a webhook, and its retrainer
trains v5 on recent labelled data; v5 passes its check and gate, runs as a shadow (with its
report), then as a canary, and becomes production; the monitor then finds nothing wrong."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from mlship.demo import gating
from mlship.demo.canary_watch import follow, last_event_id
from mlship.demo.context import NAME, Demo, Fate
from mlship.demo.retrain import DATA_VARIABLE
from mlship.demo.server import WebhookReceiver
from mlship.demo.transactions import NEW_DEVICE, make_transactions

if TYPE_CHECKING:
    import pandas as pd

    from mlship.monitoring.schedule import Monitor

RECENT_ROWS = 40_000
"""Recent transactions: half labelled for the retraining job, half held out for the gate."""
AMOUNT_SCALE = 1.5
NEW_DEVICE_SHARE = 0.2
ENTRY_POINT = "mlship.demo.retrain:retrain"


def drift_and_retrain(demo: Demo) -> None:
    """Shift the traffic, let the monitor alert and retrain, then ship v5 safely."""
    t = demo.timeline
    assert demo.traffic is not None
    t.step(5, "The world shifts: drift alert, retraining, v5 through gates, shadow and canary")
    recent = make_transactions(
        RECENT_ROWS, seed=9, amount_scale=AMOUNT_SCALE, smartwatch_share=NEW_DEVICE_SHARE
    )
    labelled, holdout = recent.iloc[: RECENT_ROWS // 2], recent.iloc[RECENT_ROWS // 2 :]
    labelled_file = demo.data_dir / "recent-labelled.parquet"
    labelled.to_parquet(labelled_file, index=False)
    holdout.to_parquet(demo.data_dir / "holdout-recent.parquet", index=False)
    t.note(
        f"Prices rise {AMOUNT_SCALE - 1:.0%} and a new device type appears: '{NEW_DEVICE}' "
        f"({NEW_DEVICE_SHARE:.0%} of transactions; fraud on it is more frequent)"
    )
    rows = demo.rows(holdout)
    before = demo.traffic.sent
    with demo.traffic.sending(rows):
        demo.traffic.wait_for(demo.pace.shift_requests)
    time.sleep(1.0)  # the prediction log is written in batches, off the request path
    t.ok(f"v2 scored {demo.traffic.sent - before:,} transactions of the new world")
    receiver = WebhookReceiver()
    with _log_to(demo, "monitor.log"):
        monitor = _monitor(demo, receiver, labelled_file)
        try:
            _alert(demo, monitor, receiver)
            version = _retrained(demo, monitor)
            _ship(demo, version, holdout, rows)
            _recheck(demo, monitor, new_world=demo.traffic.sent - before)
        finally:
            monitor.close()
            receiver.close()


def _monitor(demo: Demo, receiver: WebhookReceiver, data: Path) -> Monitor:
    """What ``mlship monitor fraud_detector --once --window N --webhook URL
    --retrain-entry-point mlship.demo.retrain:retrain`` builds."""
    from mlship.monitoring.alerts import Alerter
    from mlship.monitoring.monitor import MonitorConfig
    from mlship.monitoring.retrain import Retrainer
    from mlship.monitoring.schedule import Monitor
    from mlship.monitoring.sinks import build_sinks

    window = int(demo.pace.shift_requests * 0.9)
    retrainer = Retrainer(
        demo.registry,
        entry_point=ENTRY_POINT,
        cooldown=timedelta(minutes=10),
        timeout=timedelta(minutes=5),
        log_dir=demo.home / "retrain",
        environ={**demo.environ, DATA_VARIABLE: str(data), "MLSHIP_ACTOR": "retraining"},
    )
    return Monitor(
        demo.registry,
        MonitorConfig(window=window, workers=1),
        Alerter(build_sinks(webhooks=[receiver.url], retries=1)),
        retrainer,
        reports=demo.reports_dir,
    )


def _alert(demo: Demo, monitor: Monitor, receiver: WebhookReceiver) -> None:
    t = demo.timeline
    (result,) = monitor.tick([NAME])
    t.expect(result.error is None, f"The monitor failed: {result.error}")
    drift = result.verdict("data_drift")
    notes = "; ".join(result.notes)
    t.expect(drift is not None, f"The monitor should find data drift. Notes: {notes or 'none'}")
    assert drift is not None
    t.bad(f"Drift alert on v{result.version}: {drift.message}")
    for finding in drift.findings:
        t.note(finding.describe())
    deadline = time.monotonic() + 10
    while not receiver.received and time.monotonic() < deadline:
        time.sleep(0.1)
    t.expect(bool(receiver.received), "The webhook should have received the alert.")
    alert = receiver.received[0]
    t.ok(f"Webhook {receiver.url} received: {alert.get('title')} (also in monitor.log)")
    if alert.get("report"):
        demo.files["drift report (HTML)"] = Path(str(alert["report"]))


def _retrained(demo: Demo, monitor: Monitor) -> int:
    t = demo.timeline
    retrainer = monitor.retrainer
    assert retrainer is not None
    t.expect(
        retrainer.running == NAME or bool(retrainer.finished),
        "The drift should have started the retraining job.",
    )
    t.note(f"Retraining started: {ENTRY_POINT} in a child process (log: {demo.home / 'retrain'})")
    with demo.timeline.console.status("Retraining"):
        retrainer.wait(300)
    t.expect(bool(retrainer.finished), "The retraining job did not finish within 5 minutes.")
    done = retrainer.finished[-1]
    t.expect(
        done["exit_code"] == 0 and done["new_version"] is not None,
        f"The retraining job failed (exit code {done['exit_code']}); see {done['log']}.",
    )
    version = int(done["new_version"])
    fitted = demo.registry.get(f"{NAME}@{version}")
    t.ok(
        f"Retraining finished in {done['seconds']:.0f} s: registered {fitted.ref} on "
        f"{fitted.row_count:,} recent labelled transactions, ROC AUC "
        f"{fitted.metrics.get('roc_auc', 0):.3f} on their own holdout"
    )
    demo.fates[version] = Fate(version, "60 trees, recent data", None)
    return version


def _ship(demo: Demo, version: int, holdout: pd.DataFrame, rows: list[dict[str, object]]) -> None:
    from mlship.demo import models
    from mlship.rollout import Rollouts

    t = demo.timeline
    assert demo.traffic is not None
    ref = f"{NAME}@{version}"
    loaded = demo.registry.load(ref)
    demo.fates[version].roc_auc = models.scores(loaded, holdout)["roc_auc"]
    report = gating.check(demo, ref, holdout)
    t.expect(report.passed, f"{ref} should pass its checks on the recent data.")
    report = gating.gate(demo, ref, holdout, baseline=f"{NAME}@production")
    demo.fates[version].gate = gating.gate_text(report)
    t.expect(report.passed, f"{ref} should beat v2 on the recent data: {report.summary}")
    rollouts = Rollouts(demo.registry)
    rollouts.start_shadow(ref, 100, reason="retrained after drift")
    t.note(f"Shadow: v{version} gets a copy of every request; users keep getting v2's answers")
    with demo.traffic.sending(rows):
        demo.traffic.wait_for(demo.pace.shadow_requests)
        _shadow_report(demo)
        since = last_event_id(demo)
        rollouts.promote(NAME, strategy="canary", config=demo.pace.canary(), reason="shadow agreed")
        _, ended = follow(demo, since)
    t.expect(ended.kind == "promoted", f"v{version}'s canary should promote it: {ended.kind}.")
    production = demo.registry.resolve(f"{NAME}@production")[1]
    t.expect(production == version, f"production should be v{version}, not v{production}.")
    t.expect(not demo.traffic.failed, f"Requests failed: {demo.traffic.failed[:3]}")
    demo.fates[2].fate = "promoted; replaced by v5 after drift"
    demo.fates[version].fate = "promoted after shadow and canary: production"


def _shadow_report(demo: Demo) -> None:
    from mlship.rollout.shadow_html import render_html
    from mlship.rollout.shadow_report import shadow_report

    time.sleep(1.0)  # shadow copies are answered and logged in the background
    report = shadow_report(demo.registry, NAME)
    path = demo.reports_dir / f"shadow-v{report.shadow_version}.html"
    path.write_text(render_html(report), encoding="utf-8")
    demo.files["shadow report (HTML)"] = path
    agreement = report.agreement
    shown = f"{agreement:.1%}" if agreement is not None else "n/a"
    demo.timeline.ok(
        f"Shadow report: {report.paired_requests:,} requests answered by both; "
        f"v{report.shadow_version} agrees with v{report.stable_version} on {shown} of them "
        f"({path.name})"
    )


def _recheck(demo: Demo, monitor: Monitor, new_world: int) -> None:
    """Judge every request answered since the shift (over 1,500 in the fast demo) against v5's
    profile: on the 540 of the alert's window, a feature with no drift at all (the hour of day)
    measured 0.05 to 0.12 (normalised Wasserstein; threshold 0.1) from run to run."""
    t = demo.timeline
    time.sleep(1.0)
    monitor.config = replace(monitor.config, window=int(new_world * 0.9))
    (result,) = monitor.tick([NAME])
    t.expect(result.error is None, f"The monitor failed: {result.error}")
    t.expect(
        result.verdict("data_drift") is None,
        f"v{result.version}'s own profile should show no drift: {result.verdicts}",
    )
    kinds = [e.kind for e in demo.registry.history(NAME)]
    resolved = "; the alert is resolved" if "alert_resolved" in kinds else ""
    t.ok(f"Monitor again: the inputs match v{result.version}'s training profile{resolved}")


@contextmanager
def _log_to(demo: Demo, name: str) -> Iterator[None]:
    """The monitor's log lines (the alert's log sink, the retrainer) go to a file, not between
    the timeline's lines."""
    logger = logging.getLogger("mlship.monitoring")
    handler = logging.FileHandler(demo.home / name, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    saved = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    demo.files["monitor log (alerts, retraining)"] = demo.home / name
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = saved
        handler.close()
