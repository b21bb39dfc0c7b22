"""Steps 1 and 2: a first model goes live; a better one passes its gate and a canary under live
traffic, then becomes production."""

from __future__ import annotations

from mlship.demo import gating, models
from mlship.demo.canary_watch import follow, last_event_id
from mlship.demo.context import NAME, Demo, Fate
from mlship.demo.server import DemoServer, free_port
from mlship.demo.traffic import Traffic
from mlship.demo.transactions import COUNTRIES, LABEL, make_transactions

SEED = 7
SERVE_OPTIONS = ("--no-batching",)
"""Options of the demo's ``mlship serve`` (why: see :func:`first_model`)."""
ROWS = 60_000
"""Half to train, half held out: enough frauds per country for the slice gates to be stable."""


def first_model(demo: Demo, *, port: int | None) -> None:
    """Generate the data; train, register, check and gate v1; deploy it; start the server."""
    from mlship.rollout import Rollouts

    t = demo.timeline
    t.step(1, "A first model: generate data, train, register, check, gate, go live")
    data = make_transactions(ROWS, seed=SEED)
    demo.train, demo.holdout = data.iloc[: ROWS // 2], data.iloc[ROWS // 2 :]
    holdout_file = demo.data_dir / "holdout.parquet"
    demo.holdout.to_parquet(holdout_file, index=False)
    demo.files["holdout (for mlship check/gate)"] = holdout_file
    t.ok(
        f"Generated {ROWS:,} card transactions in {len(COUNTRIES)} countries "
        f"({data[LABEL].mean():.1%} fraud): amount, hour, distance, account age, country, "
        f"device type, merchant category; {len(demo.train):,} to train, "
        f"{len(demo.holdout):,} held out"
    )
    with demo.timeline.console.status("Training v1"):
        fitted = models.fit(models.boosted(demo.train, params=models.FIRST_PARAMS), demo.train)
    metrics = models.scores(fitted, demo.holdout)
    v1 = demo.registry.register(
        fitted,
        NAME,
        train_data=demo.train,
        label=LABEL,
        metrics=metrics,
        params=models.FIRST_PARAMS,
        description="A quick first model: 10 small trees",
        reason="first model",
    )
    features = len(v1.signature.features) if v1.signature is not None else 0
    t.ok(
        f"Trained v1 (a quick first model: 10 trees of 4 leaves) and registered {v1.ref}: ROC AUC "
        f"{metrics['roc_auc']:.3f}, PR AUC {metrics['pr_auc']:.3f}, with its params and the "
        f"training-data profile of its {features} features"
    )
    demo.fates[1] = Fate(1, "10 small trees", metrics["roc_auc"])
    report = gating.check(demo, v1.ref, demo.holdout)
    t.expect(report.passed, f"{v1.ref} should pass its checks; see mlship check {v1.ref}.")
    report = gating.gate(demo, v1.ref, demo.holdout, baseline=None)
    t.expect(report.passed, f"{v1.ref} should pass its gate (ROC AUC floor).")
    demo.fates[1].gate = gating.gate_text(report)
    Rollouts(demo.registry).switch(v1.ref, reason="first release")
    demo.registry.set_alias(v1.ref, "production", reason="first release")
    t.ok(f"Deployed {v1.ref}: a model's first deployment takes all traffic; production → v1")
    demo.fates[1].fate = "live"
    # Without micro-batching every request is one predict call on the shared predict threads,
    # stable's and candidate's alike. With it, under continuous load stable's batches keep one
    # thread busy and a low-share candidate's calls wait for the GIL behind them: measured here,
    # its p95 is 1.2-1.4x stable's at 5-10 % for the very same model, 1.6-1.8x for v2 (whose
    # predict costs 10 % more than v1's), and the canary's latency check rolls v2 back.
    server = DemoServer(
        demo.environ, port or free_port(), demo.home / "server.log", options=SERVE_OPTIONS
    )
    server.start()
    demo.server = server
    demo.files["server log"] = server.log
    t.note(
        f"Starting mlship serve {' '.join(SERVE_OPTIONS)} on {server.url} (one predict call per "
        f"request, so that a canary's latency compares fairly; log: {server.log})"
    )


def better_model(demo: Demo) -> None:
    """Train v2, gate it against production, and roll it out as a canary under load."""
    from mlship.rollout import Rollouts

    t = demo.timeline
    assert demo.train is not None and demo.holdout is not None and demo.server is not None
    t.step(2, "A better model: gate with a confidence interval, canary under live traffic")
    with demo.timeline.console.status("Training v2"):
        fitted = models.fit(models.boosted(demo.train), demo.train)
    demo.shared["v2"] = fitted
    metrics = models.scores(fitted, demo.holdout)
    v2 = demo.registry.register(
        fitted,
        NAME,
        train_data=demo.train,
        label=LABEL,
        metrics=metrics,
        params=models.BOOSTED_PARAMS,
        description="Tuned: 60 trees of 15 leaves",
        reason="tuned: more and larger trees",
    )
    t.ok(
        f"Trained v2 (tuned: 60 trees of 15 leaves) and registered {v2.ref}: ROC AUC "
        f"{metrics['roc_auc']:.3f}, PR AUC {metrics['pr_auc']:.3f}"
    )
    demo.fates[2] = Fate(2, "60 trees", metrics["roc_auc"])
    report = gating.check(demo, v2.ref, demo.holdout)
    t.expect(report.passed, f"{v2.ref} should pass its checks.")
    report = gating.gate(demo, v2.ref, demo.holdout, baseline=f"{NAME}@production")
    demo.fates[2].gate = gating.gate_text(report)
    t.expect(report.passed, f"{v2.ref} should pass its gate against v1: {report.summary}")
    ready = demo.server.wait_ready()
    t.ok(f"mlship serve is ready on {demo.server.url}, serving {ready.get('models')}")
    status, _ = demo.server.get("/ui/")
    if status == 200:
        t.note(f"Dashboard: {demo.server.url}/ui/")
    traffic = Traffic(demo.server.url, NAME)
    demo.traffic = traffic
    since = last_event_id(demo)
    before = traffic.answered
    with traffic.sending(demo.rows(demo.holdout)):
        t.note(
            f"Load generator: {traffic.threads} clients send the held-out transactions, one per "
            "request, the card as routing key"
        )
        Rollouts(demo.registry).start_canary(
            v2.ref, demo.pace.canary(), reason="passed its gate against v1"
        )
        _, ended = follow(demo, since)
    t.expect(ended.kind == "promoted", f"The canary of v2 should be promoted; it was {ended.kind}.")
    t.expect(demo.registry.resolve(f"{NAME}@production")[1] == 2, "production should point at v2.")
    served = ", ".join(f"v{v}: {n:,}" for v, n in sorted(traffic.versions.items()))
    t.expect(not traffic.failed, f"Requests failed during the canary: {traffic.failed[:3]}")
    t.ok(f"{traffic.answered - before:,} requests answered ({served}), none failed")
    demo.fates[1].fate = "replaced by v2"
    demo.fates[2].fate = "promoted by its canary"
