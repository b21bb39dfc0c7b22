"""The monitor's configuration: ``MLSHIP_MONITOR_*`` variables over ``mlship.toml``.

:class:`MonitorSettings` reads the variables and the ``[monitoring]`` and ``[retrain]`` tables of
``mlship.toml`` (options of ``mlship monitor`` override both); :func:`build_monitor` builds the
:class:`~mlship.monitoring.schedule.Monitor`, its sinks, alerter and retrainer from them, for
``mlship monitor`` and ``mlship serve`` alike.

>>> MonitorSettings.from_env({"MLSHIP_MONITOR_WINDOW": "5000"}).window
5000
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from mlship.errors import ConfigError
from mlship.monitoring.alerts import Alerter, AlertSink
from mlship.monitoring.monitor import MonitorConfig
from mlship.monitoring.options import DriftOptions
from mlship.monitoring.retrain import Retrainer
from mlship.monitoring.schedule import RETRAIN_ON, Monitor
from mlship.monitoring.sinks import build_sinks
from mlship.options import invalid
from mlship.options import parse_duration as _any_duration
from mlship.registry import Registry

_COUNT = re.compile(r"^\s*(\d+)\s*(?:requests?|r)?\s*$")


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    """The monitor's configuration: ``MLSHIP_MONITOR_*`` variables over ``mlship.toml``.

    Every field is also a ``mlship monitor`` option; ``[monitoring]`` holds the keys
    ``window``, ``interval``, ``alert_cooldown``, ``repeat_after``, ``webhooks``,
    ``slack_webhooks``, ``reports``, ``report_url``, ``missing_tolerance``,
    ``missing_threshold``, ``new_category_threshold``, ``metric``, ``metric_tolerance`` (also
    ``alert_webhook`` and ``slack_webhook``, one URL or a list, and ``drift_share``: the dataset
    drifts when at least this share of features does); ``[retrain]``
    the keys ``command``, ``entry_point``, ``cooldown``,
    ``timeout``, ``on``, ``share``.
    """

    window: int | timedelta = timedelta(hours=1)
    """``MLSHIP_MONITOR_WINDOW``: ``1h``, or a number of requests such as ``5000``."""
    interval: timedelta = timedelta(minutes=5)
    """``MLSHIP_MONITOR_INTERVAL``: time between evaluations."""
    webhooks: tuple[str, ...] = ()
    """``MLSHIP_MONITOR_WEBHOOK``: URLs receiving alerts as JSON (space-separated)."""
    slack_webhooks: tuple[str, ...] = ()
    """``MLSHIP_MONITOR_SLACK_WEBHOOK``: Slack-compatible incoming webhooks (space-separated)."""
    alert_cooldown: timedelta = timedelta(minutes=30)
    """``MLSHIP_MONITOR_ALERT_COOLDOWN``: per model and kind, between two alerts."""
    repeat_after: timedelta = timedelta(hours=24)
    """``MLSHIP_MONITOR_REPEAT_AFTER``: an unchanged alert is repeated after this."""
    reports: Path | None = None
    """``MLSHIP_MONITOR_REPORTS``: folder of the HTML drift reports (default
    ``$MLSHIP_HOME/reports``; ``off``: none)."""
    report_url: str | None = None
    """``MLSHIP_MONITOR_REPORT_URL``: base URL the reports folder is served under."""
    missing_tolerance: float = 0.1
    """``MLSHIP_MONITOR_MISSING_TOLERANCE``: a rise of a feature's missing rate above this is a
    ``missingness`` verdict (0.1: ten points; it does not retrain)."""
    missing_threshold: float | None = None
    """``MLSHIP_MONITOR_MISSING_THRESHOLD``: a significant rise of a feature's missing rate of
    at least this is data drift (None: ``DriftOptions``' 0.05)."""
    new_category_threshold: float | None = None
    """``MLSHIP_MONITOR_NEW_CATEGORY_THRESHOLD``: values in categories training never saw making
    at least this share of a feature are data drift (None: ``DriftOptions``' 0.01)."""
    metric: str | None = None
    metric_tolerance: float = 0.05
    drift: DriftOptions = field(default_factory=DriftOptions)
    retrain_command: str | None = None
    """``MLSHIP_MONITOR_RETRAIN_COMMAND``: run to retrain a model."""
    retrain_entry_point: str | None = None
    """``MLSHIP_MONITOR_RETRAIN_ENTRY_POINT``: ``module:function`` instead of a command."""
    retrain_cooldown: timedelta = timedelta(hours=6)
    """``MLSHIP_MONITOR_RETRAIN_COOLDOWN``: least time between two retrainings of a model."""
    retrain_timeout: timedelta = timedelta(hours=2)
    """``MLSHIP_MONITOR_RETRAIN_TIMEOUT``: a retraining running longer is stopped."""
    retrain_on: tuple[str, ...] = RETRAIN_ON
    """``MLSHIP_MONITOR_RETRAIN_ON``: kinds that trigger retraining (comma-separated)."""
    retrain_share: float = 0.0
    """``MLSHIP_MONITOR_RETRAIN_SHARE``: data drift retrains from this share of drifted features."""
    home: Path = Path(".mlship")

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        project: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> MonitorSettings:
        """``mlship.toml`` tables (``project``), then variables, then ``overrides`` (None:
        unset)."""
        from mlship.config import config_table

        env = os.environ if environ is None else environ
        given: dict[str, Any] = {}
        tables = dict(project or {})
        monitoring, retrain = config_table(tables, "monitoring"), config_table(tables, "retrain")
        for key, value in monitoring.items():
            if key == "drift_share":  # the share-of-features rule decides the dataset verdict
                share = _number(value, key)
                given["drift"] = DriftOptions(drift_share=share, dataset_rule="share")
                continue
            given[_ALIASES.get(key, key)] = value
        for key, value in retrain.items():
            given[{"share": "retrain_share", "on": "retrain_on"}.get(key, f"retrain_{key}")] = value
        for name in _FIELDS:
            text = env.get(env_variable(name))
            if text:
                given[name] = text
        given.update({k: v for k, v in overrides.items() if v is not None})
        unknown = sorted(set(given) - set(_FIELDS))
        if unknown:
            raise ConfigError(
                f"Unknown monitor option(s): {', '.join(unknown)}. Known: {', '.join(_FIELDS)}."
            )
        values = {name: _FIELDS[name](value, name) for name, value in given.items()}
        home = Path(env.get("MLSHIP_HOME") or ".mlship").expanduser()
        if "reports" not in values:
            values["reports"] = home / "reports"
        elif values["reports"] == "off":
            values["reports"] = None
        settings = cls(home=home, **values)
        settings.drift_options()  # a bad threshold stops here, not at the first evaluation
        return settings

    def drift_options(self) -> DriftOptions:
        """``drift`` with the missing and new-category thresholds set here, if any."""
        drift = self.drift
        if self.missing_threshold is not None:
            drift = dataclasses.replace(drift, missing_threshold=self.missing_threshold)
        if self.new_category_threshold is not None:
            drift = dataclasses.replace(drift, new_category_threshold=self.new_category_threshold)
        return drift

    def config(self, *, workers: int | None = None) -> MonitorConfig:
        return MonitorConfig(
            window=self.window,
            drift=self.drift_options(),
            missing_tolerance=self.missing_tolerance,
            metric=self.metric,
            metric_tolerance=self.metric_tolerance,
            workers=workers,
        )


def build_monitor(
    registry: Registry,
    settings: MonitorSettings,
    *,
    sinks: Sequence[AlertSink] | None = None,
    workers: int | None = None,
) -> Monitor:
    """The monitor ``settings`` describe: its sinks (or ``sinks``), alerter and retrainer."""
    if sinks is None:
        sinks = build_sinks(webhooks=settings.webhooks, slack_webhooks=settings.slack_webhooks)
    alerter = Alerter(sinks, cooldown=settings.alert_cooldown, repeat_after=settings.repeat_after)
    retrainer = None
    if settings.retrain_command or settings.retrain_entry_point:
        retrainer = Retrainer(
            registry,
            command=settings.retrain_command,
            entry_point=settings.retrain_entry_point,
            cooldown=settings.retrain_cooldown,
            timeout=settings.retrain_timeout,
            log_dir=settings.home / "retrain",
        )
    return Monitor(
        registry,
        settings.config(workers=workers),
        alerter,
        retrainer,
        reports=settings.reports,
        report_url=settings.report_url,
        retrain_on=settings.retrain_on,
        retrain_share=settings.retrain_share,
    )


def env_variable(option: str) -> str:
    """The variable of a settings field: ``webhooks`` → ``MLSHIP_MONITOR_WEBHOOK``."""
    name = option.removesuffix("s") if option.endswith("webhooks") else option
    return f"MLSHIP_MONITOR_{name.upper()}"


# ---------------------------------------------------------------------------- parsing


def _duration(value: Any, name: str) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return timedelta(seconds=value)
    return parse_duration(str(value), name)


def _window(value: Any, name: str) -> int | timedelta:
    if isinstance(value, timedelta) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    return parse_window(str(value))


def _urls(value: Any, name: str) -> tuple[str, ...]:
    items = value.split() if isinstance(value, str) else list(value)
    return tuple(str(v) for v in items)


def _kinds(value: Any, name: str) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(str(v).strip() for v in items if str(v).strip())


def _number(value: Any, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise invalid(name, "a number", value) from None


def _text(value: Any, name: str) -> str:
    return str(value)


def _folder(value: Any, name: str) -> Path | str:
    return "off" if str(value).lower() in ("off", "none", "") else Path(str(value)).expanduser()


def _drift(value: Any, name: str) -> DriftOptions:
    if not isinstance(value, DriftOptions):
        raise invalid(name, "a DriftOptions", value)
    return value


_ALIASES = {"alert_webhook": "webhooks", "slack_webhook": "slack_webhooks"}
"""``[monitoring]`` keys in the singular, as the issue's example ``mlship.toml`` writes them."""

_FIELDS: dict[str, Callable[[Any, str], Any]] = {
    "window": _window,
    "interval": _duration,
    "webhooks": _urls,
    "slack_webhooks": _urls,
    "alert_cooldown": _duration,
    "repeat_after": _duration,
    "reports": _folder,
    "report_url": _text,
    "missing_tolerance": _number,
    "missing_threshold": _number,
    "new_category_threshold": _number,
    "metric": _text,
    "metric_tolerance": _number,
    "drift": _drift,
    "retrain_command": _text,
    "retrain_entry_point": _text,
    "retrain_cooldown": _duration,
    "retrain_timeout": _duration,
    "retrain_on": _kinds,
    "retrain_share": _number,
}


def parse_duration(text: str, option: str) -> timedelta:
    """``"5m"`` → 5 minutes (:func:`mlship.options.parse_duration`; zero is refused)."""
    return _any_duration(text, option, positive=True)


def parse_window(text: str) -> int | timedelta:
    """A time window (``"1h"``) or a count of requests (``"5000"``, ``"5000 requests"``)."""
    match = _COUNT.match(text)
    if match is not None and int(match.group(1)) >= 1:
        return int(match.group(1))
    try:
        return parse_duration(text, "window")
    except ConfigError:
        raise ConfigError(
            "The 'window' option must be a duration such as 1h or a number of requests such "
            f"as 5000. Got {text!r} instead."
        ) from None
