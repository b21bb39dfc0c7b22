"""``mlship demo``: the whole life cycle of a fraud model in a throw-away store, narrated.

1. a first model is trained, registered, checked, gated and goes live; ``mlship serve`` starts;
2. a better one passes its gate (with its bootstrap interval) and a canary 5 → 100 % under
   traffic from a load generator, and becomes production;
3. one that is worse in one country is blocked by the slice gate;
4. a buggy one forced past the gates is rolled back by the canary analysis;
5. the traffic shifts: the monitor alerts a webhook and retrains; v5 passes its gates, a shadow
   and a canary, and becomes production;
6. the versions' fates, and where to look.

It uses only mlship's public API and commands (the server is a real ``mlship serve``), so it
is also the end-to-end test. Exit code 0 when every step behaved as narrated, 1 otherwise.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from mlship.demo.context import FAST, NAME, NORMAL, Demo
from mlship.demo.timeline import DemoFailed, Timeline

if TYPE_CHECKING:
    from rich.console import Console

STORE_VARIABLES = ("MLSHIP_DB_URL", "MLSHIP_ARTIFACTS", "MLSHIP_S3_ENDPOINT_URL")
"""The user's store settings: the demo never uses them."""
TRICKLE_PER_S = 20.0
"""Requests a second sent while ``--keep-serving`` keeps the server up."""


def run_demo(
    home: Path | None = None,
    *,
    console: Console | None = None,
    fast: bool = False,
    keep_serving: bool = False,
    port: int | None = None,
) -> int:
    """Run the demo in ``home`` (a new temporary folder by default); returns the exit code.

    ``fast`` shortens the canary steps and sends less traffic (CI); ``keep_serving`` leaves
    the server (and its dashboard) running at the end until Ctrl-C; ``port`` is the server's
    (default: a free one).
    """
    from rich.console import Console

    from mlship.registry import Registry

    console = console or Console()
    home = Path(home or tempfile.mkdtemp(prefix="mlship-demo-")).expanduser().resolve()
    if (home / "mlship.db").exists():
        console.print(
            f"[red]error:[/] {home} already holds an mlship store; the demo needs an empty "
            "folder. Pass another --home, or none for a temporary one."
        )
        return 2
    home.mkdir(parents=True, exist_ok=True)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MLSHIP_")}
    environ.update(MLSHIP_HOME=str(home), MLSHIP_ACTOR="demo")
    # One OpenMP thread per child (server, retraining): spin-waiting threads on a busy machine
    # turn a millisecond prediction into many.
    environ.setdefault("OMP_NUM_THREADS", "1")
    timeline = Timeline(console)
    pace = FAST if fast else NORMAL
    console.rule("[bold]mlship demo[/]: the life cycle of a fraud model")
    console.print(f"Store: {home} (MLSHIP_HOME)", highlight=False)
    registry = Registry.from_env(environ)
    demo = Demo(registry=registry, home=home, timeline=timeline, pace=pace, environ=environ)
    try:
        _run(demo, port=port)
        from mlship.demo.summary import summary

        summary(demo, keep_serving=keep_serving)
        console.print(
            f"\n[bold green]✓ Every step behaved as narrated[/] in {timeline.elapsed:.0f} s.",
            highlight=False,
        )
        if keep_serving:
            _serve_until_interrupted(demo)
        return 0
    except DemoFailed as exc:
        console.print(
            f"\n[bold red]✗ The demo failed at step {timeline.step_number}:[/] {exc}",
            highlight=False,
        )
        console.print(f"Store and logs: {home}", highlight=False)
        return 1
    finally:
        if demo.traffic is not None:
            demo.traffic.stop()
        if demo.server is not None:
            demo.server.stop()
        registry.close()


def _run(demo: Demo, *, port: int | None) -> None:
    from mlship.demo.drift import drift_and_retrain
    from mlship.demo.incidents import broken_release, country_regression
    from mlship.demo.release import better_model, first_model

    first_model(demo, port=port)
    better_model(demo)
    country_regression(demo)
    broken_release(demo)
    drift_and_retrain(demo)


def _serve_until_interrupted(demo: Demo) -> None:
    """Keep the server up with a trickle of recent traffic until Ctrl-C."""
    server, traffic = demo.server, demo.traffic
    if server is None or traffic is None:
        return
    from mlship.demo.transactions import make_transactions

    recent = make_transactions(2_000, seed=10, amount_scale=1.5, smartwatch_share=0.2)
    traffic.start(demo.rows(recent), rate=TRICKLE_PER_S)
    try:
        while server.running:
            time.sleep(0.5)
        demo.timeline.console.print(f"[red]The server stopped; see {server.log}.[/]")
    except KeyboardInterrupt:
        demo.timeline.console.print(f"\nStopping the server of {NAME} ...")
