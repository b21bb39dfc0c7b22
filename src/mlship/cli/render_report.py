"""Rich rendering of check and gate reports."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from mlship.checks.results import Report

_STYLE = {
    "pass": ("✔", "green"),
    "fail": ("✘", "bold red"),
    "warn": ("!", "yellow"),
    "skip": ("-", "dim"),
}


def print_report(report: Report, console: Console, *, show_passed: bool = True) -> None:
    """A headline, the metric comparison (gates), and one row per check."""
    from rich.table import Table

    counts = report.counts()
    colour = "green" if report.passed else "bold red"
    against = f" against {report.baseline}" if report.baseline else ""
    console.print(
        f"[{colour}]{report.kind.upper()} {report.verdict.upper()}[/] {report.subject}{against}: "
        f"{counts['pass']} passed, {counts['fail']} failed, {counts['warn']} warnings, "
        f"{counts['skip']} skipped ({report.duration_s:.1f} s)"
    )
    s = report.summary
    if s.get("metric") and s.get("baseline") is not None:
        pct = round(float(s.get("confidence", 0.95)) * 100)
        console.print(
            f"{s['metric']}: candidate {s['candidate']:.4f}, baseline {s['baseline']:.4f}, "
            f"difference {s['difference']:+.4f}, {pct}% interval [{s['low']:+.4f}, "
            f"{s['high']:+.4f}] on {s['rows']:,} rows"
        )
    elif s.get("metric"):
        console.print(f"{s['metric']}: {s['candidate']:.4f} on {s['rows']:,} rows")
    table = Table(show_header=True, header_style="bold")
    table.add_column("", width=2)
    table.add_column("check", overflow="fold")
    table.add_column("result", overflow="fold")
    order = {"fail": 0, "warn": 1, "pass": 2, "skip": 3}
    for result in sorted(report.results, key=lambda r: order[r.status]):
        if result.status == "pass" and not show_passed:
            continue
        icon, style = _STYLE[result.status]
        table.add_row(f"[{style}]{icon}[/]", result.name, result.message)
    console.print(table)
