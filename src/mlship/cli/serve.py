"""``mlship serve`` and ``mlship logs``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from mlship.cli.output import out, print_json


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8080,
    workers: Annotated[int, typer.Option("--workers", help="Worker processes.")] = 1,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", help="Serve this reference (repeatable), e.g. fraud@production."),
    ] = None,
    max_batch_rows: Annotated[int, typer.Option("--max-batch-rows")] = 10_000,
    max_body_mb: Annotated[float, typer.Option("--max-body-mb")] = 10.0,
    unknown_features: Annotated[
        str, typer.Option("--unknown-features", help="reject or ignore.")
    ] = "reject",
    batching: Annotated[bool, typer.Option("--batching/--no-batching")] = True,
    max_batch_size: Annotated[int, typer.Option("--max-batch-size")] = 256,
    max_wait_ms: Annotated[float, typer.Option("--max-wait-ms")] = 5.0,
    log_predictions: Annotated[bool, typer.Option("--log-predictions/--no-log-predictions")] = True,
    on_log_full: Annotated[
        str | None,
        typer.Option(
            "--on-log-full",
            help="When the disk is full and the records kept in memory reach their bound: "
            "'answer' (records are lost, counted) or 'refuse' (503). Default: answer.",
        ),
    ] = None,
    log_memory_records: Annotated[
        int,
        typer.Option(
            "--log-memory-records",
            help="Prediction records kept in memory while the disk is full.",
        ),
    ] = 50_000,
    drain_timeout: Annotated[
        float,
        typer.Option(
            "--drain-timeout",
            help="Seconds a stopping server (SIGTERM) may take: requests in flight, then the "
            "prediction log.",
        ),
    ] = 30.0,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Allow a non-loopback host without MLSHIP_TOKEN.")
    ] = False,
    docs: Annotated[
        bool,
        typer.Option("--docs", help="Serve Swagger UI at /docs (its script comes from a CDN)."),
    ] = False,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            help="A name clients may send as Host besides the bound address and loopback "
            "(repeatable; '*' allows any). Other hosts are refused (421): DNS rebinding.",
        ),
    ] = None,
) -> None:
    """Serve every deployed model (and --model references) over HTTP."""
    import uvicorn

    from mlship.errors import ConfigError
    from mlship.registry import Registry
    from mlship.rollout import DeploymentStore
    from mlship.serving.entrypoint import ENV_KEY, settings_to_env
    from mlship.serving.settings import ServeSettings

    settings = ServeSettings.from_env(
        host=host,
        port=port,
        workers=workers,
        models=tuple(model or ()),
        max_batch_rows=max_batch_rows,
        max_body_mb=max_body_mb,
        unknown_features=unknown_features,
        batching=batching,
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        log_predictions=log_predictions,
        on_log_full=on_log_full,
        drain_timeout_s=drain_timeout,
        log_memory_records=log_memory_records,
        allowed_hosts=tuple(allowed_host) if allowed_host else None,
        docs=docs or None,
    )
    if not settings.is_loopback and not settings.token and not insecure:
        raise ConfigError(
            f"Refusing to serve on {host} without a token: anyone who reaches it could change "
            "deployments. Set MLSHIP_TOKEN, or pass --insecure if a proxy guards it."
        )
    registry = Registry.from_env()
    for ref in settings.models:
        registry.resolve(ref)  # fail now, with the close names, not inside a worker
    if not settings.models and not DeploymentStore(registry).list():
        out().print("[yellow]No deployments yet:[/] pass --model NAME@REF to serve a model.")
    os.environ[ENV_KEY] = settings_to_env(settings)
    os.environ.setdefault("OMP_NUM_THREADS", str(settings.threads()))
    out().print(f"Serving on http://{host}:{port} ({workers} worker(s))")
    uvicorn.run(
        "mlship.serving.entrypoint:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=max(1, round(settings.request_drain_s)),
    )


def logs(
    name: Annotated[str, typer.Argument(help="Model name.")],
    since: Annotated[
        str | None, typer.Option("--since", help="1h, 30m, 2d or an ISO time.")
    ] = None,
    out_path: Annotated[
        Path | None, typer.Option("--out", help="Write CSV or Parquet (by suffix).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Export the prediction log of NAME (with feedback labels where they arrived)."""
    from mlship.registry import Registry
    from mlship.serving.log_export import export, parse_since

    registry = Registry.from_env()
    registry.get(name)
    start = parse_since(since) if since else None
    path = out_path or Path(f"{name}-predictions.csv")
    count = export(registry.store, name, start, path)
    if as_json:
        print_json({"model": name, "rows": count, "path": str(path)})
    else:
        out().print(f"Wrote {count:,} prediction(s) of {name} to {path}")
