"""The model-format extension point.

A format turns what the user hands to ``register`` (an object or a path) into one file to store
plus a ``load_spec`` (how to load it back), and turns stored bytes back into a model object with
``predict``. Formats are plain objects collected in a :class:`FormatRegistry` that is passed in,
never a global.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mlship.errors import UnsupportedFormat


@dataclass(frozen=True, slots=True)
class PreparedArtifact:
    """A model made ready for storage: the file to store and how to load it back."""

    path: Path
    load_spec: dict[str, Any]
    model: Any
    """The model object, loaded, so the registry can read its signature."""
    feature_names: tuple[str, ...] | None = None
    """Input names the format itself knows (ONNX inputs, ``feature_names_in_``), if any."""
    feature_dtypes: tuple[str, ...] | None = None
    """Their dtype families, when the format knows them (ONNX inputs)."""
    extra: dict[str, Any] = field(default_factory=dict)


class ModelFormat(Protocol):
    """How one kind of model is detected, stored and loaded."""

    name: str

    def accepts_object(self, obj: Any) -> bool:
        """True when this format can store the in-memory object ``obj``."""
        ...

    def accepts_path(self, path: Path) -> bool:
        """True when the file or folder at ``path`` is of this format."""
        ...

    def prepare(self, source: Any, workdir: Path, *, trusted: bool) -> PreparedArtifact:
        """Write ``source`` (object or path) as one file under ``workdir``; refuse unsafe input."""
        ...

    def load(self, path: Path, load_spec: dict[str, Any], workdir: Path) -> Any:
        """Load the verified file at ``path`` back into an object with ``predict``."""
        ...


class FormatRegistry:
    """The formats mlship knows, tried in order."""

    def __init__(self, formats: list[ModelFormat]) -> None:
        self._formats = {f.name: f for f in formats}

    @property
    def names(self) -> list[str]:
        return list(self._formats)

    def get(self, name: str) -> ModelFormat:
        try:
            return self._formats[name]
        except KeyError:
            raise UnsupportedFormat(
                f"Unknown model format {name!r}. Valid formats: {', '.join(self._formats)}."
            ) from None

    def detect(self, source: Any) -> ModelFormat:
        """The format for ``source``: a path (by extension or content) or an in-memory model."""
        if isinstance(source, Path):
            for fmt in self._formats.values():
                if fmt.accepts_path(source):
                    return fmt
            raise UnsupportedFormat(
                f"Cannot tell the model format of {source}. Use a .skops, .joblib/.pkl, .onnx file "
                f"or an MLflow model folder, or pass format= (one of {', '.join(self._formats)})."
            )
        for fmt in self._formats.values():
            if fmt.accepts_object(source):
                return fmt
        raise UnsupportedFormat(
            f"mlship cannot register an object of type {type(source).__name__}: it has no "
            "'predict' method. Pass a fitted model or the path of a saved model."
        )


def default_formats() -> FormatRegistry:
    """A registry with every built-in format: sklearn, onnx, mlflow, python."""
    from mlship.registry.formats.mlflow_dir import MlflowFormat
    from mlship.registry.formats.onnx import OnnxFormat
    from mlship.registry.formats.python_object import PythonFormat
    from mlship.registry.formats.sklearn import SklearnFormat

    return FormatRegistry([SklearnFormat(), OnnxFormat(), MlflowFormat(), PythonFormat()])
