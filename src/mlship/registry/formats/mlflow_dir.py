"""MLflow model folders (with an ``MLmodel`` file), loaded through ``mlflow.pyfunc``.

The folder is stored as one deterministic tar archive. MLflow's flavors unpickle their models, so
registering an MLflow model needs ``trusted=True``; the optional extra ``mlship[mlflow]`` provides
MLflow.
"""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

from mlship.errors import ConfigError, UnsafeArtifact, UnsupportedFormat
from mlship.registry.formats.base import PreparedArtifact


def _require_mlflow() -> Any:
    try:
        import mlflow.pyfunc
    except ImportError:
        raise ConfigError(
            "MLflow models need MLflow installed: pip install 'mlship[mlflow]'."
        ) from None
    return mlflow.pyfunc


def pack_folder(folder: Path, dest: Path) -> Path:
    """Write ``folder`` as a tar whose bytes depend only on file names and contents."""
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = tarfile.TarInfo(str(path.relative_to(folder)))
            info.size = path.stat().st_size
            info.mtime = 0
            info.mode = 0o644
            with open(path, "rb") as fh:
                tar.addfile(info, fh)
    return dest


def unpack_folder(archive: Path, dest: Path) -> Path:
    """Extract an archive made by :func:`pack_folder` (regular files only, no path escapes).

    Extracts into a fresh folder and renames it into place, so that processes unpacking the same
    artifact at once never read a half-written file; an existing ``dest`` is left as it is.
    """
    import shutil
    import uuid

    if dest.is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{dest.name}.tmp-{uuid.uuid4().hex}")
    with tarfile.open(archive, "r") as tar:
        tar.extractall(tmp, filter="data")
    try:
        tmp.rename(dest)
    except OSError:  # another process won the race: use its copy
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


class PyfuncModel:
    """An MLflow pyfunc model behind ``predict`` (and ``predict_proba`` when its flavor has one)."""

    def __init__(self, pyfunc: Any) -> None:
        self._pyfunc = pyfunc
        inner = None
        try:
            inner = pyfunc.unwrap_python_model()
        except Exception:
            inner = getattr(getattr(pyfunc, "_model_impl", None), "sklearn_model", None)
        self._inner = inner
        self.classes_ = getattr(inner, "classes_", None)

    def predict(self, frame: Any) -> Any:
        import numpy as np

        return np.asarray(self._pyfunc.predict(frame))

    @property
    def has_proba(self) -> bool:
        return hasattr(self._inner, "predict_proba")

    def predict_proba(self, frame: Any) -> Any:
        if not self.has_proba:
            raise AttributeError("This MLflow model has no predict_proba.")
        assert self._inner is not None
        return self._inner.predict_proba(frame)


class MlflowFormat:
    """A folder saved by ``mlflow.<flavor>.save_model``."""

    name = "mlflow"

    def accepts_object(self, obj: Any) -> bool:
        return False

    def accepts_path(self, path: Path) -> bool:
        return path.is_dir() and (path / "MLmodel").is_file()

    def prepare(self, source: Any, workdir: Path, *, trusted: bool) -> PreparedArtifact:
        if not isinstance(source, Path) or not self.accepts_path(source):
            raise UnsupportedFormat(f"{source} is not an MLflow model folder (no MLmodel file).")
        if not trusted:
            raise UnsafeArtifact(
                "MLflow model folders are loaded by MLflow, which unpickles the model. Register it "
                "with trusted=True (CLI: --trusted) if you trust the folder."
            )
        archive = pack_folder(source, workdir / "mlflow-model.tar")
        model = self._load_folder(source)
        return PreparedArtifact(
            path=archive, load_spec={"packing": "tar", "trusted": True}, model=model
        )

    def load(self, path: Path, load_spec: dict[str, Any], workdir: Path) -> PyfuncModel:
        if not load_spec.get("trusted"):
            raise UnsafeArtifact("Refusing to load an MLflow model not registered as trusted.")
        folder = unpack_folder(path, workdir / "mlflow-model")
        return self._load_folder(folder)

    def _load_folder(self, folder: Path) -> PyfuncModel:
        pyfunc = _require_mlflow()
        try:
            return PyfuncModel(pyfunc.load_model(str(folder)))
        except Exception as exc:  # MLflow raises many kinds of error on bad folders
            raise UnsupportedFormat(f"MLflow could not load the model in {folder}: {exc}") from None
