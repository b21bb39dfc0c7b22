"""``mlship run`` (the ``mlship.toml`` pipeline, with a progress view) and ``mlship reproduce``.

Exit codes: 0 the pipeline passed (or the model was reproduced); 1 a stage failed (tests, a data
check, training, model sanity, a gate, the smoke test), the new model is different, or the user
declined to run the recorded training; 2 a bad ``mlship.toml``, a missing or changed data file, a
deployment busy with another rollout, or ``reproduce`` without a terminal to ask on and no --yes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlship.cli.output import err, out, print_json

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from mlship.pipeline import PipelineResult, StageResult

_ICONS = {"pass": ("✔", "green"), "fail": ("✘", "bold red"), "skip": ("-", "dim")}
STAGE_NAMES = "test, validate, train, sanity, gate, deploy"


class ProgressView:
    """A spinner for the running stage and one line per finished stage."""

    def __init__(self, console: Console) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._console = console
        self._progress: Progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> ProgressView:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def stage_started(self, stage: str) -> None:
        from mlship.pipeline.results import TITLES

        self._task = self._progress.add_task(f"{TITLES[stage]} ...", total=None)

    def stage_finished(self, result: StageResult) -> None:
        from rich.text import Text

        from mlship.pipeline.results import TITLES

        if self._task is not None:
            self._progress.remove_task(self._task)
            self._task = None
        icon, style = _ICONS[result.status]
        took = f"{result.duration_s:5.1f} s" if result.status != "skip" else " " * 7
        line = Text.assemble(
            (f"{icon} ", style),
            (f"{TITLES[result.stage]:<19}", "bold" if result.status != "skip" else "dim"),
            (f"{took}  ", "dim"),
            (result.message, "dim" if result.status == "skip" else ""),
        )
        self._progress.console.print(line)


def run(
    config: Annotated[
        Path | None, typer.Option("--config", help="mlship.toml to run (default ./mlship.toml).")
    ] = None,
    until: Annotated[
        str,
        typer.Option(
            "--until", help=f"Stop after this stage ({STAGE_NAMES}); 'gate' for pull requests."
        ),
    ] = "deploy",
    reports: Annotated[
        Path | None,
        typer.Option("--reports", help="Write each stage's report here (JUnit XML, Markdown)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run as JSON.")] = False,
) -> None:
    """Run the project pipeline of mlship.toml: the project's tests, data validation, train and
    register, model sanity, gates, deploy. Stops at the first failed stage (exit code 1) and
    records the run in the model's ledger."""
    from mlship.pipeline import load_pipeline_config, run_pipeline
    from mlship.registry import Registry

    pipeline = load_pipeline_config(config)
    registry = Registry.from_env()
    if as_json:
        result = run_pipeline(registry, pipeline, until=until)
    else:
        out().print(
            f"Pipeline of {pipeline.model.name} ({pipeline.path.name}"
            + (f", until {until}" if until != "deploy" else "")
            + ")"
        )
        with ProgressView(out()) as view:
            result = run_pipeline(registry, pipeline, until=until, observer=view)
    if reports is not None:
        _write_reports(result, reports)
    if as_json:
        print_json(result.to_dict())
    else:
        _summary(result)
    error = result.error()
    if error is not None:
        raise error


def _summary(result: PipelineResult) -> None:
    from rich.text import Text

    from mlship.cli.render_report import print_report

    console = out()
    failed = result.failed_stage
    if failed is not None:
        if failed.report is not None:
            print_report(failed.report, console, show_passed=False)
        if failed.output:
            console.print(Text(f"Last lines of the output ({failed.stage}):", style="bold"))
            console.print(Text(failed.output))
    ledger = (
        f"Recorded as run {result.run_id} (mlship models history {result.model})."
        if result.recorded
        else f"Not recorded in the ledger: {result.model} has no version yet."
    )
    if failed is None:
        made = f"{result.ref} " if result.ref else ""
        done = "deployed" if result.until == "deploy" else f"done through '{result.until}'"
        console.print(
            Text.assemble(
                ("Pipeline passed", "bold green"),
                f" in {result.duration_s:.1f} s: {made}{done}. {ledger}",
            )
        )
    else:
        console.print(
            Text.assemble(
                ("Pipeline failed", "bold red"),
                f" at stage '{failed.stage}' after {result.duration_s:.1f} s. {ledger}",
            )
        )


def _write_reports(result: PipelineResult, folder: Path) -> None:
    from mlship.checks.report_writers import write_reports

    folder.mkdir(parents=True, exist_ok=True)
    for stage in result.stages:
        if stage.report is not None:
            write_reports(
                stage.report,
                junit_path=folder / f"{stage.stage}.xml",
                markdown_path=folder / f"{stage.stage}.md",
            )


def reproduce(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION registered by mlship run.")],
    project: Annotated[
        Path, typer.Option("--project", help="The project folder (where mlship.toml is).")
    ] = Path("."),
    tolerance: Annotated[
        float,
        typer.Option("--tolerance", help="Largest difference of a score or metric tolerated."),
    ] = 1e-6,
    yes: Annotated[
        bool,
        typer.Option("--yes", "-y", help="Run the recorded training without asking first."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
) -> None:
    """Train a version again exactly as mlship run did and compare it with the registered model
    on the holdout: identical, within tolerance, or different (exit code 1). Refuses when a
    data file changed; warns when the environment or the code did. Shows the recorded command
    (or entry point) and asks before running it, unless --yes."""
    from mlship.errors import CheckFailed
    from mlship.pipeline.reproduce import plan_reproduction, run_reproduction
    from mlship.registry import Registry

    registry = Registry.from_env()
    if as_json:
        plan = plan_reproduction(registry, ref, project_dir=project.resolve())
    else:
        with err().status(f"Checking the data of {ref}", spinner="dots"):
            plan = plan_reproduction(registry, ref, project_dir=project.resolve())
    for text in plan.warnings:
        err().print(f"[yellow]Warning:[/] {_escape(text)}", markup=True, soft_wrap=True)
    _confirm(plan.describe(), yes=yes)
    if as_json:
        result = run_reproduction(registry, plan, tolerance=tolerance)
    else:
        with err().status(f"Training {ref} again", spinner="dots"):
            result = run_reproduction(registry, plan, tolerance=tolerance)
    if as_json:
        print_json(result.to_dict())
    if result.verdict == "different":
        raise CheckFailed(result.message())
    if not as_json:
        out().print(_styled(result.message(), result.verdict))


def _confirm(training: str, *, yes: bool) -> None:
    """Show what is about to run (on stderr: stdout stays JSON) and ask, unless ``yes``: the
    recipe comes from the database, and whoever can write it chooses the command."""
    import sys

    from rich.text import Text

    from mlship.errors import ConfigError

    err().print(Text(training), soft_wrap=True)
    if yes:
        return
    if not sys.stdin.isatty():
        raise ConfigError(
            "Refusing to run the recorded training without confirmation: stdin is not a "
            "terminal. Check the command above and pass --yes to run it."
        )
    typer.confirm("Run it?", default=False, abort=True, err=True)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _styled(message: str, verdict: str) -> Any:
    from rich.text import Text

    return Text(message, style="green" if verdict == "identical" else "yellow")
