"""``mlship reproduce NAME@V``: train a version registered by ``mlship run`` again and say whether
the result is the same model.

1. The data: each recorded file (training, holdout) must have the fingerprint it had; else it
   refuses, naming the file and both fingerprints (nothing is trained).
2. The environment: a different Python, package version or project commit is a warning.
3. Training runs as recorded (the same command or entry point, in the project folder, into a
   temporary folder: nothing is registered). The recipe comes from the database, so
   :func:`plan_reproduction` reads it first and :meth:`ReproductionPlan.describe` says what would
   run: ``mlship reproduce`` shows it and asks before :func:`run_reproduction` runs it.
4. The new model and the registered one predict the holdout; the verdict is ``identical``
   (every prediction and metric equal), ``within_tolerance`` (the same labels, scores and
   metrics within ``tolerance``) or ``different``.
"""

from __future__ import annotations

import platform
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlship.errors import CheckFailed, Conflict, InvalidInput
from mlship.pipeline.config import training_settings
from mlship.pipeline.provenance import Provenance
from mlship.pipeline.training import train

if TYPE_CHECKING:
    import pandas as pd

    from mlship.pipeline.config import ModelSettings, TrainSettings
    from mlship.registry import LoadedModel, ModelVersion, Registry

Verdict = Literal["identical", "within_tolerance", "different"]


@dataclass(frozen=True, slots=True)
class Reproduction:
    """The registered model against the one trained again, on the recorded holdout."""

    ref: str
    verdict: Verdict
    rows: int
    tolerance: float
    label_mismatches: int
    """Holdout rows whose predicted label (or value) differs."""
    max_abs_diff: float
    """Largest difference of a probability (classifiers) or a predicted value (regressors)."""
    metrics: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    """Holdout metric: (registered model, new model)."""
    reported: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    """Metrics the training itself reported: (at registration, now)."""
    warnings: tuple[str, ...] = ()

    def message(self) -> str:
        """The verdict, said plainly, with the figures behind it."""
        shown = ", ".join(f"{k} {a:.4f} → {b:.4f}" for k, (a, b) in self.metrics.items())
        rows = f"{self.rows:,} holdout rows"
        if self.verdict == "identical":
            same = ", ".join(f"{k} {a:.4f}" for k, (a, _) in self.metrics.items())
            return (
                f"{self.ref} reproduced: identical. The new model's predictions on the {rows} "
                f"equal the registered model's, and so do the metrics ({same or 'none'})."
            )
        if self.verdict == "within_tolerance":
            return (
                f"{self.ref} reproduced: within tolerance (max |Δ| {self.max_abs_diff:.3g} <= "
                f"{self.tolerance:g}). The same predictions on all {rows}; {shown}."
            )
        changed = [f"{k} {_fmt(a)} → {_fmt(b)}" for k, (a, b) in self.reported.items() if a != b]
        reported = f" The training reported {', '.join(changed)}." if changed else ""
        return (
            f"{self.ref} was not reproduced: the new model is different. "
            f"{self.label_mismatches:,} of {rows} predictions differ, max |Δ| "
            f"{self.max_abs_diff:.3g} (tolerance {self.tolerance:g}); {shown}.{reported}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "verdict": self.verdict,
            "rows": self.rows,
            "tolerance": self.tolerance,
            "label_mismatches": self.label_mismatches,
            "max_abs_diff": self.max_abs_diff,
            "metrics": {k: list(v) for k, v in self.metrics.items()},
            "reported_metrics": {k: list(v) for k, v in self.reported.items()},
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True, slots=True)
class ReproductionPlan:
    """A version's recorded training, read once, with its data checked: what would run."""

    version: ModelVersion
    model: ModelSettings
    settings: TrainSettings
    project_dir: Path
    frames: Mapping[str, pd.DataFrame]
    """``train`` and ``holdout``, as read (their fingerprints match the recorded ones)."""
    warnings: tuple[str, ...] = ()
    """How the environment differs from the one at registration."""

    def describe(self) -> str:
        """The training about to run, in one sentence. It comes from the database: control
        characters are shown escaped, so a recorded command cannot hide itself on a terminal."""
        if self.settings.entry is not None:
            what = (
                f"the entry point {_printable(self.settings.entry)} "
                f"(imported from {self.project_dir})"
            )
        else:
            what = f"the command `{_printable(self.settings.command or '')}` in {self.project_dir}"
        return f"Reproducing {self.version.ref} runs {what}, as recorded on the version."


def plan_reproduction(registry: Registry, ref: str, *, project_dir: Path) -> ReproductionPlan:
    """Read how ``ref`` was trained and check its data; nothing runs yet.

    Raises :class:`~mlship.errors.ConfigError` when ``ref`` was not registered by ``mlship run``
    and :class:`~mlship.errors.Conflict` when a data file changed.
    """
    from mlship.registry.dataio import read_table
    from mlship.registry.profile import fingerprint_frame

    version = registry.get(ref)
    provenance = Provenance.of(version)
    model, settings = training_settings(provenance.config, f"the mlship.toml of {version.ref}")
    frames: dict[str, pd.DataFrame] = {}
    for key, recorded in provenance.data.items():
        path = project_dir / recorded.path
        frame = read_table(path)
        now = fingerprint_frame(frame)
        if now != recorded.fingerprint:
            raise Conflict(
                f"Refusing to reproduce {version.ref}: the {key} data {recorded.path} is not the "
                f"data it was trained with. Fingerprint at registration {recorded.fingerprint}"
                f" ({recorded.rows:,} rows), now {now} ({len(frame):,} rows). Restore that file "
                "and run again."
            )
        frames[key] = frame
    warnings = _environment_warnings(version, provenance, project_dir)
    return ReproductionPlan(version, model, settings, project_dir, frames, tuple(warnings))


def reproduce(
    registry: Registry,
    ref: str,
    *,
    project_dir: Path,
    tolerance: float = 1e-6,
    environ: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
    record: bool = True,
) -> Reproduction:
    """Train ``ref`` again in ``project_dir`` and compare (see the module docstring), without
    asking: :func:`plan_reproduction` then :func:`run_reproduction`.

    ``warn`` hears each environment difference (the result keeps them too).
    """
    plan = plan_reproduction(registry, ref, project_dir=project_dir)
    for text in plan.warnings:
        if warn is not None:
            warn(text)
    return run_reproduction(registry, plan, tolerance=tolerance, environ=environ, record=record)


def run_reproduction(
    registry: Registry,
    plan: ReproductionPlan,
    *,
    tolerance: float = 1e-6,
    environ: Mapping[str, str] | None = None,
    record: bool = True,
) -> Reproduction:
    """Run the training ``plan`` describes and compare the new model with the registered one.

    Raises :class:`~mlship.errors.CheckFailed` when training fails. The outcome is a
    ``reproduced`` event of the version in the ledger unless ``record`` is False.
    """
    version, model, frames = plan.version, plan.model, plan.frames
    with tempfile.TemporaryDirectory(prefix="mlship-reproduce-") as tmp:
        trained = train(
            model,
            plan.settings,
            plan.project_dir,
            frames["train"],
            Path(tmp) / "train",
            environ=environ,
        )
        if not trained.ok:
            tail = f"\n{trained.tail()}" if trained.output else ""
            raise CheckFailed(f"Training {version.ref} again failed: {trained.problem}{tail}")
        fmt = registry.formats.get(version.format)
        prepared = fmt.prepare(trained.source, Path(tmp) / "prepared", trusted=model.trusted)
        from mlship.registry import LoadedModel

        again = LoadedModel(prepared.model, version)
        result = _compare(
            registry.load(version.ref), again, frames["holdout"], model.label, tolerance
        )
    reported = {
        k: (version.metrics.get(k), trained.metrics.get(k))
        for k in sorted(set(version.metrics) | set(trained.metrics))
    }
    verdict = result.verdict
    if verdict != "different" and any(
        a is None or b is None or abs(a - b) > (0 if verdict == "identical" else tolerance)
        for a, b in reported.values()
    ):
        verdict = "different"
    reproduction = Reproduction(
        ref=version.ref,
        verdict=verdict,
        rows=result.rows,
        tolerance=tolerance,
        label_mismatches=result.label_mismatches,
        max_abs_diff=result.max_abs_diff,
        metrics=result.metrics,
        reported=reported,
        warnings=plan.warnings,
    )
    if record:
        registry.record_event(
            version.name,
            "reproduced",
            version=version.version,
            reason=reproduction.verdict.replace("_", " "),
            details=reproduction.to_dict(),
        )
    return reproduction


def _environment_warnings(
    version: ModelVersion, provenance: Provenance, project_dir: Path
) -> list[str]:
    from mlship.registry.environment import git_commit, package_versions

    found: list[str] = []
    env = version.environment or {}
    python = env.get("python")
    if python and python != platform.python_version():
        found.append(f"Python {python} at registration, {platform.python_version()} now.")
    packages: dict[str, str] = dict(env.get("packages") or {})
    current = package_versions(list(packages))
    for name, then in sorted(packages.items()):
        now = current.get(name)
        if now != then:
            found.append(f"{name} {then} at registration, {now or 'not installed'} now.")
    then_commit = provenance.training.get("git_commit")
    now_commit = git_commit(project_dir)
    if then_commit != now_commit:
        found.append(
            f"The project was at commit {then_commit or '(none)'} at registration, "
            f"{now_commit or '(none)'} now: the training code may differ."
        )
    return found


@dataclass(frozen=True, slots=True)
class _Comparison:
    verdict: Verdict
    rows: int
    label_mismatches: int
    max_abs_diff: float
    metrics: dict[str, tuple[float, float]]


def _compare(
    registered: LoadedModel,
    again: LoadedModel,
    holdout: pd.DataFrame,
    label: str,
    tolerance: float,
) -> _Comparison:
    import numpy as np

    from mlship.checks.metrics import Predictions, get_metric

    if label not in holdout.columns:
        raise InvalidInput(f"The holdout has no label column {label!r}.")
    features = holdout.drop(columns=[label])
    y_true = holdout[label].to_numpy()
    old, new = registered.predict(features), again.predict(features)
    mismatches = int(np.sum(old != new))
    classes = registered.signature.classes if registered.signature is not None else None
    old_p = registered.predict_proba(features) if registered.has_proba else None
    new_p = again.predict_proba(features) if registered.has_proba else None
    if old_p is not None and new_p is not None:
        diff = float(np.max(np.abs(old_p.astype(float) - new_p.astype(float)), initial=0.0))
    elif np.issubdtype(old.dtype, np.number) and np.issubdtype(new.dtype, np.number):
        diff = float(np.max(np.abs(old.astype(float) - new.astype(float)), initial=0.0))
    else:
        diff = 0.0 if mismatches == 0 else 1.0
    classification = classes is not None
    names = ("accuracy", "f1", "roc_auc") if classification else ("rmse", "mae", "r2")
    metrics: dict[str, tuple[float, float]] = {}
    for name in names:
        metric = get_metric(name)
        if metric.needs_proba and old_p is None:
            continue
        try:
            metrics[name] = (
                metric.score(y_true, Predictions(old, old_p, classes)),
                metric.score(y_true, Predictions(new, new_p, classes)),
            )
        except InvalidInput:  # undefined on these rows (one class only): not a difference
            continue
    gap = max((abs(a - b) for a, b in metrics.values()), default=0.0)
    verdict: Verdict
    if mismatches == 0 and diff == 0 and gap == 0:
        verdict = "identical"
    elif mismatches == 0 and diff <= tolerance and gap <= tolerance:
        verdict = "within_tolerance"
    else:
        verdict = "different"
    return _Comparison(verdict, len(holdout), mismatches, diff, metrics)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
