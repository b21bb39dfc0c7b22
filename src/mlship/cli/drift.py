"""``mlship drift``: data and prediction drift of a model's prediction log, or of one file
against another.

``mlship drift fraud --window 24h`` compares what the server logged for ``fraud`` over the last
24 hours with the training profile stored with the serving version (or ``--reference FILE``);
``mlship drift --reference ref.parquet --current cur.parquet`` compares two files.

Exit codes: 0 whether or not drift was found; 1 with ``--fail-on-drift`` when the dataset or
the predictions drift; 2 for usage and data errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from mlship.cli.output import out, print_json

if TYPE_CHECKING:
    import pandas as pd

    from mlship.monitoring import DriftOptions, DriftReport, Reference
    from mlship.monitoring.statistics import FloatArray

_DEFAULT_WINDOW = "24h"


@dataclass
class _Run:
    """One comparison: the report and what the HTML page draws from."""

    report: DriftReport
    reference: Reference
    current: pd.DataFrame
    columns: list[str]
    prediction: str | None
    subject: str
    subtitle: str
    source: dict[str, Any]
    times: FloatArray | None = None
    notes: list[str] = field(default_factory=list)


def drift(
    ref: Annotated[
        str | None,
        typer.Argument(
            help="NAME (what users were answered with, against the serving version's training "
            "profile) or NAME@VERSION / NAME@ALIAS (that version's predictions).",
            metavar="NAME[@REF]",
            show_default=False,
        ),
    ] = None,
    window: Annotated[
        str | None,
        typer.Option("--window", help="How much of the log: 30m, 24h, 7d (default 24h)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Start of the window (ISO time); with --window, its length."),
    ] = None,
    reference: Annotated[
        Path | None,
        typer.Option("--reference", help="Reference data (CSV or Parquet) instead of the profile."),
    ] = None,
    current: Annotated[
        Path | None,
        typer.Option("--current", help="Current data (CSV or Parquet), compared with --reference."),
    ] = None,
    features: Annotated[
        str | None, typer.Option("--features", help="Only these features, e.g. amount,country.")
    ] = None,
    tests: Annotated[
        list[str] | None,
        typer.Option(
            "--test", help="FEATURE=TEST or TEST for all: ks, wasserstein, psi, js, chi2, z."
        ),
    ] = None,
    thresholds: Annotated[
        list[str] | None,
        typer.Option("--threshold", help="Smallest effect that counts: FEATURE=0.2 or 0.2."),
    ] = None,
    kinds: Annotated[
        list[str] | None,
        typer.Option("--kind", help="FEATURE=categorical or FEATURE=numeric."),
    ] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = 0.05,
    missing_threshold: Annotated[
        float,
        typer.Option(
            "--missing-threshold",
            help="A rise of a feature's missing share that counts (0.05: five points).",
        ),
    ] = 0.05,
    new_category_threshold: Annotated[
        float,
        typer.Option(
            "--new-category-threshold",
            help="A share of values in categories the reference never saw that counts.",
        ),
    ] = 0.01,
    rule: Annotated[
        str, typer.Option("--rule", help="Dataset verdict: bh (Benjamini-Hochberg) or share.")
    ] = "bh",
    prediction: Annotated[
        str,
        typer.Option("--prediction", help="Column of the model's outputs (prediction drift)."),
    ] = "prediction",
    time_column: Annotated[
        str | None,
        typer.Option("--time-column", help="Files: the time column, for drift over time."),
    ] = None,
    slices: Annotated[
        int, typer.Option("--slices", help="HTML: time slices of the window to judge.")
    ] = 8,
    max_requests: Annotated[
        int, typer.Option("--max-requests", help="Most requests read (the most recent).")
    ] = 100_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write a self-contained HTML report here.")
    ] = None,
    fail_on_drift: Annotated[
        bool,
        typer.Option("--fail-on-drift", help="Exit 1 when the dataset or the predictions drift."),
    ] = False,
) -> None:
    """Data and prediction drift: a model's prediction log against its training profile, or
    one file against another. Exits 0 whether or not drift was found (1 with
    --fail-on-drift)."""
    from rich.markup import escape

    from mlship.cli.render_drift import print_drift, write_html
    from mlship.errors import CheckFailed, ConfigError

    options = _options(
        alpha,
        rule,
        tests or [],
        thresholds or [],
        kinds or [],
        missing_threshold=missing_threshold,
        new_category_threshold=new_category_threshold,
    )
    wanted = [f.strip() for f in features.split(",") if f.strip()] if features else None
    if ref is None:
        if reference is None or current is None:
            raise ConfigError(
                "Pass a model (mlship drift fraud --window 24h) or two files "
                "(mlship drift --reference ref.parquet --current cur.parquet)."
            )
        if window is not None or since is not None:
            raise ConfigError("The 'window' and 'since' options apply to a model's log only.")
    else:
        if current is not None:
            raise ConfigError(
                "With a model the current data is its prediction log: drop --current, or drop "
                f"{ref} to compare two files."
            )
        if time_column is not None:
            raise ConfigError("The 'time_column' option applies to --current files only.")
    with _spinner("Measuring drift", quiet=as_json):
        if ref is None:
            assert reference is not None and current is not None
            run = _files(reference, current, options, wanted, prediction, time_column)
        else:
            run = _log(ref, window, since, reference, options, wanted, prediction, max_requests)
        if html is not None:
            write_html(
                html,
                run.report,
                run.reference,
                run.current,
                options,
                columns=run.columns,
                prediction=run.prediction,
                times=run.times,
                slices=slices,
                title=f"Drift report: {run.subject}",
                subtitle=" ".join([run.subtitle + ".", *run.notes]),
            )
    if as_json:
        print_json({**run.report.to_dict(), "source": run.source})
    else:
        print_drift(run.report, run.subtitle, run.notes, out())
        if html is not None:
            out().print(f"Wrote {escape(str(html))}")
    report = run.report
    if fail_on_drift and (report.dataset_drift or report.prediction_drift):
        drifted = [f.name for f in report.features.values() if f.drift]
        parts = [f"the dataset ({', '.join(drifted)})"] if report.dataset_drift else []
        if report.prediction_drift:
            parts.append("the predictions")
        raise CheckFailed(f"drift found in {run.subject}: {' and '.join(parts)} drift.")


def _options(
    alpha: float,
    rule: str,
    tests: list[str],
    thresholds: list[str],
    kinds: list[str],
    *,
    missing_threshold: float,
    new_category_threshold: float,
) -> DriftOptions:
    from mlship.errors import ConfigError
    from mlship.monitoring import DriftOptions, FeatureOptions

    per: dict[str, dict[str, Any]] = {}
    every: dict[str, Any] = {}
    for option, values in (("test", tests), ("threshold", thresholds), ("kind", kinds)):
        for item in (v.strip() for value in values for v in value.split(",")):
            name, _, value = item.rpartition("=")
            if option == "threshold":
                try:
                    parsed: Any = float(value)
                except ValueError:
                    raise ConfigError(
                        f"The 'threshold' option must be a number or FEATURE=NUMBER. "
                        f"Got {item!r} instead."
                    ) from None
            else:
                parsed = value.strip()
            if name:
                per.setdefault(name.strip(), {})[option] = parsed
            elif option == "kind":
                raise ConfigError(f"The 'kind' option must be FEATURE=KIND. Got {item!r} instead.")
            else:
                every[option] = parsed
    return DriftOptions(
        alpha=alpha,
        dataset_rule=cast(Any, rule),
        test=every.get("test"),
        threshold=every.get("threshold"),
        features={name: FeatureOptions(**values) for name, values in per.items()},
        missing_threshold=missing_threshold,
        new_category_threshold=new_category_threshold,
    )


def _files(
    reference: Path,
    current: Path,
    options: DriftOptions,
    wanted: list[str] | None,
    prediction: str,
    time_column: str | None,
) -> _Run:
    import numpy as np
    import pandas as pd

    from mlship.errors import InvalidInput
    from mlship.registry.dataio import read_table

    ref_frame, cur_frame = read_table(reference), read_table(current)
    times = None
    if time_column is not None:
        if time_column not in cur_frame.columns:
            raise InvalidInput(f"{current} has no column {time_column!r} (--time-column).")
        stamps = pd.to_datetime(cur_frame[time_column], utc=True, errors="coerce")
        seconds = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        times = np.asarray(seconds.to_numpy(dtype=np.float64, na_value=np.nan), np.float64)
        cur_frame = cur_frame.drop(columns=[time_column])
        ref_frame = ref_frame.drop(columns=[time_column], errors="ignore")
    ref_names = [str(c) for c in ref_frame.columns]
    cur_names = [str(c) for c in cur_frame.columns]
    pred = prediction if prediction in ref_names and prediction in cur_names else None
    columns = wanted or [c for c in cur_names if c in ref_names and c != pred]
    if not columns:
        raise InvalidInput(
            f"{reference} and {current} have no column in common (reference: "
            f"{_names(ref_names)}; current: {_names(cur_names)}). Compare files of the same "
            "features."
        )
    run = _compare(
        ref_frame,
        cur_frame,
        options,
        columns,
        pred,
        subject=current.name,
        subtitle=f"{current} ({len(cur_frame):,} rows) against {reference} "
        f"({len(ref_frame):,} rows)",
    )
    run.source = {
        "model": None,
        "reference_version": None,
        "reference_file": str(reference),
        "current_file": str(current),
        "window": None,
    }
    run.times = times
    only = [c for c in cur_names if c not in ref_names and c != pred]
    if only and wanted is None:
        run.notes.append(f"Only in {current.name}, not compared: {_names(only)}.")
    return run


def _log(
    ref: str,
    window: str | None,
    since: str | None,
    reference: Path | None,
    options: DriftOptions,
    wanted: list[str] | None,
    prediction: str,
    max_requests: int,
) -> _Run:
    from mlship.cli.rollout import parse_duration  # seconds
    from mlship.errors import InvalidInput, NotFound
    from mlship.monitoring.windows import read_window
    from mlship.registry import Registry
    from mlship.registry.dataio import read_table
    from mlship.registry.reference import ModelRef
    from mlship.rollout.deployments import serving_version
    from mlship.store import utcnow

    registry = Registry.from_env()
    parsed = ModelRef.parse(ref)
    pinned = parsed.version is not None or parsed.alias is not None
    version = registry.get(parsed) if pinned else serving_version(registry, parsed.name)
    now = utcnow()
    length = timedelta(seconds=parse_duration(window or _DEFAULT_WINDOW, "window"))
    start = _since(since, now) if since is not None else now - length
    end = start + length if since is not None and window is not None else now
    if since is None:
        span = f"in the last {window or _DEFAULT_WINDOW}"
    else:
        span = f"from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
    subject = version.ref if pinned else parsed.name
    found = read_window(
        registry.store,
        parsed.name,
        start,
        end,
        version=version.version if pinned else None,
        prediction=prediction,
        max_requests=max_requests,
    )
    if found.rows == 0:
        raise NotFound(f"no predictions for {subject} {span}; is the server logging predictions?")
    base: pd.DataFrame | dict[str, Any]
    if reference is not None:
        base = read_table(reference)
        known = [str(c) for c in base.columns]
        against = str(reference)
    else:
        if not version.data_profile:
            raise InvalidInput(
                f"{version.ref} was registered without training data, so there is no profile "
                "to compare with. Pass the training data: --reference train.parquet"
            )
        base = version.data_profile
        known = [str(n) for n in version.data_profile.get("features", {})]
        against = f"the training profile of {version.ref}"
    pred = found.prediction if found.prediction is not None and found.prediction in known else None
    columns = wanted or [c for c in found.features if c in known]
    if not columns:
        raise InvalidInput(
            f"The inputs logged for {subject} ({_names(found.features)}) share no feature with "
            f"{against} ({_names(known)})."
        )
    versions = ", ".join(str(v) for v in found.versions)
    run = _compare(
        base,
        found.frame,
        options,
        columns,
        pred,
        subject=subject,
        subtitle=f"Prediction log of {parsed.name} (version {versions}) "
        f"{span}: {found.requests:,} requests, {found.rows:,} rows; against {against}",
    )
    run.source = {
        "model": parsed.name,
        "reference_version": None if reference is not None else version.version,
        "reference_file": None if reference is None else str(reference),
        "current_file": None,
        "window": found.to_dict(),
    }
    run.times = found.times
    if found.truncated:
        run.notes.append(
            f"Only the {found.requests:,} most recent requests were read (--max-requests)."
        )
    if pred is None:
        why = (
            "the logged outputs are not single values"
            if found.prediction is None
            else f"the reference has no {prediction!r} column; pass --reference with the "
            "model's outputs on it"
        )
        run.notes.append(f"Prediction drift not compared: {why}.")
    return run


def _since(text: str, now: datetime) -> datetime:
    """An ISO 8601 time (naive: UTC) or a duration before ``now`` such as 2h."""
    from mlship.cli.rollout import parse_duration  # seconds
    from mlship.errors import ConfigError
    from mlship.store import as_utc

    try:
        return as_utc(datetime.fromisoformat(text.strip()))
    except ValueError:
        pass
    try:
        return now - timedelta(seconds=parse_duration(text, "since"))
    except (ConfigError, OverflowError):
        raise ConfigError(
            "The 'since' option must be an ISO 8601 time such as 2024-05-01T08:00, or a "
            f"duration such as 2h. Got {text!r} instead."
        ) from None


def _compare(
    base: pd.DataFrame | dict[str, Any],
    current: pd.DataFrame,
    options: DriftOptions,
    columns: list[str],
    prediction: str | None,
    *,
    subject: str,
    subtitle: str,
) -> _Run:
    import pandas as pd

    from mlship.monitoring import Reference, detect_drift

    if isinstance(base, pd.DataFrame):
        wanted = [*columns, prediction] if prediction is not None else columns
        kinds = {n: o.kind for n, o in options.features.items() if o.kind is not None}
        reference = Reference.from_frame(base, columns=wanted, kinds=kinds)
    else:
        reference = Reference.from_profile(base)
    report = detect_drift(reference, current, options, columns=columns, prediction=prediction)
    return _Run(report, reference, current, columns, prediction, subject, subtitle, {})


def _names(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return (shown + (", ..." if len(names) > limit else "")) or "none"


def _spinner(text: str, *, quiet: bool) -> Any:
    import contextlib

    return contextlib.nullcontext() if quiet else out().status(text, spinner="dots")
