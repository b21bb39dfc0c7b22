"""Rendering of ``mlship drift``: the Rich table, and the HTML page with its charts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd
    from rich.console import Console

    from mlship.monitoring import DriftOptions, DriftReport, FeatureDrift, Reference
    from mlship.monitoring.statistics import FloatArray


def print_drift(report: DriftReport, subtitle: str, notes: Sequence[str], console: Console) -> None:
    """The dataset verdict, both rules' figures, one row per feature, then the notes."""
    from rich.markup import escape
    from rich.table import Table

    from mlship.monitoring.feature_drift import percent

    d = report.dataset
    if report.dataset_drift:
        console.print(f"[bold red]DATASET DRIFT[/] {escape(subtitle)}")
    else:
        console.print(f"[green]NO DATASET DRIFT[/] {escape(subtitle)}")
    console.print(
        f"Benjamini-Hochberg (FDR {d.alpha:g}): {len(d.bh_drifted)} of {d.judged} features "
        f"drift; share rule: {d.share:.0%} (threshold {d.drift_share:.0%}); "
        f"the {'Benjamini-Hochberg' if d.rule == 'bh' else 'share'} rule decides."
    )
    table = Table(show_header=True, header_style="bold")
    for col in ("feature", "test", "statistic", "p-value", "effect", "verdict"):
        table.add_column(col, justify="left" if col in ("feature", "test", "verdict") else "right")
    ordered = sorted(
        report.features.values(), key=lambda f: (not f.drift, -(f.effect or 0.0), f.name)
    )
    for f in ordered:
        table.add_row(*_cells(f.name, f))
    if report.prediction is not None:
        table.add_row(*_cells(f"{report.prediction.name} (prediction)", report.prediction))
    console.print(table)
    judged = [*ordered, *([report.prediction] if report.prediction is not None else [])]
    effects: dict[str, list[str]] = {}
    for f in judged:
        effects.setdefault(f"{f.effect_name} >= {f.threshold:g}", []).append(f.name)
    rules = "; ".join(f"{rule} ({', '.join(names)})" for rule, names in effects.items())
    options = report.options
    lines = [
        f"A feature drifts when p < {d.alpha:g} and its effect is large: {rules}; or its missing "
        f"share rises by {options.missing_threshold * 100:g} points or more, or values in new "
        f"categories reach {percent(options.new_category_threshold)} (one-sided Fisher test)."
    ]
    by_reason: dict[str, list[str]] = {}
    for name, reason in report.skipped.items():
        by_reason.setdefault(reason, []).append(name)
    lines += [f"Not tested: {', '.join(names)} ({reason})." for reason, names in by_reason.items()]
    for line in [*lines, *notes]:
        console.print(f"[dim]{escape(line)}[/]")


def _cells(label: str, f: FeatureDrift) -> tuple[str, ...]:
    from rich.markup import escape

    if f.drift:
        details = f.details()
        verdict = "[bold red]DRIFT[/]" + (f": {escape('; '.join(details))}" if details else "")
    elif f.reason is not None:
        verdict = f"[dim]not judged: {escape(f.reason)}[/]"
    else:
        verdict = "[green]ok[/]"
    statistic = "-" if f.statistic is None else f"{f.statistic:.4g}"
    if f.p_value is None:
        p_value = "-"
    else:
        p_value = "< 1e-16" if f.p_value < 1e-16 else f"{f.p_value:.3g}"
    effect = "-" if f.effect is None else f"{f.effect:.3g}"
    return escape(label), f.test, statistic, p_value, effect, verdict


def write_html(
    path: Path,
    report: DriftReport,
    reference: Reference,
    current: pd.DataFrame,
    options: DriftOptions,
    *,
    columns: Sequence[str],
    prediction: str | None,
    times: FloatArray | None,
    slices: int,
    title: str,
    subtitle: str,
) -> None:
    """Draw the charts of ``report`` (and its drift over time, given ``times``) into ``path``."""
    import numpy as np

    from mlship.errors import InvalidInput
    from mlship.monitoring.histograms import histogram
    from mlship.monitoring.html_report import render_html
    from mlship.monitoring.timeline import drift_over_time

    judged = list(report.features)
    if report.prediction is not None and prediction is not None:
        judged.append(prediction)
    charts = {
        name: histogram(name, reference.columns[name], current[name])
        for name in judged
        if name in reference.columns
    }
    timeline, note = None, None
    if times is None:
        note = (
            "No times to slice by: for files, pass --time-column; a model's prediction log is "
            "sliced by request time."
        )
    else:
        keep = np.isfinite(times)
        timeline = drift_over_time(
            reference,
            current.loc[keep],
            times[keep],
            options,
            columns=columns,
            prediction=prediction,
            slices=slices,
        )
    page = render_html(
        report, charts, title=title, subtitle=subtitle, timeline=timeline, timeline_note=note
    )
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"Cannot write the HTML report to {path}: {exc.strerror}.") from None
