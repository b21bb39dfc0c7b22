"""Side-by-side comparison of two versions: metrics, params, features, data profile, environment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlship.registry.model_version import ModelVersion

_PROFILE_FIELDS = ("missing_rate", "min", "max", "mean", "std", "n_unique")


@dataclass(frozen=True, slots=True)
class DiffRow:
    """One compared value: the section it belongs to, its key, and both sides."""

    section: str
    key: str
    a: Any
    b: Any

    @property
    def changed(self) -> bool:
        return bool(self.a != self.b)

    @property
    def delta(self) -> float | None:
        if _number(self.a) and _number(self.b):
            return float(self.b) - float(self.a)
        return None


@dataclass(frozen=True, slots=True)
class VersionDiff:
    """What differs between version ``a`` and version ``b`` (rows that are equal are kept too)."""

    a: str
    b: str
    rows: tuple[DiffRow, ...]

    def section(self, name: str) -> list[DiffRow]:
        return [r for r in self.rows if r.section == name]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"a": self.a, "b": self.b, "sections": {}}
        for row in self.rows:
            out["sections"].setdefault(row.section, {})[row.key] = {
                "a": row.a,
                "b": row.b,
                "changed": row.changed,
                "delta": row.delta,
            }
        return out


def diff_versions(a: ModelVersion, b: ModelVersion) -> VersionDiff:
    """Compare two versions (usually of one model, but any two work)."""
    rows: list[DiffRow] = []
    rows += _pairs("version", _basics(a), _basics(b))
    rows += _pairs("metrics", a.metrics, b.metrics)
    rows += _pairs("params", a.params, b.params)
    rows += _pairs("features", _features(a), _features(b))
    profile_a, profile_b = _profile(a), _profile(b)
    rows += _pairs("profile", profile_a, profile_b)
    rows += _pairs(
        "environment",
        a.environment.get("packages", {}) | {"python": a.environment.get("python")},
        b.environment.get("packages", {}) | {"python": b.environment.get("python")},
    )
    return VersionDiff(a=a.ref, b=b.ref, rows=tuple(rows))


def _basics(v: ModelVersion) -> dict[str, Any]:
    return {
        "format": v.format,
        "sha256": v.artifact_sha256[:12],
        "size": v.artifact_size,
        "rows": v.row_count,
        "data_fingerprint": (v.data_fingerprint or "")[:12] or None,
        "label": v.label,
        "output_kind": v.signature.output_kind if v.signature else None,
        "git_commit": v.git_commit,
    }


def _features(v: ModelVersion) -> dict[str, str]:
    return {f.name: f.dtype for f in v.signature.features} if v.signature else {}


def _profile(v: ModelVersion) -> dict[str, Any]:
    features = (v.data_profile or {}).get("features", {})
    flat: dict[str, Any] = {}
    for name, stats in features.items():
        for field in _PROFILE_FIELDS:
            if field in stats:
                flat[f"{name}.{field}"] = stats[field]
    return flat


def _pairs(section: str, a: dict[str, Any], b: dict[str, Any]) -> list[DiffRow]:
    keys = list(a) + [k for k in b if k not in a]
    return [DiffRow(section, k, a.get(k), b.get(k)) for k in keys]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
