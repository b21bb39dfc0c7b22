"""``mlship build docker`` and ``mlship build k8s``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlship.cli.output import err, out, print_json

if TYPE_CHECKING:
    from mlship.deploy import DockerBuild, KubernetesBuild

app = typer.Typer(
    help="Package a model: a Docker build context, Kubernetes manifests and a Helm chart.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

OutOption = Annotated[
    Path, typer.Option("--out", help="Folder to write (created; must be empty unless --force).")
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Replace what an earlier build wrote into --out.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@app.command("docker")
def docker(
    ref: Annotated[str, typer.Argument(help="The version to serve: NAME@VERSION or NAME@ALIAS.")],
    out_dir: OutOption,
    pull: Annotated[
        bool,
        typer.Option(
            "--pull",
            help="Bake no model: the container serves REF from the store that MLSHIP_DB_URL and "
            "MLSHIP_ARTIFACTS name at start.",
        ),
    ] = False,
    wheel: Annotated[
        Path | None,
        typer.Option("--wheel", help="mlship wheel to install (default: built from the source)."),
    ] = None,
    base_image: Annotated[
        str | None,
        typer.Option("--base-image", help="Base image (default python:3.11-slim-bookworm)."),
    ] = None,
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Write a Docker build context that serves REF with `mlship serve` on port 8080."""
    from mlship.deploy import build_docker_context
    from mlship.registry import Registry

    registry = Registry.from_env()
    try:
        build = build_docker_context(
            registry, ref, out_dir, pull=pull, force=force, wheel=wheel, base_image=base_image
        )
    finally:
        registry.close()
    if as_json:
        print_json(build.to_dict())
        return
    _print_docker(build)


def _print_docker(build: DockerBuild) -> None:
    for warning in build.warnings:
        err().print(f"warning: {warning}", markup=False, style="yellow")
    what = "baked in" if build.baked else "pulled from the store at start"
    out().print(f"Wrote a Docker build context for {build.ref} ({what}) to {build.out}")
    env = "" if build.baked else " -e MLSHIP_DB_URL=... -e MLSHIP_ARTIFACTS=..."
    for command in (
        f"docker build -t {build.image} {build.out}",
        f"docker run -p 8080:8080 -e MLSHIP_TOKEN=...{env} {build.image}",
    ):
        out().print(f"  {command}", soft_wrap=True, markup=False)


@app.command("k8s")
def k8s(
    name: Annotated[
        str,
        typer.Argument(
            help="Model NAME, or NAME@REF: what replicas serve until `mlship deploy` gives the "
            "model a deployment (default NAME@production)."
        ),
    ],
    out_dir: OutOption,
    replicas: Annotated[
        int, typer.Option("--replicas", help="Replicas (the autoscaler's minimum).")
    ] = 3,
    max_replicas: Annotated[
        int | None,
        typer.Option("--max-replicas", help="The autoscaler's maximum (default 3 x replicas)."),
    ] = None,
    image: Annotated[
        str | None,
        typer.Option("--image", help="Image to run (default mlship-NAME:VERSION of REF)."),
    ] = None,
    namespace: Annotated[str, typer.Option("--namespace")] = "mlship",
    artifacts: Annotated[
        str | None,
        typer.Option(
            "--artifacts",
            help="MLSHIP_ARTIFACTS of the pods, e.g. s3://bucket/models (default: this "
            "environment's, when it is an object-store URL).",
        ),
    ] = None,
    s3_endpoint_url: Annotated[
        str | None,
        typer.Option("--s3-endpoint-url", help="MLSHIP_S3_ENDPOINT_URL of the pods (MinIO...)."),
    ] = None,
    secret: Annotated[
        str | None,
        typer.Option("--secret", help="Secret with MLSHIP_DB_URL, MLSHIP_TOKEN, AWS_* keys."),
    ] = None,
    cpu: Annotated[str, typer.Option("--cpu", help="CPU of each replica (request = limit).")] = "1",
    memory: Annotated[
        str, typer.Option("--memory", help="Memory of each replica (request = limit).")
    ] = "1Gi",
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            help="Do not look REF up in the registry (then --image and --artifacts are needed).",
        ),
    ] = False,
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Write Kubernetes manifests and a Helm chart that run `mlship serve` replicas for NAME."""
    from mlship.config import StoreSettings
    from mlship.deploy import KubernetesOptions, build_kubernetes
    from mlship.deploy.docker import image_name
    from mlship.errors import ConfigError
    from mlship.registry import ModelRef

    parsed = ModelRef.parse(name)
    ref = str(parsed) if "@" in name else f"{parsed.name}@production"
    settings = StoreSettings.from_env()
    if image is None:
        if offline:
            raise ConfigError("--offline needs --image: the image's tag cannot be looked up.")
        image = f"{image_name(parsed.name)}:{_resolve_version(ref)}"
    elif not offline:
        _resolve_version(ref)
    if artifacts is None and "://" in settings.artifacts:
        artifacts = settings.artifacts
    if artifacts is None:
        raise ConfigError(
            f"Replicas share one artifact store, and MLSHIP_ARTIFACTS here is the local folder "
            f"{settings.artifacts}. Pass --artifacts s3://bucket/prefix."
        )
    options = KubernetesOptions(
        model=parsed.name,
        ref=ref,
        image=image,
        artifacts=artifacts,
        replicas=replicas,
        max_replicas=max_replicas,
        namespace=namespace,
        secret=secret,
        s3_endpoint_url=s3_endpoint_url or settings.s3_endpoint_url,
        cpu=cpu,
        memory=memory,
    )
    build = build_kubernetes(options, out_dir, force=force)
    if as_json:
        print_json(build.to_dict())
        return
    _print_k8s(build)


def _resolve_version(ref: str) -> int:
    """The version ``ref`` names in this environment's registry (fails on an unknown model)."""
    from mlship.registry import Registry

    registry = Registry.from_env()
    try:
        return registry.resolve(ref)[1]
    finally:
        registry.close()


def _print_k8s(build: KubernetesBuild) -> None:
    out().print(f"Wrote manifests for {build.serves} ({build.image}) to {build.out / 'manifests'}")
    out().print(f"and the Helm chart {build.chart}. First the Secret, then either one:")
    for command in (
        f"kubectl -n {build.namespace} create secret generic {build.secret} "
        "--from-literal=MLSHIP_DB_URL=... --from-literal=MLSHIP_TOKEN=...",
        f"kubectl -n {build.namespace} apply -f {build.out / 'manifests'}",
        f"helm install {build.name} {build.chart} -n {build.namespace}",
    ):
        out().print(f"  {command}", soft_wrap=True, markup=False)
