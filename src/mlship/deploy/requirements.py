"""The pinned requirements of an image.

What goes into ``requirements.txt``: every distribution mlship needs at run time (its requirements,
followed through their own requirements and extras, with markers evaluated for the image: Linux,
CPython), pinned to the version installed where ``mlship build`` runs. The model's recorded
environment wins where it names another version: a model must be loaded by the library versions
that saved it. A pin the model forces that breaks a requirement of another pinned distribution
stops the build, because the image could not install it.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING

from mlship.errors import ConfigError

if TYPE_CHECKING:
    from packaging.requirements import Requirement

MODEL = "the model's environment"
HERE = "installed here"


@dataclass(frozen=True, slots=True)
class Pin:
    """One ``name==version`` line and where its version came from."""

    name: str
    version: str
    source: str
    """:data:`HERE` (the environment running ``mlship build``) or :data:`MODEL`."""

    def line(self) -> str:
        note = "  # from the model's environment" if self.source == MODEL else ""
        return f"{self.name}=={self.version}{note}"


@dataclass(frozen=True, slots=True)
class PinnedRequirements:
    """The pins of an image and what the user should know about them."""

    pins: tuple[Pin, ...]
    python: str
    """``major.minor`` of the image's Python."""
    warnings: tuple[str, ...]

    def to_text(self, header: str) -> str:
        lines = [f"# {line}" if line else "#" for line in header.splitlines()]
        lines += [
            "# Versions are those installed where `mlship build` ran; where the model's recorded",
            "# environment names another version, the model's wins (marked below).",
        ]
        lines += [pin.line() for pin in self.pins]
        return "\n".join(lines) + "\n"


def image_markers(python: str, machine: str | None = None) -> dict[str, str]:
    """PEP 508 marker values of the image: Linux, CPython ``python`` on ``machine``."""
    full = platform.python_version()
    if not full.startswith(python + "."):
        full = f"{python}.0"
    return {
        "implementation_name": "cpython",
        "implementation_version": full,
        "os_name": "posix",
        "platform_machine": machine or platform.machine(),
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": full,
        "python_version": python,
        "sys_platform": "linux",
    }


def pin_requirements(
    model_packages: Mapping[str, str],
    *,
    model_python: str | None = None,
    extras: frozenset[str] = frozenset(),
    exclude: frozenset[str] = frozenset({"mlship"}),
) -> PinnedRequirements:
    """Pins for an image that runs mlship (with ``extras``) and loads a model whose environment
    recorded ``model_packages`` (``{"scikit-learn": "1.5.2", ...}``).

    Distributions in ``exclude`` (mlship itself: its wheel is copied) are left out.

    >>> pins = pin_requirements({})
    >>> any(p.name == "scikit-learn" for p in pins.pins)
    True
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    python = ".".join(platform.python_version_tuple()[:2])
    markers = image_markers(python)
    warnings: list[str] = []
    if model_python and ".".join(model_python.split(".")[:2]) != python:
        warnings.append(
            f"The model was registered under Python {model_python}; the image runs Python "
            f"{python}, the Python mlship runs on here."
        )
    roots = [Requirement(f"mlship[{','.join(sorted(extras))}]" if extras else "mlship")]
    wanted = {canonicalize_name(n): v for n, v in model_packages.items()}
    skipped = {canonicalize_name(n) for n in exclude}
    for name in sorted(wanted):
        if name not in skipped:
            roots.append(Requirement(name))
    installed, edges, missing = _closure(roots, markers)
    pins: dict[str, Pin] = {name: Pin(name, version, HERE) for name, version in installed.items()}
    for name, version in sorted(wanted.items()):
        if name in skipped:
            mine = installed.get(name)
            if mine is not None and mine != version:
                warnings.append(
                    f"The model was registered with {name} {version}; the image gets {name} "
                    f"{mine}, the version running here."
                )
            continue
        here = pins.get(name)
        if here is None:
            if name in missing:
                missing.discard(name)
                warnings.append(
                    f"{name} {version} (from the model's environment) is not installed here, so "
                    "its own dependencies are not pinned: pip resolves them in the image."
                )
            pins[name] = Pin(name, version, MODEL)
        elif here.version != version:
            warnings.append(
                f"The model was registered with {name} {version}, this environment has "
                f"{here.version}: the image pins {version} (the model's)."
            )
            pins[name] = Pin(name, version, MODEL)
    if missing:
        raise ConfigError(
            "The image needs these distributions, which are not installed here: "
            f"{', '.join(sorted(missing))}. Run mlship build on Linux in the environment mlship "
            "runs in (pip install them), or install them here first."
        )
    _check_edges(pins, edges)
    for name in skipped:
        pins.pop(name, None)
    return PinnedRequirements(
        pins=tuple(pins[name] for name in sorted(pins)), python=python, warnings=tuple(warnings)
    )


def _closure(
    roots: list[Requirement], markers: dict[str, str]
) -> tuple[dict[str, str], list[tuple[str, Requirement]], set[str]]:
    """Installed versions of everything ``roots`` pull in on the image, the requirement edges
    (parent, requirement), and the names that are needed but not installed."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    versions: dict[str, str] = {}
    edges: list[tuple[str, Requirement]] = []
    missing: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(canonicalize_name(r.name), frozenset(r.extras)) for r in roots]
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.add(name)
            continue
        versions[name] = dist.version
        for text in dist.requires or ():
            req = Requirement(text)
            if req.marker is not None and not any(
                req.marker.evaluate({**markers, "extra": extra}) for extra in {"", *extras}
            ):
                continue
            edges.append((name, req))
            todo.append((canonicalize_name(req.name), frozenset(req.extras)))
    return versions, edges, missing


def _check_edges(pins: Mapping[str, Pin], edges: list[tuple[str, Requirement]]) -> None:
    """Refuse a pin taken from the model that another pinned distribution does not accept."""
    from packaging.utils import canonicalize_name

    for parent, req in edges:
        pin = pins.get(canonicalize_name(req.name))
        if pin is None or pin.source != MODEL:
            continue
        if not req.specifier.contains(pin.version, prereleases=True):
            needed = pins[parent].version if parent in pins else "?"
            raise ConfigError(
                f"The model was registered with {pin.name} {pin.version}, but {parent} {needed} "
                f"needs {req}. The image could not install both: register the model again under "
                "the current versions, or run mlship build in an environment that matches the "
                "model's."
            )
