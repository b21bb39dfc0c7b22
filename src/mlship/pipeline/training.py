"""Training a model as ``[train]`` says: a command that writes ``{artifact}``, or an entry point
``package.module:function`` that returns the fitted model. ``mlship run`` and ``mlship reproduce``
train the same way.

A command may write ``{metrics}`` and ``{params}`` (JSON objects); they are registered with the
version. Its environment also carries ``MLSHIP_ARTIFACT``, ``MLSHIP_METRICS``, ``MLSHIP_PARAMS``,
``MLSHIP_TRAIN_DATA``, ``MLSHIP_HOLDOUT_DATA`` and ``MLSHIP_LABEL``.
"""

from __future__ import annotations

import importlib
import json
import math
import shlex
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlship.pipeline.commands import CommandOutcome, command_environment, run_command

if TYPE_CHECKING:
    import pandas as pd

    from mlship.pipeline.config import ModelSettings, TrainSettings


@dataclass(frozen=True, slots=True)
class Trained:
    """What a training produced: the model (a file or an object), its metrics and params."""

    source: Any
    """The artifact's :class:`~pathlib.Path` (a command) or the model object (an entry point);
    None when training failed."""
    duration_s: float
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    output: str = ""
    """The command's output (or an entry point's traceback)."""
    problem: str | None = None
    """Why training failed, in one sentence; None when it worked."""

    @property
    def ok(self) -> bool:
        return self.problem is None

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-lines:])


def train(
    model: ModelSettings,
    settings: TrainSettings,
    project_dir: Path,
    frame: pd.DataFrame,
    workdir: Path,
    *,
    environ: Mapping[str, str] | None = None,
    log: Path | None = None,
) -> Trained:
    """Train into ``workdir`` (a fresh folder) as ``settings`` say, in ``project_dir``;
    ``frame`` is the training data (what an entry point is called with)."""
    if settings.entry is not None:
        return _train_entry(model, settings.entry, project_dir, frame)
    assert settings.command is not None  # a validated config has one or the other
    workdir.mkdir(parents=True, exist_ok=True)
    paths = {
        "artifact": str(workdir / settings.artifact_name(model.format)),
        "metrics": str(workdir / "metrics.json"),
        "params": str(workdir / "params.json"),
        "data": settings.data,
        "holdout": settings.holdout,
        "label": model.label,
    }
    argv = [token.format(**paths) for token in shlex.split(settings.command)]
    env = command_environment(
        environ,
        {
            "MLSHIP_ARTIFACT": paths["artifact"],
            "MLSHIP_METRICS": paths["metrics"],
            "MLSHIP_PARAMS": paths["params"],
            "MLSHIP_TRAIN_DATA": settings.data,
            "MLSHIP_HOLDOUT_DATA": settings.holdout,
            "MLSHIP_LABEL": model.label,
        },
    )
    done: CommandOutcome = run_command(
        argv, cwd=project_dir, env=env, log=log, timeout_s=settings.timeout_s
    )
    if not done.ok:
        return Trained(None, done.duration_s, output=done.output, problem=done.describe())
    artifact = Path(paths["artifact"])
    if not artifact.exists():
        return Trained(
            None,
            done.duration_s,
            output=done.output,
            problem=f"`{done.command}` exited with 0 but wrote no model to {{artifact}} "
            f"({artifact.name}); write the trained model to the path it is given.",
        )
    try:
        metrics = _read_json(Path(paths["metrics"]), "metrics")
        params = _read_json(Path(paths["params"]), "params")
        checked = _metrics(metrics)
    except ValueError as exc:
        return Trained(None, done.duration_s, output=done.output, problem=str(exc))
    return Trained(artifact, done.duration_s, checked, params, done.output)


def _train_entry(
    model: ModelSettings, entry: str, project_dir: Path, frame: pd.DataFrame
) -> Trained:
    module_name, _, function_name = entry.partition(":")
    clock = time.perf_counter()
    project = str(project_dir)
    sys.path.insert(0, project)
    try:
        function = getattr(importlib.import_module(module_name), function_name)
        result = function(frame.copy(), model.label)
    except Exception as exc:  # the project's own code failed: that is the finding
        return Trained(
            None,
            time.perf_counter() - clock,
            output=traceback.format_exc(),
            problem=f"entry {entry} raised {type(exc).__name__}: {exc}",
        )
    finally:
        if project in sys.path:
            sys.path.remove(project)
    duration = time.perf_counter() - clock
    fitted, metrics = result if isinstance(result, tuple) and len(result) == 2 else (result, {})
    if fitted is None:
        return Trained(None, duration, problem=f"entry {entry} returned no model.")
    try:
        checked = _metrics(metrics)
    except ValueError as exc:
        return Trained(None, duration, problem=f"entry {entry}: {exc}")
    return Trained(fitted, duration, checked)


def _read_json(path: Path, what: str) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"The {what} file {{{what}}} is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise ValueError(f'The {what} file {{{what}}} must hold a JSON object, e.g. {{"f1": 0.8}}.')
    return data


def _metrics(values: object) -> dict[str, float]:
    if not isinstance(values, Mapping):
        raise ValueError(f"metrics must be a mapping of name to number; got {values!r}.")
    checked: dict[str, float] = {}
    for key, value in values.items():
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        if number is None or not math.isfinite(number):
            raise ValueError(f"the metric {key!r} must be a finite number; got {value!r}.")
        checked[str(key)] = float(value)
    return checked
