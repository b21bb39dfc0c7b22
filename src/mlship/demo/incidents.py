"""Steps 3 and 4: what the safety nets catch. v3 is better overall but broken for one country:
the slice gate blocks it. v4 raises on a tenth of the traffic and is forced out anyway: the
canary analysis rolls it back, and no user sees an error."""

from __future__ import annotations

from mlship.demo import gating, models
from mlship.demo.canary_watch import follow, last_event_id
from mlship.demo.context import NAME, Demo, Fate
from mlship.demo.transactions import LABEL, RATES_TO_EUR, make_transactions

BROKEN_COUNTRY = "BR"
"""The country v3's currency table forgot."""
FORGOTTEN_DEVICE = "tablet"
"""The device type v4's lookup table forgot."""


def country_regression(demo: Demo) -> None:
    """Train v3 with a currency table that lost BRL; its gate fails on the BR slice only."""
    import pandas as pd

    from mlship.errors import Conflict
    from mlship.rollout import Rollouts

    t = demo.timeline
    assert demo.train is not None and demo.holdout is not None
    t.step(3, "A model that is worse in one country: the slice gate blocks it")
    more = make_transactions(len(demo.train), seed=8)
    train = pd.concat([demo.train, more], ignore_index=True)
    rates = {c: r for c, r in RATES_TO_EUR.items() if c != BROKEN_COUNTRY}
    with demo.timeline.console.status("Training v3"):
        fitted = models.fit(models.boosted(train, to_euro=models.ToEuro(rates)), train)
    metrics = models.scores(fitted, demo.holdout)
    v3 = demo.registry.register(
        fitted,
        NAME,
        train_data=train,
        label=LABEL,
        metrics=metrics,
        params={**models.BOOSTED_PARAMS, "amounts": "in EUR", "currencies": sorted(rates)},
        description="Amounts in euros; twice the training data",
        reason="amounts comparable across countries, more data",
        trusted=True,
    )
    t.ok(
        f"Trained v3 on twice the data, amounts converted to euros first; registered {v3.ref} "
        f"(trusted: its ToEuro step is our own code): ROC AUC {metrics['roc_auc']:.3f}"
    )
    t.note(f"Its currency table has no rate for {BROKEN_COUNTRY}: every Brazilian amount becomes 0")
    demo.fates[3] = Fate(3, "60 trees, amounts in EUR", metrics["roc_auc"])
    report = gating.check(demo, v3.ref, demo.holdout)
    t.expect(report.passed, f"{v3.ref} should pass its checks (its bug is in the predictions).")
    report = gating.gate(demo, v3.ref, demo.holdout, baseline=f"{NAME}@production")
    demo.fates[3].gate = gating.gate_text(report)
    failed = gating.failed_slices(report)
    t.expect(
        not report.passed and failed == [f"country={BROKEN_COUNTRY}"],
        f"{v3.ref}'s gate should fail on country={BROKEN_COUNTRY} only; failed: "
        f"{[r.name for r in report.results if r.failed] or 'nothing'}.",
    )
    refused: Conflict | None = None
    try:
        Rollouts(demo.registry).start_canary(v3.ref, demo.pace.canary())
    except Conflict as exc:
        refused = exc
    t.expect(refused is not None, f"Deploying {v3.ref} should be refused: it failed its gate.")
    assert refused is not None
    t.bad(f"Deploying {v3.ref} is refused: {refused.message}")
    demo.fates[3].fate = f"blocked by the slice gate ({failed[0]})"


def broken_release(demo: Demo) -> None:
    """v4 = v2 behind a device-name lookup that raises on tablets, forced past its failed
    check; the server's canary analysis rolls it back on the error rate."""
    from sklearn.pipeline import Pipeline

    from mlship.rollout import DeploymentStore, Rollouts

    t = demo.timeline
    assert demo.train is not None and demo.holdout is not None and demo.traffic is not None
    t.step(4, "A buggy release forced past the gates: the canary analysis rolls it back")
    names = {"mobile": "mobile", "Mobile": "mobile", "desktop": "desktop", "pos": "pos"}
    fitted = Pipeline([("device_names", models.DeviceNames(names)), ("model", demo.shared["v2"])])
    v4 = demo.registry.register(
        fitted,
        NAME,
        train_data=demo.train,
        label=LABEL,
        params={"hotfix": "normalise device names of the new SDK", "base": "v2"},
        description="v2 behind a device-name lookup",
        reason="hotfix",
        trusted=True,
    )
    share = float((demo.holdout["device_type"] == FORGOTTEN_DEVICE).mean())
    t.ok(
        f"Registered {v4.ref}: v2 behind a hotfix that normalises device names; the lookup "
        f"table forgot '{FORGOTTEN_DEVICE}' ({share:.0%} of transactions): KeyError"
    )
    demo.fates[4] = Fate(4, "v2 + device-name hotfix")
    report = gating.check(demo, v4.ref, demo.holdout)
    t.expect(not report.passed, f"{v4.ref} should fail its model sanity check.")
    demo.fates[4].gate = "check failed; forced"
    since = last_event_id(demo)
    rows = demo.rows(demo.holdout)
    before, fallbacks = demo.traffic.answered, len(demo.traffic.failed)
    with demo.traffic.sending(rows):
        Rollouts(demo.registry).start_canary(
            v4.ref, demo.pace.canary(), force=True, reason="urgent hotfix: forced past the gates"
        )
        t.bad(f"Forced out anyway: canary of {v4.ref} with force=True (recorded in the ledger)")
        _, ended = follow(demo, since)
    t.expect(ended.kind == "rolled_back", f"v4 should be rolled back; it was {ended.kind}.")
    analysis = ended.details.get("analysis") or {}
    t.expect(
        "error_rate" in analysis.get("failed", []),
        f"v4 should fail on its error rate; the analysis said: {analysis.get('reason')}",
    )
    deployment = DeploymentStore(demo.registry).get(NAME)
    t.expect(
        deployment is not None and deployment.stable_version == 2,
        "v2 should still serve after the rollback.",
    )
    t.expect(
        len(demo.traffic.failed) == fallbacks,
        f"No user should see an error; these failed: {demo.traffic.failed[fallbacks:][:3]}",
    )
    errors = next(c for c in analysis["checks"] if c["name"] == "error_rate")["figures"]
    t.ok(
        f"No user saw an error: {demo.traffic.answered - before:,} requests answered; the "
        f"{errors['candidate_errors']} that failed on v4 were answered by v2 (stable) instead"
    )
    demo.fates[4].fate = "rolled back by the canary (error rate)"
