"""CI for ML: data validation, model sanity and model gates, with JUnit/JSON/Markdown reports."""

from __future__ import annotations

from mlship.checks.bootstrap import BootstrapResult, paired_bootstrap, resample_indices
from mlship.checks.check_run import CheckRun, run_check
from mlship.checks.expectations import (
    ColumnExpectation,
    Expectations,
    expectations_for_version,
    expectations_from_profile,
    expectations_from_schema,
    load_schema,
)
from mlship.checks.gates import GateConfig, GateRun, run_gates
from mlship.checks.metrics import Metric, Predictions, Scorer, builtin_metrics, get_metric
from mlship.checks.report_writers import to_junit, to_markdown, write_reports
from mlship.checks.results import CheckResult, Report
from mlship.checks.sanity import SanityConfig, run_sanity
from mlship.checks.validation import validate_frame
from mlship.checks.validation_config import ValidationConfig

__all__ = [
    "BootstrapResult",
    "CheckResult",
    "CheckRun",
    "ColumnExpectation",
    "Expectations",
    "GateConfig",
    "GateRun",
    "Metric",
    "Predictions",
    "Report",
    "SanityConfig",
    "Scorer",
    "ValidationConfig",
    "builtin_metrics",
    "expectations_for_version",
    "expectations_from_profile",
    "expectations_from_schema",
    "get_metric",
    "load_schema",
    "paired_bootstrap",
    "resample_indices",
    "run_check",
    "run_gates",
    "run_sanity",
    "to_junit",
    "to_markdown",
    "validate_frame",
    "write_reports",
]
