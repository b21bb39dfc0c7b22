"""``mlship deploy|status|promote|rollback|pause|resume|abort|controller``.

``mlship status NAME --report [--html FILE]`` shows the shadow report (the shadow against stable
on the same requests) of the running or last shadow rollout. ``mlship status NAME --watch --json``
prints the ``--json`` object once a second, one per line (NDJSON), until Ctrl-C.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from mlship.cli.output import err, fmt_time, out, print_json

if TYPE_CHECKING:
    from mlship.registry import Event, Registry
    from mlship.rollout import CanaryConfig, Deployment, Rollouts
    from mlship.serving.log_status import LogStatus

ReasonOption = Annotated[str | None, typer.Option("--reason", help="Why; kept in the ledger.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
StepsOption = Annotated[str, typer.Option("--steps", help="Canary traffic percentages.")]
IntervalOption = Annotated[str, typer.Option("--interval", help="Time per step, e.g. 5m.")]
MinRequestsOption = Annotated[int, typer.Option("--min-requests")]
MaxWaitOption = Annotated[str, typer.Option("--max-wait")]


def parse_duration(text: str, option: str) -> float:
    """``"10m"`` → 600.0 seconds; plain numbers are seconds (:mod:`mlship.options`)."""
    from mlship.options import parse_duration as duration

    return duration(text, option).total_seconds()


def _rollouts() -> Rollouts:
    from mlship.registry import Registry
    from mlship.rollout import Rollouts

    return Rollouts(Registry.from_env())


def _canary_config(steps: str, interval: str, min_requests: int, max_wait: str) -> CanaryConfig:
    from mlship.errors import ConfigError
    from mlship.rollout import CanaryConfig

    try:
        percentages = tuple(int(s) for s in steps.split(","))
    except ValueError:
        raise ConfigError(
            f"The 'steps' option must be comma-separated percentages such as "
            f"5,10,25,50,100. Got {steps!r} instead."
        ) from None
    return CanaryConfig(
        steps=percentages,
        interval_s=parse_duration(interval, "interval"),
        min_requests=min_requests,
        max_wait_s=parse_duration(max_wait, "max_wait"),
    )


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
    if deployment.shadow_version is not None:
        candidate = (
            f", shadow v{deployment.shadow_version} mirroring "
            f"{deployment.mirror_percent:g}% of requests"
        )
    until = deployment.standby_until
    if deployment.standby_version is not None and until is not None:
        candidate = f", v{deployment.standby_version} on standby until {fmt_time(until)}"
    out().print(
        f"{what}: {deployment.model} stable v{deployment.stable_version}{candidate} "
        f"[{deployment.state}]"
    )


def deploy(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION or NAME@ALIAS to roll out.")],
    strategy: Annotated[
        str,
        typer.Option(
            "--strategy",
            help="canary, blue-green (an atomic switch) or shadow (copies of requests only).",
        ),
    ] = "canary",
    steps: StepsOption = "5,10,25,50,100",
    interval: IntervalOption = "5m",
    min_requests: MinRequestsOption = 200,
    max_wait: MaxWaitOption = "30m",
    mirror: Annotated[
        float | None,
        typer.Option("--mirror", help="Shadow: percent of requests copied to it (default 100)."),
    ] = None,
    standby: Annotated[
        str | None,
        typer.Option(
            "--standby",
            help="Blue-green: how long the previous version stays loaded for an instant "
            "rollback (default 30m; 0 unloads it at once).",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Deploy an unblessed version.")] = False,
    reason: ReasonOption = None,
    as_json: JsonOption = False,
) -> None:
    """Roll out a version: a canary judged by the controller, a blue-green switch (after a
    smoke test: sanity checks and recent real requests replayed), or a shadow that gets copies
    of requests while stable answers every user."""
    from mlship.errors import ConfigError
    from mlship.registry import Registry
    from mlship.rollout import Rollouts

    registry = Registry.from_env()
    if strategy not in ("canary", "blue-green", "shadow"):
        raise ConfigError(
            f"The 'strategy' option must be canary, blue-green or shadow. Got {strategy!r}."
        )
    if mirror is not None and strategy != "shadow":
        raise ConfigError("The 'mirror' option applies to --strategy shadow only.")
    if standby is not None and strategy != "blue-green":
        raise ConfigError("The 'standby' option applies to --strategy blue-green only.")
    if strategy == "blue-green":
        _show(_switch(registry, ref, force, reason, standby), as_json, "Switched")
        return
    if strategy == "shadow":
        percent = 100.0 if mirror is None else mirror
        started = Rollouts(registry).start_shadow(ref, percent, force=force, reason=reason)
        _show(started, as_json, "Shadowing")
        return
    config = _canary_config(steps, interval, min_requests, max_wait)
    _show(
        Rollouts(registry).start_canary(ref, config, force=force, reason=reason),
        as_json,
        "Deploying",
    )


def _switch(
    registry: Registry, ref: str, force: bool, reason: str | None, standby: str | None
) -> Deployment:
    """Smoke-test green in this process (the CLI talks to the store, not to servers), then
    switch; the servers load and warm green before they route to it."""
    from mlship.errors import SmokeTestFailed
    from mlship.rollout import Rollouts
    from mlship.rollout.blue_green import DEFAULT_STANDBY_S
    from mlship.serving.smoke import record_failure, smoke_test_in_process

    standby_s = DEFAULT_STANDBY_S if standby is None else parse_duration(standby, "standby")
    rollouts = Rollouts(registry)
    pinned = rollouts.check_switch(ref, force=force).ref  # smoke-tested = switched, if blessed
    with err().status(f"Smoke-testing {pinned}", spinner="dots"):
        report = smoke_test_in_process(registry, pinned)
    if not report.passed:
        record_failure(registry, report, reason)
        raise SmokeTestFailed(report.message(), report)
    return rollouts.switch(
        pinned, force=force, reason=reason, standby_s=standby_s, smoke=report.summary()
    )


def status(
    name: Annotated[str, typer.Argument(help="Model name.")],
    watch: Annotated[
        bool,
        typer.Option(
            "--watch", help="Refresh every second until Ctrl-C; with --json, one object a line."
        ),
    ] = False,
    report: Annotated[
        bool, typer.Option("--report", help="The shadow report of the running or last shadow.")
    ] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write the shadow report as an HTML page.")
    ] = None,
    slices: Annotated[
        list[str] | None,
        typer.Option("--slice", help="Shadow report: slice by this input only (repeatable)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Traffic split, step and the analysis of every step; or, with --report, how a shadow
    compares with stable on the same requests."""
    from rich.live import Live

    from mlship.errors import ConfigError, NotFound
    from mlship.registry import Registry
    from mlship.rollout import DeploymentStore
    from mlship.rollout.deployments import status_document

    registry = Registry.from_env()
    if report or html is not None or slices:
        if watch:
            raise ConfigError("The 'watch' option cannot be combined with the shadow report.")
        from mlship.cli.render_shadow import show_report

        show_report(registry, name, html, slices or None, as_json)
        return
    store = DeploymentStore(registry)

    def current() -> Deployment:
        deployment = store.get(name)
        if deployment is None:
            raise NotFound(f"{name!r} has no deployment. Deploy it: mlship deploy {name}@VERSION")
        return deployment

    def view() -> object:
        return _status_table(current(), registry.history(name), _log_states())

    def snapshot() -> dict[str, Any]:
        document = status_document(current(), registry.history(name))
        logs = _log_states()
        if logs:  # a server on this machine whose disk is full
            document["prediction_log"] = [s.to_dict() for s in logs]
        return document

    if as_json and watch:
        _stream_json(snapshot, interval_s=1.0)
        return
    if as_json:
        print_json(snapshot())
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


def _stream_json(snapshot: Callable[[], dict[str, Any]], *, interval_s: float) -> None:
    """Print ``snapshot()`` as one JSON line every ``interval_s`` seconds (NDJSON, flushed each
    time so that ``| jq`` shows it at once) until SIGINT or SIGTERM, then return: Ctrl-C is how
    a watch ends, not an error. A reader that goes away (``| head -n 3``) ends it too.

    The signals only set a flag, checked between lines: a Ctrl-C raised in the middle of a write
    would leave half a JSON object for the reader.
    """
    from mlship.cli.signals import StopSignals

    with StopSignals() as signals:
        try:
            while not signals.stopped:
                print_json(snapshot(), indent=None)
                sys.stdout.flush()
                signals.sleep(interval_s)
        except BrokenPipeError:
            # Python flushes stdout again on exit: point it at /dev/null, or that fails once more.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _log_states() -> list[LogStatus]:
    """The prediction logs of servers running on this machine's spill folder whose disk is full."""
    from mlship.serving.log_status import live_statuses
    from mlship.serving.settings import ServeSettings

    spill = ServeSettings.from_env().spill_dir
    return [s for s in live_statuses(spill) if s.disk_full_since is not None]


def _status_table(
    deployment: Deployment, events: list[Event], logs: list[LogStatus] | None = None
) -> object:
    from rich.console import Group
    from rich.table import Table

    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("model", deployment.model)
    head.add_row("state", deployment.state)
    head.add_row("stable", f"v{deployment.stable_version}")
    until = deployment.standby_until
    if deployment.standby_version is not None and until is not None:
        from mlship.store import utcnow

        ended = " (ended: unloaded)" if until <= utcnow() else " (mlship rollback is instant)"
        head.add_row(
            "standby", f"v{deployment.standby_version} loaded until {fmt_time(until)}{ended}"
        )
    if deployment.shadow_version is not None:
        head.add_row(
            "shadow",
            f"v{deployment.shadow_version} gets a copy of {deployment.mirror_percent:g}% of "
            f"requests; users get v{deployment.stable_version} (mlship status "
            f"{deployment.model} --report)",
        )
    elif deployment.candidate_version is not None:
        steps = deployment.config.get("steps", [])
        step = int(deployment.config.get("step", 0))
        head.add_row(
            "candidate",
            f"v{deployment.candidate_version} at {deployment.traffic:.0%} "
            f"(step {step + 1} of {len(steps)}: {steps})",
        )
    for status in logs or []:
        lost = status.lost.get(deployment.model, 0)
        head.add_row(
            "prediction log",
            f"[red]{status.detail}[/] ({lost:,} of {deployment.model}; server pid {status.pid}, "
            f"{status.folder}): free space on that disk",
        )
    table = Table(title="Rollout events")
    for col in ("time", "event", "version", "reason / analysis"):
        table.add_column(col, overflow="fold")
    kinds = (
        "deployed",
        "smoke_test_failed",
        "shadow_started",
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
        details = e.details if isinstance(e.details, dict) else {}
        analysis = details.get("analysis")
        text = e.reason or ""
        if details.get("forced"):
            text = f"FORCED past its gate: {text}" if text else "FORCED past its gate"
        if isinstance(analysis, dict):
            checks = ", ".join(f"{c['name']}={c['status']}" for c in analysis.get("checks", []))
            text = f"{text} [{analysis.get('verdict')}: {checks}]".strip()
        table.add_row(fmt_time(e.at), e.kind, str(e.version or ""), text)
    return Group(head, table)


def promote(
    name: Annotated[str, typer.Argument()],
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy",
            help="From a shadow: canary (default; --steps ... apply) or blue-green (at once).",
        ),
    ] = None,
    steps: Annotated[str | None, typer.Option("--steps", help="Canary from a shadow.")] = None,
    interval: Annotated[str | None, typer.Option("--interval")] = None,
    min_requests: Annotated[int | None, typer.Option("--min-requests")] = None,
    max_wait: Annotated[str | None, typer.Option("--max-wait")] = None,
    reason: ReasonOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make the candidate stable now and move the production alias; from a shadow, start a
    canary of it (default steps 5,10,25,50,100 every 5m) or switch to it (--strategy
    blue-green)."""
    from mlship.errors import ConfigError

    if strategy not in (None, "canary", "blue-green"):
        raise ConfigError(
            f"The 'strategy' option must be canary or blue-green. Got {strategy!r} instead."
        )
    config = None
    if any(v is not None for v in (steps, interval, min_requests, max_wait)):
        config = _canary_config(
            steps or "5,10,25,50,100",
            interval or "5m",
            200 if min_requests is None else min_requests,
            max_wait or "30m",
        )
    chosen: Literal["canary", "blue-green"] | None = None
    if strategy == "blue-green":
        chosen = "blue-green"
    elif strategy == "canary":
        chosen = "canary"
    done = _rollouts().promote(name, reason=reason, strategy=chosen, config=config)
    _show(done, as_json, "Promoted" if done.state == "idle" else "Deploying")


def rollback(
    name: Annotated[str, typer.Argument()], reason: ReasonOption = None, as_json: JsonOption = False
) -> None:
    """All traffic back to the last good version, at once, from any state (ends a shadow)."""
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
    """Stop a canary or a shadow without judging the candidate."""
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
