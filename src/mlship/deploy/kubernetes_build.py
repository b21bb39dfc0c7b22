"""``mlship build k8s``: write the manifests and the Helm chart of one model's replicas.

Layout of ``--out``::

    manifests/   configmap.yaml deployment.yaml service.yaml hpa.yaml pdb.yaml networkpolicy.yaml
    helm/<name>/ Chart.yaml values.yaml values.schema.json templates/ (helm install)

The Secret is not written: it holds credentials, so it is created apart (``kubectl create secret
generic <name>-secrets --from-literal=MLSHIP_DB_URL=... --from-literal=MLSHIP_TOKEN=...``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlship.deploy.kubernetes import KubernetesOptions, manifests
from mlship.deploy.outdir import prepare_out_dir

ENTRIES = ("manifests", "helm")


@dataclass(frozen=True, slots=True)
class KubernetesBuild:
    """What ``build_kubernetes`` wrote."""

    out: Path
    manifests: tuple[Path, ...]
    chart: Path
    name: str
    namespace: str
    secret: str
    image: str
    serves: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "manifests": [str(p) for p in self.manifests],
            "chart": str(self.chart),
            "name": self.name,
            "namespace": self.namespace,
            "secret": self.secret,
            "image": self.image,
            "serves": self.serves,
        }


def build_kubernetes(
    options: KubernetesOptions, out: Path, *, force: bool = False, app_version: str | None = None
) -> KubernetesBuild:
    """Write the manifests and the chart for ``options`` into ``out``."""
    from mlship.deploy.helm import write_chart
    from mlship.deploy.wheel import installed_version
    from mlship.deploy.yaml_text import dump_yaml

    version = app_version or installed_version()
    out = prepare_out_dir(out, ENTRIES, force=force)
    folder = out / "manifests"
    folder.mkdir()
    written = []
    for file_name, obj in manifests(options, version).items():
        path = folder / file_name
        path.write_text(dump_yaml(obj))
        written.append(path)
    chart = write_chart(options, version, out / "helm" / options.name)
    return KubernetesBuild(
        out=out,
        manifests=tuple(written),
        chart=chart,
        name=options.name,
        namespace=options.namespace,
        secret=options.secret_name,
        image=options.image,
        serves=options.ref,
    )
