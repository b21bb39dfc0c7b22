"""mlship: take a trained model to production and keep it healthy there.

``import mlship`` is cheap: the registry (and with it SQLAlchemy, numpy, pandas) is imported
on first use of one of the names below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlship.errors import (
    ConfigError,
    Conflict,
    IntegrityError,
    InvalidInput,
    MlshipError,
    ModelNotFound,
    StoreUnavailable,
    UnsafeArtifact,
    VersionNotFound,
)

if TYPE_CHECKING:
    from mlship.api import default_registry, load, register
    from mlship.registry import LoadedModel, ModelVersion, Registry

__version__ = "0.1.0"

_LAZY = {
    "LoadedModel": "mlship.registry",
    "ModelVersion": "mlship.registry",
    "Registry": "mlship.registry",
    "default_registry": "mlship.api",
    "load": "mlship.api",
    "register": "mlship.api",
}

__all__ = [
    "ConfigError",
    "Conflict",
    "IntegrityError",
    "InvalidInput",
    "LoadedModel",
    "MlshipError",
    "ModelNotFound",
    "ModelVersion",
    "Registry",
    "StoreUnavailable",
    "UnsafeArtifact",
    "VersionNotFound",
    "__version__",
    "default_registry",
    "load",
    "register",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mlship' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
