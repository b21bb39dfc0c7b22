"""Turning what the user hands to ``register`` into the columns of a new version row.

All the slow work (serialising, profiling, hashing, uploading) happens here, before the short
database transaction that hands out the version number.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlship.errors import InvalidInput
from mlship.registry.dataio import as_frame
from mlship.registry.environment import capture_environment, git_commit
from mlship.registry.profile import fingerprint_frame, profile_frame
from mlship.registry.signature import infer_signature

if TYPE_CHECKING:
    import pandas as pd

    from mlship.registry.artifacts import ArtifactStore
    from mlship.registry.formats import FormatRegistry


@dataclass(frozen=True, slots=True)
class PreparedVersion:
    """The column values of a version row, everything but its number and time."""

    columns: dict[str, Any]


def prepare_version(
    model_or_path: Any,
    *,
    formats: FormatRegistry,
    artifacts: ArtifactStore,
    train_data: pd.DataFrame | str | Path | None,
    label: str | None,
    metrics: Mapping[str, Any] | None,
    params: Mapping[str, Any] | None,
    tags: Mapping[str, Any] | None,
    format: str | None,
    trusted: bool,
) -> PreparedVersion:
    """Validate, serialise, profile and upload; return the new version's column values."""
    checked_metrics = check_metrics(metrics or {})
    checked_params = check_params(params or {})
    checked_tags = {str(k): str(v) for k, v in (tags or {}).items()}
    frame = as_frame(train_data, what="training data") if train_data is not None else None
    if label is not None and frame is not None and label not in frame.columns:
        raise InvalidInput(
            f"The training data has no label column {label!r}. Its columns are: "
            f"{', '.join(map(str, frame.columns[:20]))}."
        )
    source = Path(model_or_path) if isinstance(model_or_path, str | Path) else model_or_path
    if isinstance(source, Path) and not source.exists():
        raise InvalidInput(f"The model file {source} does not exist.")
    fmt = formats.get(format) if format else formats.detect(source)
    with tempfile.TemporaryDirectory(prefix="mlship-register-") as tmp:
        prepared = fmt.prepare(source, Path(tmp), trusted=trusted)
        signature = infer_signature(
            prepared.model,
            known_features=prepared.feature_names,
            known_dtypes=prepared.feature_dtypes,
            train_data=frame,
            label=label,
        )
        stored = artifacts.put_file(prepared.path)
    load_spec = dict(prepared.load_spec)
    if signature.classes is not None:
        load_spec.setdefault("classes", list(signature.classes))
    profile = fingerprint = None
    rows = None
    if frame is not None:
        used = signature.feature_names + ([label] if label else [])
        used_frame = frame[used] if used else frame
        profile = profile_frame(used_frame)
        fingerprint = fingerprint_frame(used_frame)
        rows = len(frame)
    return PreparedVersion(
        columns={
            "format": fmt.name,
            "artifact_uri": stored.uri,
            "artifact_sha256": stored.sha256,
            "artifact_size": stored.size,
            "load_spec": load_spec,
            "signature": signature.to_dict(),
            "metrics": checked_metrics,
            "params": checked_params,
            "tags": checked_tags,
            "label": label,
            "data_fingerprint": fingerprint,
            "data_profile": profile,
            "row_count": rows,
            "environment": capture_environment(fmt.name, type(prepared.model).__module__),
            "git_commit": git_commit(),
        }
    )


def check_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Metrics as floats; a value that is not a finite number names its metric."""
    checked: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(
                f"Metric {key!r} must be a number; got {value!r}. Pass metrics as "
                '{"name": number}, e.g. {"f1": 0.81}.'
            )
        if not math.isfinite(value):
            raise InvalidInput(f"Metric {key!r} must be finite; got {value!r}.")
        checked[str(key)] = float(value)
    return checked


def check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Hyper-parameters as JSON values; anything JSON cannot hold is stored as its text."""
    checked: dict[str, Any] = {}
    for key, value in params.items():
        try:
            json.dumps(value, allow_nan=False)
            checked[str(key)] = value
        except (TypeError, ValueError):
            checked[str(key)] = repr(value)
    return checked
