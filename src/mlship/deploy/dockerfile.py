"""The text of a build context's ``Dockerfile`` and ``.dockerignore`` (pure functions).

Two stages: ``build`` installs the pinned requirements and the mlship wheel into a virtual
environment (and checks the baked artifact against its SHA-256); the final stage copies that
environment onto the same slim Python base and runs ``mlship serve`` as a non-root user.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

HOME = "/var/lib/mlship"
"""``MLSHIP_HOME`` in the image: the baked store, the loader's cache and the prediction spill."""
VENV = "/opt/mlship"
PORT = 8080
UID = 10001
"""A high, numeric UID: Kubernetes can check ``runAsNonRoot`` only against a number."""
ENTRYPOINT = ("mlship", "serve")
IMAGE_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*")
"""What an image reference may look like here (``registry:5000/name:tag@sha256:...``)."""
HEALTHCHECK = (
    f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{PORT}/readyz', timeout=4)"
)


@dataclass(frozen=True, slots=True)
class DockerfileSpec:
    """What differs between images: base, wheel, model reference and whether it is baked in."""

    base_image: str
    wheel: str
    """File name of the mlship wheel under ``wheels/``."""
    served_ref: str
    """What ``--model`` serves: ``NAME@VERSION`` when baked, the given reference with --pull."""
    baked: bool
    comment: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)


def serve_args(served_ref: str) -> tuple[str, ...]:
    """The arguments of ``mlship serve`` in the image (its ``CMD``)."""
    return ("--host", "0.0.0.0", "--port", str(PORT), "--model", served_ref)


def render_dockerfile(spec: DockerfileSpec) -> str:
    """The Dockerfile of a build context."""
    lines = [f"# {c}" if c else "#" for c in spec.comment.splitlines()]
    lines += [
        f"FROM {spec.base_image} AS build",
        "ENV PIP_NO_CACHE_DIR=1 \\",
        "    PIP_DISABLE_PIP_VERSION_CHECK=1",
        "COPY requirements.txt /tmp/requirements.txt",
        "COPY wheels/ /tmp/wheels/",
        f"RUN python -m venv {VENV} \\",
        f"    && {VENV}/bin/pip install --no-cache-dir --requirement /tmp/requirements.txt \\",
        f"    && {VENV}/bin/pip install --no-cache-dir --no-deps /tmp/wheels/{spec.wheel} \\",
        f"    && {VENV}/bin/pip check",
        f"COPY manifest.json {VENV}/mlship-manifest.json",
    ]
    if spec.baked:
        lines += [
            f"COPY model/ {HOME}/",
            f"WORKDIR {HOME}",
            "# The registry checks the hash again at every load; this fails the build early.",
            "RUN sha256sum --check --strict SHA256SUMS",
        ]
    lines += [
        "",
        f"FROM {spec.base_image}",
        f"RUN groupadd --system --gid {UID} mlship \\",
        f"    && useradd --system --uid {UID} --gid mlship --no-create-home \\",
        f"       --home-dir {HOME} --shell /usr/sbin/nologin mlship",
        f"COPY --from=build {VENV} {VENV}",
    ]
    if spec.baked:
        lines.append(f"COPY --from=build --chown={UID}:{UID} {HOME} {HOME}")
    else:
        lines.append(f"RUN install -d -m 0750 -o {UID} -g {UID} {HOME}")
    if spec.labels:
        lines.append(
            "LABEL " + " \\\n      ".join(f"{k}={json.dumps(v)}" for k, v in spec.labels.items())
        )
    lines += [
        f"ENV PATH={VENV}/bin:$PATH \\",
        f"    MLSHIP_HOME={HOME} \\",
        "    PYTHONUNBUFFERED=1 \\",
        "    OMP_NUM_THREADS=1",
        f"WORKDIR {HOME}",
        f"USER {UID}:{UID}",
        f"EXPOSE {PORT}",
        "HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \\",
        f"    CMD {json.dumps(['python', '-c', HEALTHCHECK])}",
        f"ENTRYPOINT {json.dumps(list(ENTRYPOINT))}",
        f"CMD {json.dumps(list(serve_args(spec.served_ref)))}",
    ]
    return "\n".join(lines) + "\n"


def render_dockerignore(baked: bool) -> str:
    """Send the daemon only what the Dockerfile copies."""
    lines = [
        "# Only what the Dockerfile copies goes to the Docker daemon.",
        "*",
        "!requirements.txt",
        "!manifest.json",
        "!wheels",
    ]
    if baked:
        lines.append("!model")
    return "\n".join(lines) + "\n"
