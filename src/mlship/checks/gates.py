"""Model gates (CI layer 4): is the candidate at least as good as the baseline, overall, on every
slice, within latency and memory budgets, and is that difference more than noise?"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from mlship.checks.results import CheckResult, Report, Severity, outcome
from mlship.errors import ConfigError, InvalidInput
from mlship.store import utcnow

if TYPE_CHECKING:
    import pandas as pd

    from mlship.checks.bootstrap import BootstrapResult
    from mlship.checks.metrics import Metric, Predictions
    from mlship.registry import LoadedModel, Registry


@dataclass(frozen=True, slots=True)
class GateConfig:
    """The gates to apply; every field is also a key of ``[gates]`` in mlship.toml."""

    metric: str | None = None
    """Metric name (``mlship gate --help`` lists them) or ``module:function``; default f1 for
    classifiers, rmse for regressors."""
    tolerance: float = 0.01
    """How much worse than the baseline the candidate may be."""
    relative: bool = False
    """Tolerance as a fraction of the baseline's value instead of an absolute amount."""
    greater_is_better: bool = True
    """Direction of a user metric (``module:function``); built-ins know their own."""
    metric_needs_proba: bool = False
    """Call a user metric with the probabilities instead of the predicted labels."""
    slices: tuple[str, ...] = ()
    min_slice_rows: int = 100
    max_latency_ms: float | None = None
    """Budget for p95 latency of a single-row prediction."""
    max_memory_mb: float | None = None
    """Budget for peak RSS of load + predict."""
    confidence: float = 0.95
    resamples: int = 1000
    require_significance: bool = False
    """Fail unless the bootstrap's lower bound of the gain is above -tolerance (non-inferiority);
    otherwise an interval that does not show it is a warning."""
    min_metric: float | None = None
    """An absolute floor (a ceiling for lower-is-better metrics), with or without a baseline."""
    seed: int = 0

    def __post_init__(self) -> None:
        if not (isinstance(self.tolerance, int | float) and self.tolerance >= 0):
            raise ConfigError(
                f"The 'tolerance' option must be a number >= 0. Got {self.tolerance!r} instead."
            )
        if not 0.5 <= self.confidence < 1:
            raise ConfigError(
                f"The 'confidence' option must be in [0.5, 1). Got {self.confidence!r} instead."
            )
        if not (isinstance(self.resamples, int) and self.resamples >= 100):
            raise ConfigError(
                f"The 'resamples' option must be an integer >= 100. Got {self.resamples!r} instead."
            )
        if not (isinstance(self.min_slice_rows, int) and self.min_slice_rows >= 1):
            raise ConfigError(
                f"The 'min_slice_rows' option must be an integer >= 1. Got "
                f"{self.min_slice_rows!r} instead."
            )
        for name in ("max_latency_ms", "max_memory_mb"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and value > 0):
                raise ConfigError(
                    f"The {name!r} option must be a number > 0. Got {value!r} instead."
                )

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> GateConfig:
        """Build from a ``[gates]`` table or CLI flags; unknown keys are named."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"Unknown gate option(s): {', '.join(unknown)}. Valid: {', '.join(sorted(known))}."
            )
        clean = dict(values)
        if "slices" in clean:
            slices = clean["slices"]
            clean["slices"] = (slices,) if isinstance(slices, str) else tuple(slices)
        return cls(**clean)


@dataclass(frozen=True, slots=True)
class GateRun:
    """Everything ``run_gates`` needs: what to compare, on which rows."""

    candidate: str
    baseline: str | None
    data: pd.DataFrame
    label: str
    config: GateConfig = field(default_factory=GateConfig)


def run_gates(registry: Registry, run: GateRun, *, record: bool = True) -> Report:
    """Score candidate and baseline on the same rows and apply every configured gate.

    The report is stored on the candidate version (``blessed`` = it passed) unless ``record`` is
    False. Bad input (no label column, unknown slice column, unseen label values, a baseline with
    another signature) raises :class:`~mlship.errors.InvalidInput`.
    """
    from mlship.checks.metrics import get_metric
    from mlship.registry.profile import fingerprint_frame

    started, clock = utcnow(), time.perf_counter()
    config = run.config
    candidate_version = registry.get(run.candidate)
    candidate = registry.load(candidate_version.ref)
    baseline = None
    if run.baseline is not None:
        baseline_version = registry.get(run.baseline)
        if baseline_version.ref == candidate_version.ref:
            raise InvalidInput(
                f"The candidate and the baseline are the same version "
                f"({candidate_version.ref}); compare against another one."
            )
        baseline = registry.load(baseline_version.ref)
        _check_compatible(candidate, baseline)
    _check_data(run, candidate)
    metric = get_metric(
        _metric_name(config, candidate),
        greater_is_better=config.greater_is_better,
        needs_proba=config.metric_needs_proba,
    )
    y_true = run.data[run.label].to_numpy()
    features = run.data.drop(columns=[run.label])
    cand_pred = _predict(candidate, features)
    base_pred = _predict(baseline, features) if baseline is not None else None

    results: list[CheckResult] = []
    summary: dict[str, Any] = {
        "metric": metric.name,
        "rows": len(y_true),
        "greater_is_better": metric.greater_is_better,
    }
    cand_value = metric.score(y_true, cand_pred)
    summary["candidate"] = cand_value
    if config.min_metric is not None:
        results.append(_floor(metric, cand_value, config.min_metric))
    if base_pred is not None and baseline is not None:
        base_value = metric.score(y_true, base_pred)
        summary.update(baseline=base_value, difference=cand_value - base_value)
        results.append(
            _compare(
                metric,
                "performance",
                f"gate:{metric.name}",
                cand_value,
                base_value,
                config,
                len(y_true),
            )
        )
        boot = _bootstrap(metric, y_true, cand_pred, base_pred, config)
        summary.update(
            low=boot.low, high=boot.high, confidence=boot.confidence, resamples=boot.resamples
        )
        results.append(_significance(metric, boot, config))
        for column in config.slices:
            results += _slice_results(metric, run, column, y_true, cand_pred, base_pred, config)
    elif config.min_metric is None:
        results.append(
            CheckResult(
                f"gate:{metric.name}",
                "performance",
                "skip",
                f"No baseline, no --min-metric: {metric.name} = {cand_value:.4f} (reported only).",
                figures={"candidate": cand_value},
            )
        )
    results += _budgets(registry, candidate_version.ref, config)
    report = Report(
        kind="gate",
        subject=candidate_version.ref,
        baseline=baseline.version.ref if baseline is not None else None,
        results=tuple(results),
        started_at=started,
        duration_s=time.perf_counter() - clock,
        data_fingerprint=fingerprint_frame(run.data),
        summary=summary,
    )
    if record:
        registry.record_check_run(
            candidate_version.ref,
            kind="gate",
            passed=report.passed,
            report=report.to_dict(),
            baseline=report.baseline,
            data_fingerprint=report.data_fingerprint,
        )
    return report


def _metric_name(config: GateConfig, model: LoadedModel) -> str:
    if config.metric:
        return config.metric
    sig = model.signature
    return "rmse" if sig is not None and sig.output_kind == "regression" else "f1"


def _check_compatible(candidate: LoadedModel, baseline: LoadedModel) -> None:
    a, b = candidate.signature, baseline.signature
    if a is None or b is None:
        return
    missing = [f for f in a.feature_names if f not in b.feature_names]
    if a.output_kind != b.output_kind or (
        a.classes is not None
        and b.classes is not None
        and set(map(str, a.classes)) != set(map(str, b.classes))
    ):
        raise InvalidInput(
            f"The baseline {baseline.version.ref} predicts {b.output_kind} "
            f"{list(b.classes or [])}, the candidate {candidate.version.ref} {a.output_kind} "
            f"{list(a.classes or [])}: they cannot be compared. Choose a baseline of the same "
            "task."
        )
    if missing and len(missing) == len(a.feature_names):
        raise InvalidInput(
            f"The baseline {baseline.version.ref} shares no feature with "
            f"{candidate.version.ref}; it is another model's signature."
        )


def _check_data(run: GateRun, model: LoadedModel) -> None:
    data = run.data
    if run.label not in data.columns:
        raise InvalidInput(
            f"The holdout has no label column {run.label!r}. Its columns are: "
            f"{', '.join(map(str, data.columns[:20]))}. Pass --label with the right name."
        )
    if len(data) == 0:
        raise InvalidInput("The holdout has no rows.")
    if data[run.label].isna().any():
        raise InvalidInput(
            f"The label column {run.label!r} has {int(data[run.label].isna().sum())}"
            " missing value(s); drop those rows first."
        )
    missing = [c for c in run.config.slices if c not in data.columns]
    if missing:
        raise InvalidInput(
            f"Slice column(s) not in the holdout: {', '.join(missing)}. Its columns are: "
            f"{', '.join(map(str, data.columns[:20]))}."
        )
    sig = model.signature
    if sig is not None and sig.classes is not None:
        known = {str(c) for c in sig.classes}
        unseen = sorted({str(v) for v in data[run.label].unique()} - known)
        if unseen:
            raise InvalidInput(
                f"The label column {run.label!r} has value(s) the model never saw: "
                f"{', '.join(unseen[:10])}. The model's classes are {sorted(known)}."
            )


def _predict(model: LoadedModel, features: pd.DataFrame) -> Predictions:
    from mlship.checks.metrics import Predictions

    labels = np.asarray(model.predict(features))
    proba = np.asarray(model.predict_proba(features)) if model.has_proba else None
    classes = model.signature.classes if model.signature is not None else None
    return Predictions(labels=labels, proba=proba, classes=classes)


def _gain(metric: Metric, candidate: float, baseline: float) -> float:
    """How much better the candidate is, in the metric's own direction."""
    return candidate - baseline if metric.greater_is_better else baseline - candidate


def _allowed_loss(config: GateConfig, baseline: float) -> float:
    return config.tolerance * abs(baseline) if config.relative else config.tolerance


def _compare(
    metric: Metric,
    category: str,
    name: str,
    cand: float,
    base: float,
    config: GateConfig,
    rows: int,
    where: str = "",
) -> CheckResult:
    gain = _gain(metric, cand, base)
    allowed = _allowed_loss(config, base)
    ok = gain >= -allowed
    word = "better" if gain > 0 else "worse" if gain < 0 else "equal"
    message = (
        f"{metric.name}{where}: candidate {cand:.4f} vs baseline {base:.4f} "
        f"({word} by {abs(gain):.4f}; allowed loss {allowed:.4f})."
    )
    return CheckResult(
        name,
        category,
        outcome(ok, "error"),
        message,
        figures={
            "candidate": cand,
            "baseline": base,
            "gain": gain,
            "allowed_loss": allowed,
            "rows": rows,
        },
    )


def _floor(metric: Metric, value: float, floor: float) -> CheckResult:
    ok = value >= floor if metric.greater_is_better else value <= floor
    bound = "at least" if metric.greater_is_better else "at most"
    return CheckResult(
        f"gate:{metric.name}:min",
        "performance",
        outcome(ok, "error"),
        f"{metric.name} = {value:.4f}; required {bound} {floor}.",
        figures={"candidate": value, "threshold": floor},
    )


def _bootstrap(
    metric: Metric, y_true: np.ndarray, cand: Predictions, base: Predictions, config: GateConfig
) -> BootstrapResult:
    from mlship.checks.bootstrap import paired_bootstrap

    return paired_bootstrap(
        metric,
        y_true,
        cand,
        base,
        resamples=config.resamples,
        confidence=config.confidence,
        seed=config.seed,
    )


def _significance(metric: Metric, boot: BootstrapResult, config: GateConfig) -> CheckResult:
    # The interval is of candidate - baseline; turn it into an interval of the gain.
    low, high = (boot.low, boot.high) if metric.greater_is_better else (-boot.high, -boot.low)
    allowed = _allowed_loss(config, boot.baseline)
    ok = low > -allowed
    severity: Severity = "error" if config.require_significance else "warning"
    pct = round(config.confidence * 100)
    if ok and low > 0:
        verdict = "the candidate is better beyond noise"
    elif ok:
        verdict = "the candidate is not worse by more than the tolerance (non-inferior)"
    elif high < -allowed:
        verdict = "the candidate is worse beyond noise"
    else:
        verdict = "the data cannot tell the candidate from the baseline within the tolerance"
    return CheckResult(
        f"gate:{metric.name}:bootstrap",
        "statistical",
        outcome(ok, severity),
        f"Gain in {metric.name} {boot.candidate - boot.baseline:+.4f}, {pct}% interval "
        f"[{boot.low:+.4f}, {boot.high:+.4f}] over {boot.resamples} paired resamples: {verdict}.",
        severity=severity,
        figures={
            "difference": boot.candidate - boot.baseline,
            "low": boot.low,
            "high": boot.high,
            "confidence": config.confidence,
            "resamples": boot.resamples,
            "allowed_loss": allowed,
        },
    )


def _slice_results(
    metric: Metric,
    run: GateRun,
    column: str,
    y_true: np.ndarray,
    cand: Predictions,
    base: Predictions,
    config: GateConfig,
) -> list[CheckResult]:
    from mlship.checks.metrics import Predictions

    values = run.data[column].astype("object").where(run.data[column].notna(), "<missing>")
    results = []
    for value, count in values.value_counts().sort_index().items():
        name = f"gate:{metric.name}:slice:{column}={value}"
        if count < config.min_slice_rows:
            results.append(
                CheckResult(
                    name,
                    "slice",
                    "skip",
                    f"{column}={value}: {count} rows, fewer than "
                    f"{config.min_slice_rows}; not gated.",
                )
            )
            continue
        mask = (values == value).to_numpy()

        def subset(p: Predictions, m: np.ndarray = mask) -> Predictions:
            return Predictions(
                labels=p.labels[m], proba=None if p.proba is None else p.proba[m], classes=p.classes
            )

        try:
            c = metric.score(y_true[mask], subset(cand))
            b = metric.score(y_true[mask], subset(base))
        except InvalidInput as exc:
            results.append(CheckResult(name, "slice", "skip", f"{column}={value}: {exc}"))
            continue
        results.append(
            _compare(metric, "slice", name, c, b, config, int(count), where=f" on {column}={value}")
        )
    return results


def _budgets(registry: Registry, ref: str, config: GateConfig) -> list[CheckResult]:
    if config.max_latency_ms is None and config.max_memory_mb is None:
        return []
    from mlship.checks.sanity import SanityConfig, run_sanity

    outcome_ = run_sanity(
        registry, ref, config=SanityConfig(measure_memory=config.max_memory_mb is not None)
    )
    results = []
    if config.max_latency_ms is not None:
        p95 = outcome_.single_row.p95 if outcome_.single_row else None
        ok = p95 is not None and p95 <= config.max_latency_ms
        results.append(
            CheckResult(
                "gate:latency",
                "latency",
                outcome(ok, "error"),
                f"Single-row p95 latency {p95:.2f} ms; budget {config.max_latency_ms} ms."
                if p95 is not None
                else "Latency could not be measured (the model did not predict).",
                figures={"p95_ms": p95, "max_latency_ms": config.max_latency_ms},
            )
        )
    if config.max_memory_mb is not None:
        peak = outcome_.peak_rss_mb
        ok = peak is not None and peak <= config.max_memory_mb
        results.append(
            CheckResult(
                "gate:memory",
                "memory",
                outcome(ok, "error"),
                f"Peak RSS {peak:.0f} MB; budget {config.max_memory_mb} MB."
                if peak is not None
                else "Memory could not be measured.",
                figures={"peak_rss_mb": peak, "max_memory_mb": config.max_memory_mb},
            )
        )
    return results
