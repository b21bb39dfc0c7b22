"""Loading versions: fetch the artifact, verify its hash, deserialise, cache per process."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlship.registry.artifacts import ArtifactStore
    from mlship.registry.formats import FormatRegistry
    from mlship.registry.loaded_model import LoadedModel
    from mlship.registry.model_version import ModelVersion


class ModelLoader:
    """Turns a :class:`ModelVersion` into a :class:`LoadedModel`, once per artifact and version."""

    def __init__(
        self,
        artifacts: ArtifactStore,
        formats: Callable[[], FormatRegistry],
        cache_dir: Path | None,
    ) -> None:
        self._artifacts = artifacts
        self._formats = formats
        self._cache_dir = cache_dir
        self._loaded: dict[tuple[str, str, int], LoadedModel] = {}
        self._lock = threading.Lock()

    def load(self, version: ModelVersion) -> LoadedModel:
        key = (version.artifact_sha256, version.name, version.version)
        cached = self._loaded.get(key)
        if cached is not None:
            return cached
        with self._lock:
            cached = self._loaded.get(key)
            if cached is None:
                cached = self._loaded[key] = self._load(version)
            return cached

    def _load(self, version: ModelVersion) -> LoadedModel:
        from mlship.registry.loaded_model import LoadedModel

        fmt = self._formats().get(version.format)
        cache_root = self._cache_dir or Path(tempfile.gettempdir()) / "mlship-cache"
        local = cache_root / "artifacts" / version.artifact_sha256
        # Always fetch and verify: a local copy could have been changed on disk too.
        self._artifacts.fetch(version.artifact_sha256, local)
        workdir = Path(tempfile.mkdtemp(prefix=f"mlship-{version.name}-{version.version}-"))
        model = fmt.load(local, version.load_spec, workdir)
        return LoadedModel(model, version)
