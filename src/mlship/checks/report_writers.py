"""Reports that CI systems read: JUnit XML (one test case per check) and Markdown summaries."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from mlship.checks.results import CheckResult, Report

_ICON = {"pass": "✅", "fail": "❌", "warn": "⚠️", "skip": "⏭️"}


def to_junit(report: Report) -> str:
    """JUnit XML: a ``testsuite`` per run, a ``testcase`` per check; failures carry the message.

    Warnings are passing test cases with the message in ``system-out``; skips are ``skipped``.
    """
    counts = report.counts()
    suite = ET.Element(
        "testsuite",
        {
            "name": f"mlship {report.kind} {report.subject}",
            "tests": str(len(report.results)),
            "failures": str(counts["fail"]),
            "errors": "0",
            "skipped": str(counts["skip"]),
            "time": f"{report.duration_s:.3f}",
            "timestamp": report.started_at.isoformat(),
        },
    )
    properties = ET.SubElement(suite, "properties")
    for key, value in (
        ("subject", report.subject),
        ("baseline", report.baseline),
        ("data_fingerprint", report.data_fingerprint),
    ):
        if value:
            ET.SubElement(properties, "property", {"name": key, "value": value})
    for result in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": f"mlship.{report.kind}.{result.category}",
                "name": result.name,
                "time": "0",
            },
        )
        if result.status == "fail":
            failure = ET.SubElement(
                case, "failure", {"message": result.message, "type": result.category}
            )
            failure.text = json.dumps(result.figures, default=str, indent=2)
        elif result.status == "skip":
            ET.SubElement(case, "skipped", {"message": result.message})
        else:
            out = ET.SubElement(case, "system-out")
            out.text = f"[{result.status}] {result.message}"
    suites = ET.Element("testsuites", {"name": "mlship"})
    suites.append(suite)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode")


def to_markdown(report: Report) -> str:
    """A summary for a pull-request comment or ``$GITHUB_STEP_SUMMARY``."""
    counts = report.counts()
    head = "passed" if report.passed else "FAILED"
    lines = [
        f"## mlship {report.kind}: {report.subject} {_ICON['pass' if report.passed else 'fail']} "
        f"{head}",
        "",
        f"{counts['pass']} passed, {counts['fail']} failed, {counts['warn']} warnings, "
        f"{counts['skip']} skipped"
        + (f" — baseline **{report.baseline}**" if report.baseline else "")
        + f" — {report.duration_s:.1f} s",
        "",
    ]
    summary = report.summary
    if summary.get("metric"):
        lines += [
            "| metric | candidate | baseline | difference | "
            f"{int(summary.get('confidence', 0.95) * 100)}% interval |",
            "|---|---:|---:|---:|---|",
            f"| {summary['metric']} | {_num(summary.get('candidate'))} | "
            f"{_num(summary.get('baseline'))} | {_num(summary.get('difference'))} | "
            f"[{_num(summary.get('low'))}, {_num(summary.get('high'))}] |",
            "",
        ]
    lines += ["| | check | message |", "|---|---|---|"]
    order = {"fail": 0, "warn": 1, "pass": 2, "skip": 3}
    for result in sorted(report.results, key=lambda r: order[r.status]):
        lines.append(f"| {_ICON[result.status]} | `{result.name}` | {_cell(result)} |")
    return "\n".join(lines) + "\n"


def _cell(result: CheckResult) -> str:
    return result.message.replace("|", "\\|").replace("\n", " ")


def _num(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def write_reports(
    report: Report,
    *,
    json_path: Path | None = None,
    junit_path: Path | None = None,
    markdown_path: Path | None = None,
) -> None:
    """Write the requested report files (folders are created)."""
    writers: list[tuple[Path | None, Callable[[], str]]] = [
        (json_path, lambda: json.dumps(report.to_dict(), indent=2, default=str)),
        (junit_path, lambda: to_junit(report)),
        (markdown_path, lambda: to_markdown(report)),
    ]
    for path, text in writers:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text())
