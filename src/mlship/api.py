"""The module-level shortcuts ``mlship.register`` and ``mlship.load``.

They use a registry configured from the environment (``MLSHIP_*``), opened once per process and per
settings, so that a second ``load`` of the same version is a cache hit.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from mlship.config import StoreSettings

if TYPE_CHECKING:
    from mlship.registry import LoadedModel, ModelVersion, Registry


@functools.lru_cache(maxsize=8)
def _registry_for(settings: StoreSettings) -> Registry:
    from mlship.registry import Registry

    return Registry.open(settings)


def default_registry() -> Registry:
    """The registry that the current ``MLSHIP_*`` environment names (opened once per process)."""
    return _registry_for(StoreSettings.from_env())


def register(model_or_path: Any, name: str, **options: Any) -> ModelVersion:
    """Register a model in the default registry; see :meth:`mlship.Registry.register`."""
    return default_registry().register(model_or_path, name, **options)


def load(ref: str) -> LoadedModel:
    """Load ``NAME[@VERSION|@ALIAS]`` from the default registry, hash-verified and cached.

    >>> model = load("fraud@production")  # doctest: +SKIP
    >>> model.predict([{"amount": 12.5, "country": "DE"}])  # doctest: +SKIP
    """
    return default_registry().load(ref)
