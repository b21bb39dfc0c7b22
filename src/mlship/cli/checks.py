"""``mlship check`` and ``mlship gate``: CI layers 2-4 with reports that CI systems read.

Exit codes: 0 pass, 1 a check or gate failed, 2 usage or data error.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlship.cli.output import out, print_json

if TYPE_CHECKING:
    from mlship.checks.results import Report

METRIC_NAMES = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier",
    "rmse",
    "mae",
    "r2",
)
"""Built-in metrics, for the help text (a test checks it matches mlship.checks.metrics)."""

JsonOption = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]
JunitOption = Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here.")]
MarkdownOption = Annotated[
    Path | None, typer.Option("--markdown", help="Write a Markdown summary here.")
]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="mlship.toml to read (default ./mlship.toml).")
]
RecordOption = Annotated[
    bool, typer.Option("--record/--no-record", help="Store the verdict on the version.")
]


def _finish(report: Report, as_json: bool, junit: Path | None, markdown: Path | None) -> None:
    from mlship.checks.report_writers import write_reports
    from mlship.cli.render_report import print_report
    from mlship.errors import CheckFailed, GateFailed

    write_reports(report, junit_path=junit, markdown_path=markdown)
    if as_json:
        print_json(report.to_dict())
    else:
        print_report(report, out())
    if not report.passed:
        failed = [r.name for r in report.results if r.failed]
        error = GateFailed if report.kind == "gate" else CheckFailed
        shown = ", ".join(failed[:5]) + (" ..." if len(failed) > 5 else "")
        raise error(
            f"{report.kind} failed for {report.subject}: {len(failed)} failing check(s): {shown}."
        )


def _set(values: dict[str, Any], **flags: Any) -> dict[str, Any]:
    """Config-file values overridden by the flags the user gave (None = not given)."""
    merged = dict(values)
    merged.update({k: v for k, v in flags.items() if v is not None})
    return merged


def check(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION or NAME@ALIAS.")],
    data: Annotated[
        Path | None, typer.Option("--data", help="Data to validate (CSV or Parquet).")
    ] = None,
    schema: Annotated[
        Path | None, typer.Option("--schema", help="JSON schema instead of the stored profile.")
    ] = None,
    max_missing_rate: Annotated[float | None, typer.Option("--max-missing-rate")] = None,
    range_margin: Annotated[
        float | None, typer.Option("--range-margin", help="Share of the training range.")
    ] = None,
    min_rows: Annotated[int | None, typer.Option("--min-rows")] = None,
    extra_columns: Annotated[
        str | None, typer.Option("--extra-columns", help="warn, error or ignore.")
    ] = None,
    memory: Annotated[
        bool, typer.Option("--memory/--no-memory", help="Measure peak memory (child process).")
    ] = True,
    config: ConfigOption = None,
    record: RecordOption = True,
    as_json: JsonOption = False,
    junit: JunitOption = None,
    markdown: MarkdownOption = None,
) -> None:
    """Validate data against the version's training profile and run the model sanity checks."""
    from mlship.checks.check_run import CheckRun, run_check
    from mlship.checks.sanity import SanityConfig
    from mlship.checks.validation_config import ValidationConfig
    from mlship.config import config_table, read_project_config
    from mlship.registry import Registry
    from mlship.registry.dataio import read_table

    table = config_table(read_project_config(config), "checks")
    table.pop("code", None)  # the project's own test command: run by `mlship run`, not here
    validation = ValidationConfig.from_dict(
        _set(
            table,
            max_missing_rate=max_missing_rate,
            range_margin=range_margin,
            min_rows=min_rows,
            extra_columns=extra_columns,
        )
    )
    registry = Registry.from_env()
    frame = read_table(data) if data is not None else None
    with _spinner(f"Checking {ref}", quiet=as_json):
        report = run_check(
            registry,
            CheckRun(
                ref=ref,
                data=frame,
                schema=schema,
                validation=validation,
                sanity=SanityConfig(measure_memory=memory),
            ),
            record=record,
        )
    _finish(report, as_json, junit, markdown)


def gate(
    ref: Annotated[str, typer.Argument(help="The candidate: NAME@VERSION or NAME@ALIAS.")],
    data: Annotated[Path, typer.Option("--data", help="Holdout data (CSV or Parquet).")],
    against: Annotated[
        str | None, typer.Option("--against", help="Baseline, e.g. fraud@production.")
    ] = None,
    label: Annotated[
        str | None, typer.Option("--label", help="Label column (default: the registered one).")
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option("--metric", help=f"{', '.join(METRIC_NAMES)} or module:function."),
    ] = None,
    tolerance: Annotated[float | None, typer.Option("--tolerance")] = None,
    relative: Annotated[
        bool | None, typer.Option("--relative/--absolute", help="Tolerance as a fraction.")
    ] = None,
    lower_is_better: Annotated[
        bool | None, typer.Option("--lower-is-better", help="For a module:function metric.")
    ] = None,
    slices: Annotated[
        list[str] | None, typer.Option("--slice", help="Gate every value of this column.")
    ] = None,
    min_slice_rows: Annotated[int | None, typer.Option("--min-slice-rows")] = None,
    max_latency_ms: Annotated[float | None, typer.Option("--max-latency-ms")] = None,
    max_memory_mb: Annotated[float | None, typer.Option("--max-memory-mb")] = None,
    confidence: Annotated[float | None, typer.Option("--confidence")] = None,
    resamples: Annotated[int | None, typer.Option("--resamples")] = None,
    require_significance: Annotated[
        bool | None,
        typer.Option("--require-significance", help="Fail unless non-inferiority is shown."),
    ] = None,
    min_metric: Annotated[
        float | None, typer.Option("--min-metric", help="Absolute floor for the metric.")
    ] = None,
    config: ConfigOption = None,
    record: RecordOption = True,
    as_json: JsonOption = False,
    junit: JunitOption = None,
    markdown: MarkdownOption = None,
) -> None:
    """Compare a candidate with a baseline on the same holdout: metric, bootstrap interval,
    slices, latency and memory. The verdict is stored on the candidate (blessed = passed)."""
    from mlship.checks.gates import GateConfig, GateRun, run_gates
    from mlship.config import config_table, read_project_config
    from mlship.errors import InvalidInput
    from mlship.registry import Registry
    from mlship.registry.dataio import read_table

    table = config_table(read_project_config(config), "gates")
    gate_config = GateConfig.from_mapping(
        _set(
            table,
            metric=metric,
            tolerance=tolerance,
            relative=relative,
            greater_is_better=None if lower_is_better is None else not lower_is_better,
            slices=tuple(slices) if slices else None,
            min_slice_rows=min_slice_rows,
            max_latency_ms=max_latency_ms,
            max_memory_mb=max_memory_mb,
            confidence=confidence,
            resamples=resamples,
            require_significance=require_significance,
            min_metric=min_metric,
        )
    )
    registry = Registry.from_env()
    candidate = registry.get(ref)
    label = label or candidate.label
    if label is None:
        raise InvalidInput(f"{candidate.ref} was registered without a label; pass --label COLUMN.")
    frame = read_table(data)
    with _spinner(f"Gating {ref}", quiet=as_json):
        report = run_gates(
            registry,
            GateRun(
                candidate=candidate.ref,
                baseline=against,
                data=frame,
                label=label,
                config=gate_config,
            ),
            record=record,
        )
    _finish(report, as_json, junit, markdown)


def _spinner(text: str, *, quiet: bool) -> AbstractContextManager[object]:
    """A Rich spinner while checks run; nothing when the output is JSON for a script."""
    return contextlib.nullcontext() if quiet else out().status(text, spinner="dots")
