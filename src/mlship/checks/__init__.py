"""CI for ML: data validation, model sanity and model gates, with JUnit/JSON/Markdown reports."""

from __future__ import annotations

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
from mlship.checks.report_writers import to_junit, to_markdown, write_reports
from mlship.checks.results import CheckResult, Report
from mlship.checks.sanity import SanityConfig, run_sanity
from mlship.checks.validation import validate_frame
from mlship.checks.validation_config import ValidationConfig

__all__ = [
    "CheckResult",
    "CheckRun",
    "ColumnExpectation",
    "Expectations",
    "GateConfig",
    "GateRun",
    "Report",
    "SanityConfig",
    "ValidationConfig",
    "expectations_for_version",
    "expectations_from_profile",
    "expectations_from_schema",
    "load_schema",
    "run_check",
    "run_gates",
    "run_sanity",
    "to_junit",
    "to_markdown",
    "validate_frame",
    "write_reports",
]
