"""``mlship status NAME --report``: the shadow report as a table, JSON or an HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlship.cli.output import fmt_time, out, print_json

if TYPE_CHECKING:
    from mlship.registry import Registry
    from mlship.rollout.shadow_report import ShadowReport


def show_report(
    registry: Registry, name: str, html: Path | None, slices: list[str] | None, as_json: bool
) -> None:
    """The report of the running or last shadow of ``name``; ``html`` also writes the page."""
    from mlship.rollout.shadow_report import shadow_report

    found = shadow_report(registry, name, features=slices)
    if html is not None:
        from mlship.rollout.shadow_html import render_html

        html.write_text(render_html(found), encoding="utf-8")
    if as_json:
        print_json(found.to_dict())
        return
    _print_report(found)
    if html is not None:
        out().print(f"Wrote {html}")


def _print_report(report: ShadowReport) -> None:
    from rich.table import Table

    console = out()
    agreement = "n/a" if report.agreement is None else f"{report.agreement:.2%}"
    console.print(
        f"Shadow v{report.shadow_version} against stable v{report.stable_version} of "
        f"{report.model}, {fmt_time(report.since)} to {fmt_time(report.until)}: "
        f"{report.paired_requests:,} requests ({report.rows_compared:,} rows) compared, "
        f"agreement {agreement}"
    )
    roles = Table(title="Each version")
    for col in ("role", "requests", "errors", "error rate", "p50 ms", "p95 ms", "p99 ms"):
        roles.add_column(col, justify="left" if col == "role" else "right")
    for role in (report.stable, report.shadow):
        latency = role.latency_ms or {}
        rate = role.error_rate
        roles.add_row(
            f"{role.role} v{role.version}",
            f"{role.requests:,}",
            f"{role.errors:,}",
            "-" if rate is None else f"{rate:.2%}",
            *(f"{latency[k]:.2f}" if k in latency else "-" for k in ("p50", "p95", "p99")),
        )
    console.print(roles)
    diffs = report.score_differences
    if diffs is not None:
        q = diffs.quantiles
        console.print(
            f"Score differences (shadow - stable) on {diffs.count:,} rows: mean "
            f"{diffs.mean:+.4g}, p5 {q['p5']:+.4g}, median {q['p50']:+.4g}, p95 {q['p95']:+.4g}"
        )
    elif report.class_pairs:
        pairs = ", ".join(f"{a}→{b}: {n:,}" for a, b, n in report.class_pairs[:8] if a != b)
        console.print(f"Disagreements (stable→shadow): {pairs or 'none'}")
    if report.slices:
        table = Table(title="Most uneven disagreement by slice")
        for col in ("feature", "slice", "rows", "disagreement", "mean |diff|"):
            table.add_column(col, justify="left" if col in ("feature", "slice") else "right")
        for feature in report.slices[:3]:
            for piece in feature.slices:
                diff = piece.mean_abs_diff
                table.add_row(
                    feature.feature,
                    piece.label,
                    f"{piece.rows:,}",
                    f"{piece.disagreement:.2%}",
                    "-" if diff is None else f"{diff:.4g}",
                )
        console.print(table)
