"""What a model was built with: Python, platform, package versions, git commit."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

BASE_PACKAGES = ("mlship", "numpy", "pandas")
FORMAT_PACKAGES: dict[str, tuple[str, ...]] = {
    "sklearn": ("scikit-learn", "scipy", "skops", "joblib"),
    "onnx": ("onnxruntime",),
    "mlflow": ("mlflow", "mlflow-skinny", "scikit-learn", "cloudpickle"),
    "python": ("cloudpickle",),
}


def package_versions(names: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Installed versions of the named distributions (missing ones are left out)."""
    versions: dict[str, str] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def capture_environment(format_name: str, model_module: str | None = None) -> dict[str, Any]:
    """Python, platform and the versions of the packages a model of this format needs."""
    names = list(BASE_PACKAGES) + list(FORMAT_PACKAGES.get(format_name, ()))
    if model_module:
        top = model_module.split(".")[0]
        if top in ("xgboost", "lightgbm", "catboost"):
            names.append(top)
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(),
        "packages": package_versions(names),
    }


def git_commit(cwd: str | Path | None = None) -> str | None:
    """The commit checked out where mlship runs (suffix ``-dirty`` with local changes), or None."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
        if head.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = head.stdout.strip()
    return f"{commit}-dirty" if status.stdout.strip() else commit
