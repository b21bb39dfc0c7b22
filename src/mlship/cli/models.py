"""``mlship models ...``: register, list, show, diff, alias, archive, history."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlship.cli.output import fmt_time, fmt_value, out, print_json
from mlship.cli.render import print_history, print_version

if TYPE_CHECKING:
    from mlship.registry import Registry

app = typer.Typer(
    help="Register models and manage versions, aliases and their history.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
ReasonOption = Annotated[str | None, typer.Option("--reason", help="Why; kept in the ledger.")]


def _registry() -> Registry:
    from mlship.registry import Registry

    return Registry.from_env()


def _json_arg(value: str | None, option: str) -> dict[str, Any]:
    """A JSON object given inline or as a file path."""
    from mlship.errors import InvalidInput

    if value is None:
        return {}
    text = value
    if not value.lstrip().startswith("{"):
        path = Path(value)
        if not path.is_file():
            raise InvalidInput(
                f"{option} takes a JSON object or the path of a JSON file; {value!r} is neither."
            )
        text = path.read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{option}: invalid JSON ({exc.msg} at line {exc.lineno}).") from None
    if not isinstance(data, dict):
        raise InvalidInput(f'{option} must be a JSON object such as {{"f1": 0.81}}.')
    return data


def _tags(values: list[str]) -> dict[str, str]:
    from mlship.errors import InvalidInput

    tags = {}
    for item in values:
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--tag takes KEY=VALUE; got {item!r}.")
        tags[key] = val
    return tags


@app.command("register")
def register(
    name: Annotated[str, typer.Argument(help="Model name, e.g. fraud.")],
    artifact: Annotated[Path, typer.Argument(help=".skops, .joblib/.pkl, .onnx or MLflow folder.")],
    train_data: Annotated[
        Path | None, typer.Option("--train-data", help="Training data (CSV or Parquet).")
    ] = None,
    label: Annotated[str | None, typer.Option("--label", help="Label column of the data.")] = None,
    metrics: Annotated[str | None, typer.Option("--metrics", help="JSON object or file.")] = None,
    params: Annotated[str | None, typer.Option("--params", help="JSON object or file.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="KEY=VALUE, repeatable.")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    format: Annotated[
        str | None, typer.Option("--format", help="sklearn, onnx, mlflow or python.")
    ] = None,
    trusted: Annotated[
        bool, typer.Option("--trusted", help="Allow pickle-based formats (runs their code).")
    ] = False,
    alias: Annotated[list[str] | None, typer.Option("--alias", help="Set alias(es).")] = None,
    reason: ReasonOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a new version of NAME from a saved model."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    registry = _registry()
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=out(),
        transient=True,
        disable=as_json,
    ) as progress:
        progress.add_task(f"Registering {name} (serialise, profile, hash, upload)", total=None)
        version = registry.register(
            artifact,
            name,
            train_data=train_data,
            label=label,
            metrics=_json_arg(metrics, "--metrics"),
            params=_json_arg(params, "--params"),
            tags=_tags(tag or []),
            description=description,
            format=format,
            trusted=trusted,
            reason=reason,
        )
        for a in alias or []:
            version = registry.set_alias(version.ref, a, reason=reason)
    if as_json:
        print_json(version.to_dict())
        return
    out().print(
        f"Registered [bold]{version.ref}[/] ({version.format}, {version.artifact_size:,} bytes, "
        f"sha256 {version.artifact_sha256[:12]})"
        + (f" aliases: {', '.join(version.aliases)}" if version.aliases else "")
    )


@app.command("list")
def list_(
    name: Annotated[str | None, typer.Argument(help="List the versions of this model.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List models, or the versions of one model."""
    from rich.table import Table

    registry = _registry()
    if name is None:
        summaries = registry.list_models()
        if as_json:
            print_json([s.to_dict() for s in summaries])
            return
        table = Table(title="Models")
        for col in ("name", "latest", "versions", "aliases", "updated"):
            table.add_column(col)
        for s in summaries:
            aliases = ", ".join(f"{a}→{v}" for a, v in s.aliases.items())
            table.add_row(
                s.name, str(s.latest_version), str(s.versions), aliases, fmt_time(s.updated_at)
            )
        out().print(table if summaries else "No models yet. Register one: mlship models register")
        return
    versions = registry.list_versions(name)
    if as_json:
        print_json([v.to_dict() for v in versions])
        return
    table = Table(title=f"Versions of {name}")
    for col in ("version", "created", "status", "aliases", "format", "metrics", "rows"):
        table.add_column(col)
    for v in versions:
        table.add_row(
            str(v.version),
            fmt_time(v.created_at),
            v.status,
            ", ".join(v.aliases),
            v.format,
            ", ".join(f"{k}={fmt_value(m)}" for k, m in v.metrics.items()),
            fmt_value(v.row_count),
        )
    out().print(table)


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@ALIAS.")],
    as_json: JsonOption = False,
) -> None:
    """Show one version: metadata, what loading its artifact trusts, metrics, params, features
    and data profile."""
    from mlship.registry.registration import artifact_trust

    version = _registry().get(ref)
    if as_json:
        print_json(version.to_dict() | {"trust": artifact_trust(version.load_spec)})
        return
    print_version(version, out())


@app.command("diff")
def diff(
    a: Annotated[str, typer.Argument(help="First version, e.g. fraud@3.")],
    b: Annotated[str, typer.Argument(help="Second version, e.g. fraud@4.")],
    all_rows: Annotated[bool, typer.Option("--all", help="Show equal values too.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Compare two versions: metrics, params, features, data profile, environment."""
    from rich.table import Table

    from mlship.registry.diff import diff_versions

    registry = _registry()
    result = diff_versions(registry.get(a), registry.get(b))
    if as_json:
        print_json(result.to_dict())
        return
    table = Table(title=f"{result.a} vs {result.b}")
    for col, justify in (
        ("section", "left"),
        ("key", "left"),
        (result.a, "right"),
        (result.b, "right"),
        ("Δ", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for row in result.rows:
        if not all_rows and not row.changed:
            continue
        delta = row.delta
        table.add_row(
            row.section,
            row.key,
            fmt_value(row.a),
            fmt_value(row.b),
            "" if delta is None else f"{delta:+.4g}",
            style=None if row.changed else "dim",
        )
    out().print(table)


@app.command("alias")
def alias(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION to point the alias at (or NAME).")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="e.g. production.")],
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias.")] = False,
    reason: ReasonOption = None,
    as_json: JsonOption = False,
) -> None:
    """Point ALIAS at a version (moving it), or remove it with --delete."""
    registry = _registry()
    if delete:
        name = ref.partition("@")[0]
        version = registry.delete_alias(name, alias_name, reason=reason)
        if as_json:
            print_json({"name": name, "alias": alias_name, "deleted": True, "version": version})
        else:
            out().print(f"Removed alias {alias_name!r} from {name}@{version}")
        return
    result = registry.set_alias(ref, alias_name, reason=reason)
    if as_json:
        print_json({"name": result.name, "alias": alias_name, "version": result.version})
    else:
        out().print(f"{result.name}@{alias_name} → version {result.version}")


@app.command("archive")
def archive(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION to archive.")],
    reason: ReasonOption = None,
    as_json: JsonOption = False,
) -> None:
    """Archive a version (refused while an alias points at it)."""
    version = _registry().archive(ref, reason=reason)
    if as_json:
        print_json(version.to_dict())
    else:
        out().print(f"Archived {version.ref}")


@app.command("history")
def history(
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias_name: Annotated[
        str | None, typer.Option("--alias", help="With --at: which version had this alias.")
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="ISO time, e.g. 2026-03-03T14:00 (UTC if no zone).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The ledger of NAME: registrations, alias moves, archives; or which version an alias named
    at a given time (--alias production --at 2026-03-03T14:00)."""

    from mlship.errors import InvalidInput

    registry = _registry()
    if at is not None or alias_name is not None:
        if at is None or alias_name is None:
            raise InvalidInput(
                "--alias and --at go together, e.g. --alias production --at 2026-03-03T14:00."
            )
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            raise InvalidInput(
                f"--at must be an ISO time such as 2026-03-03T14:00; got {at!r}."
            ) from None
        version = registry.alias_at(name, alias_name, when)
        if as_json:
            print_json({"name": name, "alias": alias_name, "at": at, "version": version})
        elif version is None:
            out().print(f"{name}@{alias_name} pointed at no version at {at}.")
        else:
            out().print(f"{name}@{alias_name} was version {version} at {at}.")
        return
    events = registry.history(name)
    if as_json:
        print_json([e.to_dict() for e in events])
        return
    print_history(events, name, out())
