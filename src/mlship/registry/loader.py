"""Loading versions: fetch the artifact, verify its hash, deserialise, cache per process."""

from __future__ import annotations

import logging
import stat
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

log = logging.getLogger(__name__)


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
        self._loaded: dict[tuple[str, int], LoadedModel] = {}
        self._lock = threading.Lock()

    def cached(self, name: str, version: int) -> LoadedModel | None:
        """The loaded model of ``name@version`` if this process loaded it already (versions are
        immutable, so the cache never goes stale)."""
        return self._loaded.get((name, version))

    def evict(self, name: str, version: int) -> None:
        """Forget a loaded version (a server retired it), so its memory can be freed."""
        with self._lock:
            self._loaded.pop((name, version), None)

    def load(self, version: ModelVersion) -> LoadedModel:
        key = (version.name, version.version)
        with self._lock:
            cached = self._loaded.get(key)
            if cached is None:
                cached = self._loaded[key] = self._load(version)
            return cached

    def _load(self, version: ModelVersion) -> LoadedModel:
        from mlship.registry.loaded_model import LoadedModel

        fmt = self._formats().get(version.format)
        if self._cache_dir is None:
            # Private to this process (mode 0700): no other local user can swap a verified file.
            self._cache_dir = Path(tempfile.mkdtemp(prefix="mlship-cache-"))
        # Owner-only folders: no other local user can swap what is verified or unpacked here.
        cache_root = _private_folder(self._cache_dir)
        local = _private_folder(cache_root / "artifacts") / version.artifact_sha256
        # Always fetch and verify: a local copy could have been changed on disk too.
        self._artifacts.fetch(version.artifact_sha256, local)
        # Formats that unpack (MLflow folders) do it here, once per artifact, and check an earlier
        # unpacked copy against the verified archive before they use it.
        workdir = _private_folder(cache_root / "unpacked") / version.artifact_sha256
        model = fmt.load(local, version.load_spec, workdir)
        return LoadedModel(model, version)


def _private_folder(path: Path) -> Path:
    """``path`` as a folder that only its owner can use (mode 0700), tightened if it was looser."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        try:
            path.chmod(0o700)
        except PermissionError as exc:  # another user owns it: it still works, but less safely
            log.warning(
                "Cannot make the cache folder %s owner-only (mode 0700): %s. Other local users "
                "may change cached models; set MLSHIP_HOME to a folder you own.",
                path,
                exc.strerror,
            )
    return path
