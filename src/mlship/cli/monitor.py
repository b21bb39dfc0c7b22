"""``mlship monitor``: evaluate deployed models on a schedule; alert and retrain.

``mlship monitor fraud --once`` evaluates ``fraud`` once (data drift, prediction drift,
missingness, live metric), sends the alerts it finds, triggers retraining if configured, prints
a table (``--json``: the results) and exits 0. Without ``--once`` it evaluates every
``--interval`` until SIGINT or SIGTERM, then exits 0.

Options override ``MLSHIP_MONITOR_*`` variables, which override the ``[monitoring]`` and
``[retrain]`` tables of ``mlship.toml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlship.cli.output import out, print_json

if TYPE_CHECKING:
    from mlship.monitoring.monitor import MonitorResult


def monitor(
    name: Annotated[
        str | None,
        typer.Argument(
            help="Model to monitor (default: every deployed model).",
            metavar="NAME",
            show_default=False,
        ),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Evaluate once and exit.")] = False,
    interval: Annotated[
        str | None, typer.Option("--interval", help="Time between evaluations (default 5m).")
    ] = None,
    window: Annotated[
        str | None,
        typer.Option("--window", help="1h (a duration) or 5000 (the most recent requests)."),
    ] = None,
    webhooks: Annotated[
        list[str] | None,
        typer.Option("--webhook", help="POST alerts as JSON here (repeatable)."),
    ] = None,
    slack_webhooks: Annotated[
        list[str] | None,
        typer.Option("--slack-webhook", help="Slack-compatible incoming webhook (repeatable)."),
    ] = None,
    retrain_command: Annotated[
        str | None, typer.Option("--retrain-command", help="Run this to retrain a model.")
    ] = None,
    retrain_entry_point: Annotated[
        str | None,
        typer.Option("--retrain-entry-point", help="Or call module:function(model, reason)."),
    ] = None,
    alert_cooldown: Annotated[
        str | None, typer.Option("--alert-cooldown", help="Between alerts of a kind (30m).")
    ] = None,
    retrain_cooldown: Annotated[
        str | None, typer.Option("--retrain-cooldown", help="Between retrainings (6h).")
    ] = None,
    reports: Annotated[
        Path | None,
        typer.Option("--reports", help="Folder of HTML drift reports ($MLSHIP_HOME/reports)."),
    ] = None,
    no_reports: Annotated[
        bool, typer.Option("--no-reports", help="Write no HTML drift report.")
    ] = False,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Smallest drift effect that counts.")
    ] = None,
    rule: Annotated[
        str | None, typer.Option("--rule", help="Dataset verdict: bh or share.")
    ] = None,
    missing_threshold: Annotated[
        float | None,
        typer.Option("--missing-threshold", help="Rise of a missing share that drifts (0.05)."),
    ] = None,
    new_category_threshold: Annotated[
        float | None,
        typer.Option(
            "--new-category-threshold", help="Share of unseen categories that drifts (0.01)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Evaluate deployed models over a window of their prediction log (data and prediction
    drift, missing values, live metric); alert and retrain. Loops until Ctrl-C (exit 0)."""
    import dataclasses

    from mlship.config import read_project_config
    from mlship.monitoring.options import DriftOptions
    from mlship.monitoring.settings import MonitorSettings, build_monitor
    from mlship.registry import Registry

    overrides: dict[str, Any] = {
        "interval": interval,
        "window": window,
        "webhooks": webhooks or None,
        "slack_webhooks": slack_webhooks or None,
        "retrain_command": retrain_command,
        "retrain_entry_point": retrain_entry_point,
        "alert_cooldown": alert_cooldown,
        "retrain_cooldown": retrain_cooldown,
        "reports": "off" if no_reports else reports,
        "missing_threshold": missing_threshold,
        "new_category_threshold": new_category_threshold,
    }
    settings = MonitorSettings.from_env(project=read_project_config(), **overrides)
    # One of the two on the command line replaces whichever the environment set.
    if retrain_command is not None:
        settings = dataclasses.replace(settings, retrain_entry_point=None)
    elif retrain_entry_point is not None:
        settings = dataclasses.replace(settings, retrain_command=None)
    if threshold is not None or rule is not None:
        drift = DriftOptions(
            threshold=threshold,
            dataset_rule=rule or "bh",  # type: ignore[arg-type]
        )
        settings = dataclasses.replace(settings, drift=drift)
    registry = Registry.from_env()
    if name is not None:
        registry.get(name)  # an unknown model is a usage error (exit 2), named with close ones
    watcher = build_monitor(registry, settings)
    models = [name] if name is not None else None
    if once:
        results = watcher.tick(models)
        if watcher.retrainer is not None:
            watcher.retrainer.wait(settings.retrain_timeout.total_seconds())
        _show(results, as_json, settings)
        _fail_on_errors(results)
        return
    _loop(watcher, models, settings.interval.total_seconds(), as_json, settings)


def _loop(
    watcher: Any, models: list[str] | None, interval_s: float, as_json: bool, settings: Any
) -> None:
    from mlship.cli.signals import StopSignals

    if not as_json:
        out().print(f"Monitoring every {interval_s:g} s; Ctrl-C stops.")
    try:
        with StopSignals() as signals:
            while not signals.stopped:
                results = watcher.tick(models)
                _show(results, as_json, settings, compact=True)
                signals.sleep(interval_s)
    finally:
        watcher.close()


def _fail_on_errors(results: list[MonitorResult]) -> None:
    from mlship.errors import MlshipError

    failed = [r for r in results if r.error is not None]
    if failed and len(failed) == len(results):
        raise MlshipError("; ".join(f"{r.model}: {r.error}" for r in failed))


def _show(
    results: list[MonitorResult], as_json: bool, settings: Any, *, compact: bool = False
) -> None:
    import json
    import sys

    if as_json:
        data = [r.to_dict() for r in results]
        if compact:  # one line per tick: a JSON Lines stream
            sys.stdout.write(json.dumps(data, default=str) + "\n")
            sys.stdout.flush()
        else:
            print_json(data)
        return
    from rich.markup import escape
    from rich.table import Table

    if not results:
        out().print("[yellow]No deployed model to monitor:[/] deploy one, or name a model.")
        return
    table = Table(show_header=True, header_style="bold")
    for column in ("model", "window", "data drift", "prediction", "missing", "live metric"):
        table.add_column(column)
    notes: list[str] = []
    for r in results:
        if r.error is not None:
            table.add_row(escape(r.model), "-", f"[red]error: {escape(r.error)}[/]", "", "", "")
            continue
        table.add_row(
            escape(f"{r.model}@{r.version}"),
            _window(r),
            _cell(r, "data_drift", r.drift is not None),
            _cell(r, "prediction_drift", r.prediction is not None),
            _cell(r, "missingness", bool(r.missing)),
            _live(r),
        )
        notes += [f"{r.model}: {n}" for n in r.notes]
    out().print(table)
    for note in notes:
        out().print(f"[dim]{escape(note)}[/]")


def _window(r: MonitorResult) -> str:
    w = r.window
    if w is None:
        return "-"
    return f"{w.requests:,} requests, {w.rows:,} rows"


def _cell(r: MonitorResult, kind: str, judged: bool) -> str:
    from rich.markup import escape

    verdict = r.verdict(kind)
    if verdict is not None:
        return f"[bold red]ALERT[/] {escape(', '.join(verdict.features))}"
    return "[green]ok[/]" if judged else "[dim]n/a[/]"


def _live(r: MonitorResult) -> str:
    live = r.live
    if live is None:
        return "[dim]no labels[/]"
    value = "-" if live.value is None else f"{live.value:.4g}"
    baseline = "-" if live.baseline is None else f"{live.baseline:.4g}"
    text = f"{live.metric} {value} (registered {baseline})"
    return f"[bold red]ALERT[/] {text}" if live.decayed else text
