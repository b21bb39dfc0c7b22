"""Step 6: the versions and their fate, and where to look next."""

from __future__ import annotations

import shlex

from mlship.demo.context import GATE_METRIC, GATE_TOLERANCE, NAME, SLICE, Demo


def summary(demo: Demo, *, keep_serving: bool) -> None:
    """The table of versions, the commands to run and the files to open."""
    from rich.table import Table

    t = demo.timeline
    t.step(6, "Where to look")
    production = demo.registry.resolve(f"{NAME}@production")[1]
    table = Table(title=f"{NAME}: every version", title_justify="left")
    for column in ("version", "model", "ROC AUC", "gate", "fate"):
        table.add_column(column)
    for version in sorted(demo.fates):
        fate = demo.fates[version]
        auc = "-" if fate.roc_auc is None else f"{fate.roc_auc:.3f}"
        name = f"v{version}" + (" (production)" if version == production else "")
        style = "bold" if version == production else None
        table.add_row(name, fate.model, auc, fate.gate, fate.fate, style=style)
    t.console.print(table)
    t.console.print("[dim]ROC AUC on the held-out data of its time (v5: the recent data).[/]")
    home = shlex.quote(str(demo.home))
    holdout = shlex.quote(str(demo.data_dir / "holdout.parquet"))
    commands = [
        f"export MLSHIP_HOME={home}",
        f"mlship models history {NAME}",
        f"mlship models list {NAME}",
        f"mlship models diff {NAME}@2 {NAME}@5",
        f"mlship gate {NAME}@3 --against {NAME}@2 --data {holdout} --metric {GATE_METRIC} "
        f"--tolerance {GATE_TOLERANCE} --slice {SLICE} --no-record",
        f"mlship status {NAME}",
        f"mlship status {NAME} --report",
        f"mlship drift {NAME} --window 1h --html drift.html",
    ]
    t.console.print("\n[bold]Try:[/]")
    for command in commands:
        t.console.print(f"  {command}", highlight=False, soft_wrap=True)
    t.console.print("\n[bold]Files:[/]")
    for what, path in demo.files.items():
        t.console.print(f"  {what}: {path}", highlight=False, soft_wrap=True)
    server = demo.server
    if keep_serving and server is not None and server.running:
        t.console.print(
            f"\n[bold]Dashboard:[/] {server.url}/ui/  (the server keeps running with a trickle "
            "of traffic; Ctrl-C stops it)",
            highlight=False,
        )
    else:
        t.console.print(
            f"\n[bold]Dashboard:[/] run `MLSHIP_HOME={home} mlship serve --port 8080` and open "
            "http://127.0.0.1:8080/ui/ (or run the demo with --keep-serving)",
            highlight=False,
            soft_wrap=True,
        )
