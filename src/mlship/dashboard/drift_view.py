"""The drift page of one model: per-feature drift over time in a window of its prediction log,
the reference against current distribution of one feature, and the model's alerts; JSON values.

The window holds what users were answered with (``read_window`` without a version), compared
with the training profile of the serving version (the deployment's stable version, else
``@production``, else the latest), as ``mlship drift NAME --window ...`` does, by the same
rules (a feature also drifts by its missing values or new categories: ``drift_reasons`` names
why, ``details`` says it as the table does, e.g. ``missing 1 % → 25 %``). Alerts are the
monitor's ledger events (``alert_raised``, ``alert_resolved``) and those of retraining
(``retrain_*``), newest first.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlship.errors import InvalidInput
from mlship.rollout.deployments import serving_version

if TYPE_CHECKING:
    from mlship.registry import Registry

WINDOWS = {"15m": 900, "1h": 3600, "6h": 6 * 3600, "24h": 24 * 3600, "7d": 7 * 24 * 3600}
"""The windows the page offers, by label, in seconds."""
DEFAULT_WINDOW = "24h"
SLICES = 8
MAX_REQUESTS = 20_000
"""Requests read per view, the most recent (the page polls; the CLI reads up to 100,000)."""
ALERT_KINDS = ("alert", "drift", "retrain")
MAX_ALERTS = 50


def window_seconds(label: str) -> int:
    """The length of the window ``label``; anything but the offered labels is a 422."""
    if label not in WINDOWS:
        raise InvalidInput(
            f"The 'window' option must be one of {', '.join(WINDOWS)}. Got {label!r} instead.",
            field="window",
        )
    return WINDOWS[label]


def drift_view(
    registry: Registry, name: str, now: datetime, window: str, feature: str | None
) -> dict[str, Any]:
    """The drift page of ``name`` over the last ``window`` before ``now``; ``feature`` picks the
    histogram (default: the most drifted feature)."""
    from mlship.monitoring import Reference, detect_drift, drift_over_time, read_window
    from mlship.monitoring.histograms import histogram

    seconds = window_seconds(window)
    version = serving_version(registry, name)  # an unknown model raises ModelNotFound
    base: dict[str, Any] = {
        "model": name,
        "now": now.isoformat(),
        "window": window,
        "windows": list(WINDOWS),
        "version": version.version,
    }
    if not version.data_profile:
        return {
            **base,
            "available": False,
            "message": f"{version.ref} was registered without training data, so there is no "
            "profile to compare with; register it with --train-data.",
        }
    found = read_window(
        registry.store, name, now - timedelta(seconds=seconds), now, max_requests=MAX_REQUESTS
    )
    reference = Reference.from_profile(version.data_profile)
    columns = [c for c in found.features if c in reference.columns]
    if found.rows == 0 or not columns:
        why = (
            f"No predictions of {name} were logged in the last {window}."
            if found.rows == 0
            else f"The logged inputs share no feature with the profile of {version.ref}."
        )
        return {**base, "available": False, "message": why, "source": found.to_dict()}
    report = detect_drift(reference, found.frame, columns=columns, workers=1)
    timeline = drift_over_time(reference, found.frame, found.times, columns=columns, slices=SLICES)
    ordered = sorted(
        report.features.values(), key=lambda f: (not f.drift, -(f.effect or 0.0), f.name)
    )
    chosen = feature if feature is not None and feature in report.features else ordered[0].name
    chart = histogram(chosen, reference.columns[chosen], found.frame[chosen])
    return {
        **base,
        "available": True,
        "source": found.to_dict(),
        "reference": {"version": version.version, "rows": reference.rows},
        "dataset_drift": report.dataset_drift,
        "features": [
            {
                "name": f.name,
                "kind": f.kind,
                "test": f.test,
                "effect": f.effect,
                "effect_name": f.effect_name,
                "threshold": f.threshold,
                "p_value": f.p_value_adjusted if f.p_value_adjusted is not None else f.p_value,
                "drift": f.drift,
                "drift_reasons": list(f.drift_reasons),
                "details": list(f.details()),
                "reason": f.reason,
            }
            for f in ordered
        ],
        "timeline": timeline.to_dict(),
        "feature": chosen,
        "histogram": chart.to_dict(),
    }


def model_alerts(registry: Registry, name: str) -> list[dict[str, Any]]:
    """The monitor's alert and retraining events of ``name``, newest first."""
    found = [e for e in registry.history(name) if e.kind.startswith(ALERT_KINDS)]
    return [e.to_dict() for e in reversed(found[-MAX_ALERTS:])]
