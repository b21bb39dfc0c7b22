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

PROVENANCE_PREFIX = "mlship."
"""Tags starting with it are mlship's own provenance, set once at registration, never changed."""


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
    provenance_tags: Mapping[str, Any] | None = None,
) -> PreparedVersion:
    """Validate, serialise, profile and upload; return the new version's column values."""
    checked_tags = check_tags(tags or {}) | check_provenance_tags(provenance_tags or {})
    checked_metrics = check_metrics(metrics or {})
    checked_params = check_params(params or {})
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


def check_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    """User tags as text; a key with the reserved ``mlship.`` prefix is refused, naming it."""
    checked: dict[str, str] = {}
    for key, value in tags.items():
        refuse_reserved(str(key))
        checked[str(key)] = str(value)
    return checked


def check_provenance_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    """mlship's own tags as text; each key must start with ``mlship.``."""
    for key in tags:
        if not str(key).startswith(PROVENANCE_PREFIX):
            raise InvalidInput(
                f"The 'provenance_tags' argument holds only tags starting with "
                f"{PROVENANCE_PREFIX!r}. Got {key!r} instead; pass it in 'tags'."
            )
    return {str(k): str(v) for k, v in tags.items()}


def change_tags(current: Mapping[str, str], changes: Mapping[str, str | None]) -> dict[str, str]:
    """``current`` with ``changes`` applied (None deletes a tag); setting or deleting a reserved
    ``mlship.`` tag is refused."""
    merged = dict(current)
    for key, value in changes.items():
        refuse_reserved(str(key))
        if value is None:
            merged.pop(str(key), None)
        else:
            merged[str(key)] = str(value)
    return merged


def refuse_reserved(key: str) -> None:
    """Raise :class:`~mlship.errors.InvalidInput` when ``key`` has the reserved prefix (in any
    case: ``MLship.train`` would read as mlship's own)."""
    if key.casefold().startswith(PROVENANCE_PREFIX):
        rest = key[len(PROVENANCE_PREFIX) :] or "note"
        raise InvalidInput(
            f"The tag {key!r} is reserved: tags starting with {PROVENANCE_PREFIX!r} are mlship's "
            "own provenance, written once at registration and never changed. Use another "
            f"prefix, e.g. {'team.' + rest!r}.",
            field="tags",
        )


def artifact_trust(load_spec: Mapping[str, Any]) -> dict[str, Any]:
    """What loading an artifact trusts, as its load spec says: ``trusted`` (it is unpickled as
    it is, which runs its code: joblib, cloudpickle, MLflow), the ``serializer``, and
    ``trusted_types`` (the types skops loads beyond its own defaults).

    >>> artifact_trust({"serializer": "joblib", "trusted": True})
    {'trusted': True, 'serializer': 'joblib', 'trusted_types': []}
    """
    return {
        "trusted": bool(load_spec.get("trusted")),
        "serializer": load_spec.get("serializer"),
        "trusted_types": [str(t) for t in load_spec.get("trusted_types", [])],
    }
