"""Rich renderings of registry objects, shared by the CLI and the demo."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlship.cli.output import fmt_time, fmt_value

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from mlship.registry import Event, ModelVersion


def print_version(v: ModelVersion, console: Console) -> None:
    """Metadata, metrics, params and the feature profile of one version."""
    from rich.table import Table

    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold")
    info.add_column()
    info.add_row("model", v.ref + (f"  ({', '.join(v.aliases)})" if v.aliases else ""))
    info.add_row("created", fmt_time(v.created_at))
    info.add_row("status", v.status)
    blessed = {
        None: "never gated",
        True: "yes (latest gate passed)",
        False: "NO (latest gate failed)",
    }
    info.add_row("blessed", blessed[v.blessed])
    info.add_row("format", v.format)
    info.add_row("artifact", f"{v.artifact_uri} ({v.artifact_size:,} bytes)")
    info.add_row("sha256", v.artifact_sha256)
    info.add_row("trusted", trust_text(v))
    if v.signature:
        info.add_row(
            "output",
            v.signature.output_kind
            + (f" classes={list(v.signature.classes)}" if v.signature.classes else ""),
        )
    info.add_row("label", fmt_value(v.label))
    info.add_row(
        "training data",
        f"{fmt_value(v.row_count)} rows, fingerprint {(v.data_fingerprint or '-')[:16]}",
    )
    info.add_row("parent", fmt_value(v.parent_version))
    info.add_row("git commit", fmt_value(v.git_commit))
    info.add_row("python", str(v.environment.get("python")))
    info.add_row(
        "packages", ", ".join(f"{k}=={val}" for k, val in v.environment.get("packages", {}).items())
    )
    if v.description:
        info.add_row("description", v.description)
    if v.tags:
        info.add_row("tags", ", ".join(f"{k}={val}" for k, val in v.tags.items()))
    console.print(info)
    if v.metrics or v.params:
        table = Table(title="Metrics and params")
        table.add_column("kind")
        table.add_column("name")
        table.add_column("value", justify="right")
        for k, m in v.metrics.items():
            table.add_row("metric", k, fmt_value(m))
        for k, p in v.params.items():
            table.add_row("param", k, fmt_value(p))
        console.print(table)
    features = (v.data_profile or {}).get("features", {})
    if v.signature and v.signature.features:
        table = Table(title="Features")
        for col in ("feature", "dtype", "missing", "min", "max", "mean", "top categories"):
            table.add_column(
                col, justify="right" if col in ("missing", "min", "max", "mean") else "left"
            )
        for f in v.signature.features:
            p = features.get(f.name, {})
            cats = p.get("categories") or {}
            table.add_row(
                f.name,
                f.dtype,
                f"{p['missing_rate']:.2%}" if "missing_rate" in p else "-",
                fmt_value(p.get("min")),
                fmt_value(p.get("max")),
                fmt_value(p.get("mean")),
                ", ".join(list(cats)[:4]),
            )
        console.print(table)


def trust_text(v: ModelVersion) -> Text:
    """What loading the artifact trusts, as its load spec says: ``no``, ``yes (joblib pickle:
    ...)``, and the skops types loaded beyond skops' defaults."""
    from rich.text import Text

    from mlship.registry.registration import artifact_trust

    trust = artifact_trust(v.load_spec)
    if trust["trusted"]:
        kind = {"joblib": "joblib pickle", None: f"{v.format} model"}.get(
            trust["serializer"], trust["serializer"]
        )
        text = f"yes ({kind}: loading runs the artifact's code)"
    else:
        text = "no"
    if trust["trusted_types"]:
        types = ", ".join(trust["trusted_types"])
        text += f"; skops loads these types beyond its defaults: {types}"
    return Text(text, style="bold yellow" if trust["trusted"] else "")


def print_history(events: list[Event], name: str, console: Console) -> None:
    """The ledger of one model as a table, oldest first."""
    from rich.table import Table

    table = Table(title=f"History of {name}")
    for col in ("time", "event", "version", "actor", "details", "reason"):
        table.add_column(col)
    for e in events:
        details = ", ".join(f"{k}={fmt_value(v)}" for k, v in e.details.items() if v is not None)
        table.add_row(
            fmt_time(e.at), e.kind, fmt_value(e.version), e.actor, details, e.reason or ""
        )
    console.print(table)
