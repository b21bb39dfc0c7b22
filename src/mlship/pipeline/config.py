"""``mlship.toml``, validated: :class:`PipelineConfig` and :func:`load_pipeline_config`.

Every bad setting is a :class:`~mlship.errors.ConfigError` naming the file, the line, the table
and the key, then what the value must be, e.g.::

    mlship.toml, line 14, [rollout] steps: The 'steps' option must be increasing percentages
    ending at 100. Got [5, 50, 25] instead.

Tables: ``[model]``, ``[train]``, ``[checks]``, ``[gates]``, ``[rollout]`` (read here), and
``[monitoring]``, ``[retrain]`` (validated by :class:`mlship.monitoring.settings.MonitorSettings`,
which the monitor reads them with).
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlship.errors import ConfigError
from mlship.pipeline import locator as v
from mlship.pipeline.locator import Locator

if TYPE_CHECKING:
    from mlship.checks.gates import GateConfig
    from mlship.checks.validation_config import ValidationConfig
    from mlship.rollout.canary_config import CanaryConfig

TABLES = ("model", "train", "checks", "gates", "rollout", "monitoring", "retrain")
FORMATS = ("sklearn", "onnx", "mlflow", "python")
STRATEGIES = ("canary", "blue-green", "shadow")
PLACEHOLDERS = ("artifact", "metrics", "params", "data", "holdout", "label")
"""What a ``[train] command`` may contain: ``{artifact}`` (required: where the model goes),
``{metrics}`` / ``{params}`` (JSON files the command may write), ``{data}``, ``{holdout}``,
``{label}``."""
DATA_SUFFIXES = (".csv", ".parquet", ".pq")
_ENTRY = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """``[model]``: what is trained and registered."""

    name: str
    label: str
    """The label column of the training and holdout data."""
    format: str | None = None
    """``sklearn``, ``onnx``, ``mlflow`` or ``python``; None detects it from the artifact."""
    trusted: bool = False
    """Register pickled content (``python`` format, joblib files)."""
    description: str | None = None


@dataclass(frozen=True, slots=True)
class TrainSettings:
    """``[train]``: how a model is trained, on which data."""

    data: str
    """Training data (CSV or Parquet), relative to the project folder."""
    holdout: str
    """Holdout data for model sanity, gates and reproduction."""
    command: str | None = None
    """A command run in the project folder, e.g. ``python train.py --out {artifact}``."""
    entry: str | None = None
    """Or ``package.module:function``, called as ``function(train_frame, label)``; it returns the
    fitted model, or ``(model, metrics)``."""
    timeout_s: float | None = None

    def artifact_name(self, format: str | None) -> str:
        """The file name the command writes the model to (its suffix tells the format)."""
        return {"onnx": "model.onnx", "python": "model.pkl", "mlflow": "model"}.get(
            format or "sklearn", "model.skops"
        )


@dataclass(frozen=True, slots=True)
class RolloutSettings:
    """``[rollout]``: how a gated version reaches users."""

    strategy: str = "canary"
    canary: CanaryConfig | None = None
    """Steps and timing of a canary (None: the defaults)."""
    standby_s: float = 1800.0
    """Blue-green: how long the previous version stays loaded for an instant rollback."""
    mirror_percent: float = 100.0
    """Shadow: percent of requests copied to the new version."""


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """A validated ``mlship.toml``."""

    path: Path
    model: ModelSettings
    train: TrainSettings
    validation: ValidationConfig
    gates: GateConfig
    rollout: RolloutSettings
    code: str | None = None
    """``[checks] code``: the project's own tests (CI layer 1), e.g. ``pytest -q tests``."""
    document: Mapping[str, Any] = field(default_factory=dict)
    """The file's tables as parsed (what a registered version records)."""
    locator: Locator | None = field(default=None, compare=False, repr=False)

    @property
    def project_dir(self) -> Path:
        """The folder of ``mlship.toml``: commands run there, data paths are relative to it."""
        return self.path.parent

    def where(self, table: str, key: str | None = None) -> str:
        """``mlship.toml, line 6, [train] data``: for messages about a setting's value."""
        return self.locator.where(table, key) if self.locator else f"[{table}] {key or ''}"


def load_pipeline_config(path: str | Path | None = None) -> PipelineConfig:
    """Read and validate ``path`` (default ``./mlship.toml``)."""
    file = Path(path) if path is not None else Path("mlship.toml")
    if not file.is_file():
        raise ConfigError(
            f"No {file} found (in {Path.cwd()}). Create one with [model] and [train] tables "
            "(see README, 'Pipelines'), or pass --config PATH."
        )
    return parse_pipeline_config(file.read_text(encoding="utf-8"), file.resolve())


def parse_pipeline_config(text: str, path: Path) -> PipelineConfig:
    """Validate the TOML ``text`` of the file at ``path``."""
    import tomllib

    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: invalid TOML: {exc}.") from None
    loc = Locator(path.name, text)
    _check_tables(loc, document)
    for required in ("model", "train"):
        if required not in document:
            raise ConfigError(
                f"{loc.where(required)} is missing: a pipeline needs [model] (name, label) and "
                "[train] (command or entry, data, holdout)."
            )
    tables = {name: dict(document.get(name, {})) for name in TABLES}
    model = _model(loc, tables["model"])
    train = _train(loc, tables["train"])
    checks = dict(tables["checks"])
    code = checks.pop("code", None)
    if code is not None:
        loc.check("checks", {"code": code}, {"code": v.text})
    validation = _validation(loc, checks)
    gates = _gates(loc, tables["gates"])
    rollout = _rollout(loc, tables["rollout"])
    _monitoring(loc, tables["monitoring"], tables["retrain"])
    return PipelineConfig(
        path=path,
        model=model,
        train=train,
        validation=validation,
        gates=gates,
        rollout=rollout,
        code=code,
        document=document,
        locator=loc,
    )


def training_settings(
    document: Mapping[str, Any], where: str
) -> tuple[ModelSettings, TrainSettings]:
    """``[model]`` and ``[train]`` of a recorded config (``where`` names it in errors): what
    ``mlship reproduce`` needs of the ``mlship.toml`` a version was trained with."""
    loc = Locator(where, "")
    tables = {}
    for name in ("model", "train"):
        table = document.get(name)
        if not isinstance(table, dict):
            raise ConfigError(f"{loc.where(name)} is missing.")
        tables[name] = table
    return _model(loc, tables["model"]), _train(loc, tables["train"])


def _check_tables(loc: Locator, document: Mapping[str, Any]) -> None:
    import difflib

    for name, value in document.items():
        if name not in TABLES:
            close = difflib.get_close_matches(name, TABLES, n=1)
            hint = f" (did you mean [{close[0]}]?)" if close else ""
            raise loc.error(name, None, f"unknown table{hint}. Known tables: {', '.join(TABLES)}.")
        if not isinstance(value, dict):
            raise loc.error(name, None, f"must be a table: [{name}] on its own line, then keys.")


def _required(loc: Locator, table: str, values: Mapping[str, Any], *keys: str) -> None:
    for key in keys:
        if key not in values:
            raise loc.error(table, None, f"the key {key!r} is required.")


def _model(loc: Locator, values: dict[str, Any]) -> ModelSettings:
    from mlship.registry.reference import validate_model_name

    known = [f.name for f in fields(ModelSettings)]
    loc.unknown_keys("model", values, known)
    _required(loc, "model", values, "name", "label")
    checks: dict[str, Callable[[str, Any], Any]] = {
        "name": lambda o, x: validate_model_name(v.text(o, x)),
        "label": v.text,
        "format": lambda o, x: _choice(o, x, FORMATS),
        "trusted": v.boolean,
        "description": lambda o, x: v.text(o, x, empty=True),
    }
    return ModelSettings(**loc.check("model", values, checks))


def _train(loc: Locator, values: dict[str, Any]) -> TrainSettings:
    loc.unknown_keys("train", values, ["command", "entry", "data", "holdout", "timeout"])
    _required(loc, "train", values, "data", "holdout")
    if ("command" in values) == ("entry" in values):
        raise loc.error(
            "train",
            "entry" if "entry" in values else None,
            "give either 'command' (e.g. \"python train.py --out {artifact}\") or 'entry' "
            '(e.g. "fraud.train:train"), not both and not neither.',
        )
    checks: dict[str, Callable[[str, Any], Any]] = {
        "command": _command,
        "entry": _entry,
        "data": _data_path,
        "holdout": _data_path,
        "timeout": v.seconds,
    }
    checked = loc.check("train", values, checks)
    checked["timeout_s"] = checked.pop("timeout", None)
    return TrainSettings(**checked)


def _validation(loc: Locator, values: dict[str, Any]) -> ValidationConfig:
    from mlship.checks.validation_config import ValidationConfig

    known = [f.name for f in fields(ValidationConfig)]
    loc.unknown_keys("checks", values, [*known, "code"])
    return loc.build("checks", values, ValidationConfig.from_dict)


def _gates(loc: Locator, values: dict[str, Any]) -> GateConfig:
    from mlship.checks.gates import GateConfig

    loc.unknown_keys("gates", values, [f.name for f in fields(GateConfig)])
    checks: dict[str, Callable[[str, Any], Any]] = {
        "metric": _metric,
        "tolerance": v.number,
        "relative": v.boolean,
        "greater_is_better": v.boolean,
        "metric_needs_proba": v.boolean,
        "slices": v.strings,
        "min_slice_rows": lambda o, x: v.integer(o, x, minimum=1),
        "max_latency_ms": v.number,
        "max_memory_mb": v.number,
        "confidence": v.number,
        "resamples": lambda o, x: v.integer(o, x, minimum=100),
        "require_significance": v.boolean,
        "min_metric": lambda o, x: v.number(o, x, minimum=-float("inf")),
        "seed": v.integer,
    }
    checked = loc.check("gates", values, checks)
    return loc.build("gates", checked, lambda t: GateConfig.from_mapping(dict(t)))


def _rollout(loc: Locator, values: dict[str, Any]) -> RolloutSettings:
    from mlship.rollout.canary_config import CanaryConfig

    known = ["strategy", "steps", "interval", "min_requests", "max_wait", "standby", "mirror"]
    loc.unknown_keys("rollout", values, known)
    checks: dict[str, Callable[[str, Any], Any]] = {
        "strategy": lambda o, x: _choice(o, x, STRATEGIES),
        "steps": _steps,
        "interval": v.seconds,
        "min_requests": v.integer,
        "max_wait": v.seconds,
        "standby": v.seconds,
        "mirror": _mirror,
    }

    def make(c: Mapping[str, Any]) -> RolloutSettings:
        canary = None
        if {"steps", "interval", "min_requests", "max_wait"} & set(c):
            base = CanaryConfig()
            canary = CanaryConfig(
                steps=c.get("steps", base.steps),
                interval_s=c.get("interval", base.interval_s),
                min_requests=c.get("min_requests", base.min_requests),
                max_wait_s=c.get("max_wait", base.max_wait_s),
            )
        return RolloutSettings(
            strategy=c.get("strategy", "canary"),
            canary=canary,
            standby_s=c.get("standby", 1800.0),
            mirror_percent=c.get("mirror", 100.0),
        )

    settings = loc.build("rollout", loc.check("rollout", values, checks), make)
    only = {"standby": "blue-green", "mirror": "shadow"}
    only.update(dict.fromkeys(("steps", "interval", "min_requests", "max_wait"), "canary"))
    for key, strategy in only.items():
        if key in values and settings.strategy != strategy:
            raise loc.error(
                "rollout",
                key,
                f"applies to strategy = {strategy!r} only; the strategy is "
                f"{settings.strategy!r}. Remove it or change the strategy.",
            )
    return settings


def _monitoring(loc: Locator, monitoring: dict[str, Any], retrain: dict[str, Any]) -> None:
    """The monitor's own reader validates these tables (one key at a time, for the line)."""
    if not monitoring and not retrain:
        return
    from mlship.monitoring.settings import MonitorSettings

    loc.build("monitoring", monitoring, lambda t: MonitorSettings.from_env({}, {"monitoring": t}))
    loc.build("retrain", retrain, lambda t: MonitorSettings.from_env({}, {"retrain": t}))


# ----------------------------------------------------------------------------- value checks


def _choice(option: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise v.must(option, "one of " + ", ".join(repr(c) for c in choices), value)
    return str(value)


def _command(option: str, value: object) -> str:
    command = v.text(option, value)
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(command) if name is not None]
    except ValueError as exc:
        raise v.must(option, f"a command with {{placeholders}} ({exc})", value) from None
    unknown = [n for n in names if n not in PLACEHOLDERS]
    if unknown:
        raise ConfigError(
            f"The 'command' option has the unknown placeholder {{{unknown[0]}}}. Known: "
            + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            + " (write {{ and }} for literal braces)."
        )
    if "artifact" not in names:
        raise ConfigError(
            "The 'command' option must contain {artifact}: the path where the command writes the "
            f'trained model, e.g. "python train.py --out {{artifact}}". Got {command!r} instead.'
        )
    return command


def _entry(option: str, value: object) -> str:
    entry = v.text(option, value)
    if not _ENTRY.fullmatch(entry):
        raise v.must(option, "'package.module:function'", value)
    return entry


def _data_path(option: str, value: object) -> str:
    path = v.text(option, value)
    if Path(path).suffix.lower() not in DATA_SUFFIXES:
        raise v.must(option, "a CSV (.csv) or Parquet (.parquet) file", value)
    return path


def _metric(option: str, value: object) -> str:
    from mlship.checks.metrics import get_metric

    name = v.text(option, value)
    if ":" not in name:
        get_metric(name)  # an unknown built-in names the valid ones
    return name


def _steps(option: str, value: object) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) for s in value
    ):
        raise v.must(option, "a list of increasing percentages ending at 100", value)
    return tuple(value)


def _mirror(option: str, value: object) -> float:
    percent = v.number(option, value)
    if not 0 < percent <= 100:
        raise v.must(option, "a percentage above 0 and at most 100", value)
    return percent
