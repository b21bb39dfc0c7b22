"""``mlship check``: data validation (with ``--data``) and model sanity, as one stored report."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlship.checks.results import Report
from mlship.checks.sanity import SanityConfig, run_sanity
from mlship.store import utcnow

if TYPE_CHECKING:
    import pandas as pd

    from mlship.checks.validation_config import ValidationConfig
    from mlship.registry import Registry


@dataclass(frozen=True, slots=True)
class CheckRun:
    """What ``run_check`` needs: the version, optional data and schema, and the settings."""

    ref: str
    data: pd.DataFrame | None = None
    schema: Path | None = None
    validation: ValidationConfig | None = None
    sanity: SanityConfig | None = None
    sanity_only: bool = False


def run_check(registry: Registry, run: CheckRun, *, record: bool = True) -> Report:
    """Validate ``run.data`` against the version's profile (or a schema file), then run the
    model sanity checks on that data (or on a sample drawn from the profile).

    The report is stored on the version unless ``record`` is False.
    """
    from mlship.checks.expectations import expectations_for_version, load_schema
    from mlship.checks.validation import validate_frame
    from mlship.registry.profile import fingerprint_frame

    started, clock = utcnow(), time.perf_counter()
    version = registry.get(run.ref)
    results = []
    sanity_data = None
    if run.data is not None and not run.sanity_only:
        expectations = load_schema(run.schema) if run.schema else expectations_for_version(version)
        results += validate_frame(run.data, expectations, run.validation)
    if run.data is not None and version.signature is not None:
        needed = version.signature.feature_names
        if all(name in run.data.columns for name in needed):
            sanity_data = run.data[needed]
    results += run_sanity(registry, version.ref, data=sanity_data, config=run.sanity).results
    report = Report(
        kind="check",
        subject=version.ref,
        results=tuple(results),
        started_at=started,
        duration_s=time.perf_counter() - clock,
        data_fingerprint=fingerprint_frame(run.data) if run.data is not None else None,
        summary={
            "rows": len(run.data) if run.data is not None else None,
            "sanity_sample": "data" if sanity_data is not None else "profile",
        },
    )
    if record:
        registry.record_check_run(
            version.ref,
            kind="check",
            passed=report.passed,
            report=report.to_dict(),
            data_fingerprint=report.data_fingerprint,
        )
    return report
