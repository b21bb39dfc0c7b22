"""The mlship wheel an image installs.

mlship is not on a package index, so an image cannot ``pip install mlship``: the build context
carries a wheel, either the one the user names or one built from the source checkout mlship runs
from (``uv build --wheel``, else ``pip wheel``).
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from mlship.errors import ConfigError

log = logging.getLogger(__name__)


def installed_version() -> str:
    """The version of the mlship distribution running now."""
    from mlship import __version__

    try:
        return metadata.version("mlship")
    except metadata.PackageNotFoundError:
        return __version__


def source_checkout() -> Path | None:
    """The project folder mlship was installed from (editable or local folder), if any."""
    try:
        text = metadata.distribution("mlship").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        text = None
    if text:
        url = json.loads(text).get("url", "")
        if url.startswith("file://"):
            folder = Path(url.removeprefix("file://"))
            if (folder / "pyproject.toml").is_file():
                return folder
    # Running from a checkout without an install (PYTHONPATH=src).
    here = Path(__file__).resolve().parents[3]
    return (
        here if (here / "pyproject.toml").is_file() and (here / "src" / "mlship").is_dir() else None
    )


def copy_wheel(dest_dir: Path, wheel: Path | None = None) -> tuple[Path, list[str]]:
    """Put an mlship wheel in ``dest_dir``; returns its path and warnings.

    ``wheel`` is used as given; without it one is built from the source checkout.
    """
    warnings: list[str] = []
    dest_dir.mkdir(parents=True, exist_ok=True)
    if wheel is not None:
        if not wheel.is_file() or not wheel.name.startswith("mlship-") or wheel.suffix != ".whl":
            raise ConfigError(
                f"--wheel must be an existing mlship wheel file (mlship-*.whl). Got {wheel}."
            )
        version = wheel.name.split("-")[1]
        if version != installed_version():
            warnings.append(
                f"The wheel {wheel.name} is mlship {version}, but mlship {installed_version()} "
                "wrote the build context (and the baked store): build the wheel from the same "
                "release."
            )
        target = dest_dir / wheel.name
        shutil.copyfile(wheel, target)
        return target, warnings
    source = source_checkout()
    if source is None:
        raise ConfigError(
            "mlship is not installed from a source checkout, so no wheel can be built here. "
            "Pass --wheel PATH with the mlship wheel you installed (mlship is not on PyPI)."
        )
    return _build(source, dest_dir), warnings


def _build(source: Path, dest_dir: Path) -> Path:
    with tempfile.TemporaryDirectory(prefix="mlship-wheel-") as tmp:
        command = _builder(source, Path(tmp))
        log.info("Building the mlship wheel: %s", " ".join(command))
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConfigError(
                f"Building the mlship wheel failed ({exc}). Build one yourself "
                f"(uv build --wheel {source}) and pass --wheel PATH."
            ) from None
        built = sorted(Path(tmp).glob("mlship-*.whl"))
        if result.returncode != 0 or not built:
            detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no wheel"]
            raise ConfigError(
                f"Building the mlship wheel from {source} failed: {detail[0]}. Build one "
                "yourself (uv build --wheel) and pass --wheel PATH."
            )
        target = dest_dir / built[-1].name
        shutil.copyfile(built[-1], target)
        return target


def _builder(source: Path, out: Path) -> list[str]:
    uv = shutil.which("uv") or _existing(source / ".tools" / "bin" / "uv")
    if uv:
        return [uv, "build", "--wheel", "--out-dir", str(out), str(source)]
    import importlib.util

    if importlib.util.find_spec("pip") is None:
        raise ConfigError(
            "Neither uv nor pip is available to build the mlship wheel. Install one, or build "
            f"the wheel elsewhere (uv build --wheel {source}) and pass --wheel PATH."
        )
    return [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(out), str(source)]


def _existing(path: Path) -> str | None:
    return str(path) if path.is_file() else None
