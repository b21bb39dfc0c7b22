"""``mlship deploy|status|promote|rollback|pause|resume|abort|controller``."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Annotated

import typer

from mlship.cli.output import fmt_time, out, print_json

if TYPE_CHECKING:
    from mlship.rollout import Deployment, Rollouts

ReasonOption = Annotated[str | None, typer.Option("--reason", help="Why; kept in the ledger.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(text: str, option: str) -> float:
    """``"10m"`` → 600.0 seconds; plain numbers are seconds."""
    from mlship.errors import ConfigError

    match = _DURATION.match(text)
    if match is None:
        raise ConfigError(
            f"The {option!r} option must be a duration such as 30s, 10m or 2h. "
            f"Got {text!r} instead."
        )
    return float(match.group(1)) * _UNIT[match.group(2)]


def _rollouts() -> Rollouts:
    from mlship.registry import Registry
    from mlship.rollout import Rollouts

    return Rollouts(Registry.from_env())


def _show(deployment: Deployment, as_json: bool, what: str) -> None:
    if as_json:
        print_json(deployment.to_dict())
        return
    share = f"{deployment.traffic:.0%}"
    candidate = (
        f", candidate v{deployment.candidate_version} at {share}"
        if deployment.candidate_version is not None
        else ""
    )
    out().print(
        f"{what}: {deployment.model} stable v{deployment.stable_version}{candidate} "
        f"[{deployment.state}]"
    )


def deploy(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION or NAME@ALIAS to roll out.")],
    strategy: Annotated[
        str, typer.Option("--strategy", help="canary, or blue-green (an atomic switch).")
    ] = "canary",
    steps: Annotated[str, typer.Option("--steps", help="Traffic percentages.")] = "5,10,25,50,100",
    interval: Annotated[str, typer.Option("--interval", help="Time per step, e.g. 5m.")] = "5m",
    min_requests: Annotated[int, typer.Option("--min-requests")] = 200,
    max_wait: Annotated[str, typer.Option("--max-wait")] = "30m",
    force: Annotated[bool, typer.Option("--force", help="Deploy an unblessed version.")] = False,
    reason: ReasonOption = None,
    as_json: JsonOption = False,
) -> None:
    """Roll out a version: a canary judged by the controller, or a blue-green switch."""
    from mlship.errors import ConfigError
    from mlship.registry import Registry
    from mlship.rollout import CanaryConfig, Rollouts

    registry = Registry.from_env()
    if strategy == "blue-green":
        _show(Rollouts(registry).switch(ref, force=force, reason=reason), as_json, "Switched")
        return
    if strategy != "canary":
        raise ConfigError(f"The 'strategy' option must be canary or blue-green. Got {strategy!r}.")
    try:
        percentages = tuple(int(s) for s in steps.split(","))
    except ValueError:
        raise ConfigError(
            f"The 'steps' option must be comma-separated percentages such as "
            f"5,10,25,50,100. Got {steps!r} instead."
        ) from None
    config = CanaryConfig(
        steps=percentages,
        interval_s=parse_duration(interval, "interval"),
        min_requests=min_requests,
        max_wait_s=parse_duration(max_wait, "max_wait"),
    )
    _show(
        Rollouts(registry).start_canary(ref, config, force=force, reason=reason),
        as_json,
        "Deploying",
    )


def status(
    name: Annotated[str, typer.Argument(help="Model name.")],
    watch: Annotated[bool, typer.Option("--watch", help="Refresh every second.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Traffic split, step and the analysis of every step."""
    from rich.live import Live

    from mlship.errors import NotFound
    from mlship.registry import Registry
    from mlship.rollout import DeploymentStore

    registry = Registry.from_env()
    store = DeploymentStore(registry)

    def view() -> object:
        deployment = store.get(name)
        if deployment is None:
            raise NotFound(f"{name!r} has no deployment. Deploy it: mlship deploy {name}@VERSION")
        return _status_table(deployment, registry.history(name))

    if as_json:
        deployment = store.get(name)
        if deployment is None:
            raise NotFound(f"{name!r} has no deployment. Deploy it: mlship deploy {name}@VERSION")
        rollout_events = [
            e.to_dict() for e in registry.history(name) if e.kind not in ("registered", "updated")
        ]
        print_json({**deployment.to_dict(), "events": rollout_events})
        return
    if not watch:
        out().print(view())
        return
    with Live(view(), console=out(), refresh_per_second=2) as live:  # type: ignore[arg-type]
        try:
            while True:
                time.sleep(1)
                live.update(view())  # type: ignore[arg-type]
        except KeyboardInterrupt:
            return


def _status_table(deployment: Deployment, events: list) -> object:  # type: ignore[type-arg]
    from rich.console import Group
    from rich.table import Table

    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("model", deployment.model)
    head.add_row("state", deployment.state)
    head.add_row("stable", f"v{deployment.stable_version}")
    if deployment.candidate_version is not None:
        steps = deployment.config.get("steps", [])
        step = int(deployment.config.get("step", 0))
        head.add_row(
            "candidate",
            f"v{deployment.candidate_version} at {deployment.traffic:.0%} "
            f"(step {step + 1} of {len(steps)}: {steps})",
        )
    table = Table(title="Rollout events")
    for col in ("time", "event", "version", "reason / analysis"):
        table.add_column(col, overflow="fold")
    kinds = (
        "deployed",
        "canary_started",
        "canary_step",
        "promoted",
        "rolled_back",
        "paused",
        "resumed",
        "aborted",
        "alias_set",
    )
    for e in [e for e in events if e.kind in kinds][-15:]:
        analysis = e.details.get("analysis") if isinstance(e.details, dict) else None
        text = e.reason or ""
        if isinstance(analysis, dict):
            checks = ", ".join(f"{c['name']}={c['status']}" for c in analysis.get("checks", []))
            text = f"{text} [{analysis.get('verdict')}: {checks}]".strip()
        table.add_row(fmt_time(e.at), e.kind, str(e.version or ""), text)
    return Group(head, table)


def promote(
    name: Annotated[str, typer.Argument()], reason: ReasonOption = None, as_json: JsonOption = False
) -> None:
    """Make the candidate stable now and move the production alias."""
    _show(_rollouts().promote(name, reason=reason), as_json, "Promoted")


def rollback(
    name: Annotated[str, typer.Argument()], reason: ReasonOption = None, as_json: JsonOption = False
) -> None:
    """All traffic back to the last good version, at once, from any state."""
    _show(_rollouts().rollback(name, reason=reason or "manual rollback"), as_json, "Rolled back")


def pause(
    name: Annotated[str, typer.Argument()], reason: ReasonOption = None, as_json: JsonOption = False
) -> None:
    """Hold a canary at its current step."""
    _show(_rollouts().pause(name, reason=reason), as_json, "Paused")


def resume(
    name: Annotated[str, typer.Argument()], reason: ReasonOption = None, as_json: JsonOption = False
) -> None:
    """Continue a paused canary."""
    _show(_rollouts().resume(name, reason=reason), as_json, "Resumed")


def abort(
    name: Annotated[str, typer.Argument()], reason: ReasonOption = None, as_json: JsonOption = False
) -> None:
    """Stop a canary without judging the candidate."""
    _show(_rollouts().abort(name, reason=reason), as_json, "Aborted")


def controller(
    interval: Annotated[str, typer.Option("--interval", help="Time between ticks.")] = "1s",
) -> None:
    """Run the canary controller alone (when no mlship serve runs it)."""
    from mlship.registry import Registry
    from mlship.rollout import Controller
    from mlship.rollout.leader import Leadership

    registry = Registry.from_env()
    seconds = parse_duration(interval, "interval")
    leader = Leadership(registry.store)
    ctl = Controller(registry)
    out().print("Controller running; Ctrl-C stops it.")
    try:
        while True:
            if leader.held():
                for d in ctl.tick():
                    if d.action != "none":
                        out().print(f"{d.model}: {d.action} ({d.reason})")
            time.sleep(seconds)
    except KeyboardInterrupt:
        leader.release()
