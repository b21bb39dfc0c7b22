"""Entry point: ``mlship``. Maps every :class:`~mlship.errors.MlshipError` to a one-line message and
its exit code (2 usage/data error, 1 failed check), never a traceback."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from mlship.cli import build, checks, drift, models, monitor, rollout, run, serve

app = typer.Typer(
    name="mlship",
    help="Take a trained model to production and keep it healthy there.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(models.app, name="models")
app.add_typer(build.app, name="build")
app.command("check")(checks.check)
app.command("gate")(checks.gate)
app.command("serve")(serve.serve)
app.command("logs")(serve.logs)
app.command("drift")(drift.drift)
app.command("monitor")(monitor.monitor)
app.command("run")(run.run)
app.command("reproduce")(run.reproduce)
for _command in (
    rollout.deploy,
    rollout.status,
    rollout.promote,
    rollout.rollback,
    rollout.pause,
    rollout.resume,
    rollout.abort,
    rollout.controller,
):
    app.command(_command.__name__)(_command)


@app.command("version")
def version() -> None:
    """Print the mlship version."""
    from mlship import __version__

    typer.echo(__version__)


@app.command("demo")
def demo(
    home: Annotated[
        Path | None,
        typer.Option("--home", help="Folder for the demo store (default: a new temp dir)."),
    ] = None,
    fast: Annotated[
        bool, typer.Option("--fast", help="Shorter canary steps and less traffic (CI).")
    ] = False,
    keep_serving: Annotated[
        bool,
        typer.Option("--keep-serving", help="Keep the server and its dashboard up; Ctrl-C stops."),
    ] = False,
    port: Annotated[
        int | None, typer.Option("--port", help="Port of the demo's server (default: a free one).")
    ] = None,
) -> None:
    """Run the model life cycle on generated data, in a throw-away store: register, check, gate,
    canary, slice gate, automatic rollback, drift alert, retraining. Exit code 0 when every step
    behaved as narrated."""
    from mlship.demo import run_demo

    raise typer.Exit(run_demo(home, fast=fast, keep_serving=keep_serving, port=port))


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; the ``mlship`` console script calls this."""
    from mlship.errors import MlshipError

    logging.basicConfig(
        level=os.environ.get("MLSHIP_LOG_LEVEL", "WARNING").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        app(args=argv, standalone_mode=True)
    except MlshipError as exc:
        from mlship.cli.output import error

        error(exc.message)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a bug: one line, and the traceback only on request
        if os.environ.get("MLSHIP_DEBUG"):
            raise
        from mlship.cli.output import error

        error(
            f"internal error ({type(exc).__name__}: {exc}). Run again with MLSHIP_DEBUG=1 "
            "for the traceback, and report it."
        )
        sys.exit(3)
