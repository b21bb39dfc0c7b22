"""Checks and gates of the demo's versions, through the same functions as ``mlship check`` and
``mlship gate`` (:func:`mlship.checks.run_check`, :func:`mlship.checks.run_gates`); each
verdict is stored on the version, as the CLI stores it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlship.demo.context import GATE_METRIC, GATE_TOLERANCE, MIN_ROC_AUC, SLICE, Demo
from mlship.demo.transactions import LABEL

if TYPE_CHECKING:
    import pandas as pd

    from mlship.checks import Report

MIN_SLICE_ROWS = 200


def check(demo: Demo, ref: str, data: pd.DataFrame) -> Report:
    """``mlship check REF --data DATA --no-memory``: data validation and model sanity."""
    from mlship.checks import CheckRun, SanityConfig, run_check

    sanity = SanityConfig(batch_rows=500, single_row_calls=20, batch_calls=3, measure_memory=False)
    report = run_check(demo.registry, CheckRun(ref=ref, data=data, sanity=sanity))
    counts = report.counts()
    if report.passed:
        warned = f", {counts['warn']} warning(s)" if counts["warn"] else ""
        demo.timeline.ok(
            f"Check {ref}: {counts['pass']} checks passed{warned} (data against the training "
            "profile, model sanity)"
        )
    else:
        first = next(r for r in report.results if r.failed)
        demo.timeline.bad(f"Check {ref} failed: {first.message}")
    return report


def gate(demo: Demo, ref: str, data: pd.DataFrame, baseline: str | None) -> Report:
    """``mlship gate REF --against BASELINE --data DATA --metric roc_auc --tolerance 0.02
    --slice country`` (the first version, without a baseline: ``--min-metric 0.75``)."""
    from mlship.checks import GateConfig, GateRun, run_gates

    config = GateConfig(
        metric=GATE_METRIC,
        tolerance=GATE_TOLERANCE,
        slices=(SLICE,) if baseline is not None else (),
        min_slice_rows=MIN_SLICE_ROWS,
        min_metric=MIN_ROC_AUC if baseline is None else None,
    )
    run = GateRun(candidate=ref, baseline=baseline, data=data, label=LABEL, config=config)
    report = run_gates(demo.registry, run)
    _narrate(demo, report)
    return report


def gate_text(report: Report) -> str:
    """The gate's verdict in a table cell: the gain and its interval, or the failing slices."""
    summary = report.summary
    if report.passed:
        if "low" not in summary:
            return f"pass ({GATE_METRIC} {summary['candidate']:.3f} ≥ {MIN_ROC_AUC})"
        return (
            f"pass ({summary['difference']:+.3f}, "
            f"CI [{summary['low']:+.3f}, {summary['high']:+.3f}])"
        )
    failed = [r for r in report.results if r.failed]
    return "fail (" + ", ".join(_slice_name(r.name) for r in failed) + ")"


def failed_slices(report: Report) -> list[str]:
    """``country=BR`` for each failing slice gate."""
    return [_slice_name(r.name) for r in report.results if r.failed and r.category == "slice"]


def _slice_name(name: str) -> str:
    return name.split(":slice:", 1)[1] if ":slice:" in name else name.removeprefix("gate:")


def _narrate(demo: Demo, report: Report) -> None:
    t = demo.timeline
    summary = report.summary
    ref = report.subject
    if report.baseline is None:
        line = f"{GATE_METRIC} {summary['candidate']:.3f}, floor {MIN_ROC_AUC} (first version)"
        (t.ok if report.passed else t.bad)(f"Gate {ref}: {line}")
        return
    pct = round(float(summary.get("confidence", 0.95)) * 100)
    overall = (
        f"{GATE_METRIC} {summary['candidate']:.3f} vs {summary['baseline']:.3f} "
        f"({summary['difference']:+.3f}, {pct} % interval [{summary['low']:+.3f}, "
        f"{summary['high']:+.3f}] over {summary.get('resamples', 0)} paired resamples)"
    )
    slices = [r for r in report.results if r.category == "slice"]
    judged = [r for r in slices if r.status in ("pass", "fail")]
    failed = [r for r in slices if r.failed]
    if report.passed:
        t.ok(
            f"Gate {ref} against {report.baseline}: {overall}; all {len(judged)} {SLICE} slices "
            f"within {GATE_TOLERANCE}"
        )
        return
    overall_ok = not any(r.failed for r in report.results if r.category != "slice")
    t.note(
        f"Gate {ref} against {report.baseline}: overall {overall}: "
        + ("within tolerance" if overall_ok else "worse")
    )
    for result in failed:
        t.bad(f"Gate {ref} failed: {result.message}")
