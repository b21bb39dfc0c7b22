"""``mlship build docker``: a Docker build context that serves one model version.

The context holds a multi-stage ``Dockerfile``, a ``.dockerignore``, ``requirements.txt`` (pinned:
see :mod:`mlship.deploy.requirements`), the mlship wheel under ``wheels/``, ``manifest.json``
(name, version, SHA-256, format, signature, environment) and, unless ``pull``, the model baked
under ``model/``: a one-version registry that becomes the container's ``MLSHIP_HOME``. With
``pull`` nothing is baked and the container reads ``MLSHIP_DB_URL`` and ``MLSHIP_ARTIFACTS`` (and
S3 credentials) from its environment at start.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlship.deploy.dockerfile import (
    ENTRYPOINT,
    HOME,
    IMAGE_REFERENCE,
    DockerfileSpec,
    render_dockerfile,
    render_dockerignore,
    serve_args,
)
from mlship.deploy.outdir import prepare_out_dir
from mlship.errors import ConfigError

if TYPE_CHECKING:
    from mlship.registry import ModelVersion, Registry

ENTRIES = (
    "Dockerfile",
    ".dockerignore",
    "requirements.txt",
    "manifest.json",
    "wheels",
    "model",
)
"""Everything a build writes at the top of ``--out`` (what ``--force`` replaces)."""


@dataclass(frozen=True, slots=True)
class DockerBuild:
    """What ``build_docker_context`` wrote."""

    out: Path
    ref: str
    """``NAME@VERSION`` the reference resolved to when the context was built."""
    served_ref: str
    """What the container's ``mlship serve --model`` serves."""
    baked: bool
    sha256: str
    image: str
    """A suggested image tag, ``mlship-NAME:VERSION``."""
    command: tuple[str, ...]
    """What the container runs (entry point and arguments)."""
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "ref": self.ref,
            "served_ref": self.served_ref,
            "baked": self.baked,
            "sha256": self.sha256,
            "image": self.image,
            "command": list(self.command),
            "warnings": list(self.warnings),
        }


def image_name(name: str) -> str:
    """A Docker repository name for model ``name`` (lowercase, ``mlship-`` prefix)."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._") or "model"
    return f"mlship-{slug}"


def build_docker_context(
    registry: Registry,
    ref: str,
    out: Path,
    *,
    pull: bool = False,
    force: bool = False,
    wheel: Path | None = None,
    base_image: str | None = None,
) -> DockerBuild:
    """Write a Docker build context for the version ``ref`` names into ``out``.

    ``pull``: bake nothing; the container serves ``ref`` from the store its environment names.
    ``wheel``: the mlship wheel to install (default: built from the source checkout).
    ``base_image``: default ``python:MAJOR.MINOR-slim-bookworm`` of the Python running here.
    """
    from mlship.deploy.requirements import pin_requirements
    from mlship.deploy.wheel import copy_wheel, installed_version

    if base_image is not None and not IMAGE_REFERENCE.fullmatch(base_image):
        raise ConfigError(
            "The 'base-image' option must be an image reference such as "
            f"python:3.11-slim-bookworm. Got {base_image!r} instead."
        )
    version = registry.get(ref)  # unknown model or version: fails before anything is written
    packages = dict(version.environment.get("packages") or {})
    extras = frozenset({"mlflow"}) if version.format == "mlflow" else frozenset()
    pins = pin_requirements(packages, model_python=version.environment.get("python"), extras=extras)
    out = prepare_out_dir(out, ENTRIES, force=force)
    warnings = list(pins.warnings)
    wheel_path, wheel_warnings = copy_wheel(out / "wheels", wheel)
    warnings += wheel_warnings
    mlship_version = installed_version()
    built_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    served = ref if pull else version.ref
    where = (
        "read from the store that MLSHIP_DB_URL and MLSHIP_ARTIFACTS name at start"
        if pull
        else f"baked into {HOME} (sha256 {version.artifact_sha256})"
    )
    header = (
        f"Built by `mlship build docker {ref}{' --pull' if pull else ''}` "
        f"(mlship {mlship_version}) at {built_at}.\nServes {served}, {where}."
    )
    (out / "requirements.txt").write_text(pins.to_text(f"mlship build docker {ref}"))
    (out / "manifest.json").write_text(
        json.dumps(_manifest(version, served, pull, mlship_version, built_at), indent=2) + "\n"
    )
    if not pull:
        from mlship.deploy.bake import bake_version

        bake_version(registry, version, out / "model", HOME)
    spec = DockerfileSpec(
        base_image=base_image or f"python:{pins.python}-slim-bookworm",
        wheel=wheel_path.name,
        served_ref=served,
        baked=not pull,
        comment=header,
        labels={
            "org.opencontainers.image.title": image_name(version.name),
            "org.opencontainers.image.version": str(version.version),
            "org.opencontainers.image.created": built_at,
            "io.mlship.model": version.name,
            "io.mlship.version": str(version.version),
            "io.mlship.sha256": version.artifact_sha256,
        },
    )
    (out / "Dockerfile").write_text(render_dockerfile(spec))
    (out / ".dockerignore").write_text(render_dockerignore(not pull))
    return DockerBuild(
        out=out,
        ref=version.ref,
        served_ref=served,
        baked=not pull,
        sha256=version.artifact_sha256,
        image=f"{image_name(version.name)}:{version.version}",
        command=(*ENTRYPOINT, *serve_args(served)),
        warnings=tuple(warnings),
    )


def _manifest(
    version: ModelVersion, served: str, pull: bool, mlship_version: str, built_at: str
) -> dict[str, Any]:
    return {
        "name": version.name,
        "version": version.version,
        "served_ref": served,
        "baked": not pull,
        "format": version.format,
        "artifact": {"sha256": version.artifact_sha256, "size": version.artifact_size},
        "signature": version.signature.to_dict() if version.signature else None,
        "aliases": list(version.aliases),
        "environment": version.environment,
        "mlship": mlship_version,
        "built_at": built_at,
    }
