"""Any Python object with ``predict``, stored with cloudpickle: only with ``trusted=True``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlship.errors import UnsafeArtifact, UnsupportedFormat
from mlship.registry.formats.base import PreparedArtifact


class PythonFormat:
    """A plain Python model object (custom class, wrapper) serialised with cloudpickle."""

    name = "python"

    def accepts_object(self, obj: Any) -> bool:
        return callable(getattr(obj, "predict", None))

    def accepts_path(self, path: Path) -> bool:
        return path.is_file() and path.suffix == ".cloudpickle"

    def prepare(self, source: Any, workdir: Path, *, trusted: bool) -> PreparedArtifact:
        if not trusted:
            what = (
                f"{source.name} is a pickle"
                if isinstance(source, Path)
                else f"A {type(source).__name__} object can only be stored as a pickle"
            )
            raise UnsafeArtifact(
                f"{what}, and loading a pickle runs its code. Register it with trusted=True "
                "(CLI: --trusted) if you trust it, or use a scikit-learn or ONNX model."
            )
        import cloudpickle

        if isinstance(source, Path):
            path = source
            try:
                with open(path, "rb") as fh:
                    model = cloudpickle.load(fh)
            except Exception as exc:  # unpickling fails with whatever error the bytes provoke
                raise UnsupportedFormat(
                    f"{path.name} is not a readable cloudpickle file: {exc}"
                ) from None
            if not callable(getattr(model, "predict", None)):
                raise UnsupportedFormat(
                    f"{path.name} holds a {type(model).__name__}, which has no 'predict' method."
                )
        else:
            path = workdir / "model.cloudpickle"
            with open(path, "wb") as fh:
                cloudpickle.dump(source, fh)
            model = source
        names = getattr(model, "feature_names_in_", None)
        return PreparedArtifact(
            path=path,
            load_spec={"serializer": "cloudpickle", "trusted": True},
            model=model,
            feature_names=tuple(str(n) for n in names) if names is not None else None,
        )

    def load(self, path: Path, load_spec: dict[str, Any], workdir: Path) -> Any:
        if not load_spec.get("trusted"):
            raise UnsafeArtifact("Refusing to load a pickle that was not registered as trusted.")
        import cloudpickle

        with open(path, "rb") as fh:
            return cloudpickle.load(fh)
