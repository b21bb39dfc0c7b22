"""Alerts of the monitor, and the alerter that decides which ones are sent.

An :class:`Alert` says which model and version, what kind of problem (``data_drift``,
``prediction_drift``, ``missingness``, ``metric_decay``), which features and by how much
(:class:`Finding`), since when, and where the report is. Sinks are objects that follow the
:class:`AlertSink` protocol (one method, ``send``; :mod:`mlship.monitoring.sinks` has a log line,
webhooks and Slack, built by :func:`~mlship.monitoring.sinks.build_sinks`); they are passed to
an :class:`Alerter`, never kept in a module global.

The :class:`Alerter` decides what is sent:

- **cooldown**: after an alert for a model and kind, no other alert of that model and kind is
  sent for ``cooldown`` (it would be the same problem, worded differently);
- **de-duplication**: an alert that names the same features as the last one sent for its model
  and kind is not repeated until ``repeat_after`` has passed (never, with ``None``), while the
  problem lasts; :meth:`Alerter.resolve` (the problem went away) forgets it.

Suppressed alerts are counted, and the next alert sent says how many were suppressed.

Example::

    alerter = Alerter(build_sinks(webhooks=["https://hooks.example.com/T0/x"]))
    alerter.notify(alert)   # True: sent (logged, then posted with retries)
    alerter.notify(alert)   # False: a duplicate within the cooldown
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from mlship.monitoring.sinks import LogSink
from mlship.options import invalid
from mlship.store import utcnow

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Finding:
    """One feature (or the predictions, or the live metric) in a monitor's verdict.

    ``measure`` names ``value``: the effect size (``wasserstein_norm``, ``js``, ``psi``) for
    drift, or for a feature drifting by its new categories or missing values only
    ``new_category_share`` or ``missing_rate``; ``missing_rate`` for missingness, the metric's
    name for metric decay. ``baseline`` is the reference's share or rate or the metric at
    registration; ``since`` when the monitor first saw this feature in this kind of trouble.
    """

    name: str
    measure: str
    value: float | None
    threshold: float | None = None
    baseline: float | None = None
    test: str | None = None
    statistic: float | None = None
    p_value: float | None = None
    new_categories: tuple[str, ...] = ()
    since: datetime | None = None

    def describe(self) -> str:
        """``amount: wasserstein_norm 0.52 (threshold 0.1)``, and the new categories."""
        text = f"{self.name}: {self.measure} {_num(self.value)}"
        if self.baseline is not None:
            text += f" (was {_num(self.baseline)})"
        if self.threshold is not None:
            text += f" (threshold {_num(self.threshold)})"
        if self.new_categories:
            shown = ", ".join(self.new_categories[:5])
            more = len(self.new_categories) - 5
            text += f"; new categories: {shown}" + (f" and {more} more" if more > 0 else "")
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "measure": self.measure,
            "value": _json_number(self.value),
            "threshold": _json_number(self.threshold),
            "baseline": _json_number(self.baseline),
            "test": self.test,
            "statistic": _json_number(self.statistic),
            "p_value": _json_number(self.p_value),
            "new_categories": list(self.new_categories),
            "since": self.since.isoformat() if self.since is not None else None,
        }


@dataclass(frozen=True, slots=True)
class Alert:
    """A problem the monitor found with one model, as sinks receive it."""

    model: str
    version: int
    kind: str
    """``data_drift``, ``prediction_drift``, ``missingness`` or ``metric_decay``."""
    summary: str
    """One sentence, e.g. "Data drift in 2 of 4 features"."""
    findings: tuple[Finding, ...]
    since: datetime
    """When the monitor first saw this problem (the earliest ``since`` of the findings)."""
    at: datetime
    window: Mapping[str, Any] = field(default_factory=dict)
    """The window judged: ``since``, ``until``, ``requests``, ``rows``."""
    report: str | None = None
    """The HTML drift report: a file path, or a URL when a base URL is configured."""
    suppressed: int = 0
    """Alerts of this model and kind suppressed since the last one sent."""

    @property
    def features(self) -> tuple[str, ...]:
        """The names in the findings, sorted (what de-duplication compares)."""
        return tuple(sorted(f.name for f in self.findings))

    @property
    def title(self) -> str:
        """``fraud@3: data drift in amount, country``."""
        if self.kind == "prediction_drift":
            return f"{self.model}@{self.version}: prediction drift"
        names = ", ".join(f.name for f in self.findings[:8])
        more = f" and {len(self.findings) - 8} more" if len(self.findings) > 8 else ""
        return f"{self.model}@{self.version}: {self.kind.replace('_', ' ')} in {names}{more}"

    def text(self) -> str:
        """The alert as plain text: title, summary, one line per finding, since, report."""
        lines = [self.title, self.summary]
        lines += [f"- {f.describe()}" for f in self.findings]
        lines.append(f"Since {_time(self.since)}.")
        if self.window:
            lines.append(
                f"Window: {self.window.get('since')} to {self.window.get('until')} "
                f"({self.window.get('requests')} requests, {self.window.get('rows')} rows)."
            )
        if self.report:
            lines.append(f"Report: {self.report}")
        if self.suppressed:
            lines.append(f"({self.suppressed} similar alert(s) suppressed since the last one.)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The JSON body a webhook receives (``type`` and ``schema_version`` added by it)."""
        return {
            "model": self.model,
            "version": self.version,
            "kind": self.kind,
            "title": self.title,
            "summary": self.summary,
            "features": list(self.features),
            "findings": [f.to_dict() for f in self.findings],
            "since": self.since.isoformat(),
            "at": self.at.isoformat(),
            "window": dict(self.window),
            "report": self.report,
            "suppressed": self.suppressed,
        }


class AlertSink(Protocol):
    """Where alerts go. ``send`` must not raise for a failed delivery: it logs and returns."""

    def send(self, alert: Alert) -> None: ...


@dataclass(slots=True)
class _Last:
    features: tuple[str, ...]
    at: datetime
    suppressed: int = 0


class Alerter:
    """Send alerts to every sink (and a log line), de-duplicated and with a cooldown.

    Parameters
    ----------
    sinks:
        Where alerts go besides the log.
    cooldown:
        After an alert of a model and kind, others of that model and kind wait this long.
    repeat_after:
        An alert naming the same features as the last one of its model and kind is repeated
        no sooner than this while the problem lasts (``None``: not repeated until resolved).
    clock:
        The time now (tests inject one).
    """

    def __init__(
        self,
        sinks: Sequence[AlertSink] = (),
        *,
        cooldown: timedelta = timedelta(minutes=30),
        repeat_after: timedelta | None = timedelta(hours=24),
        clock: Clock = utcnow,
    ) -> None:
        _check("cooldown", cooldown, cooldown >= timedelta(0), "a duration >= 0")
        if repeat_after is not None:
            _check("repeat_after", repeat_after, repeat_after >= timedelta(0), "a duration >= 0")
        self.sinks: tuple[AlertSink, ...] = tuple(sinks)
        self.cooldown = cooldown
        self.repeat_after = repeat_after
        self._clock = clock
        self._log_sink = LogSink()
        self._last: dict[tuple[str, str], _Last] = {}
        self.sent = 0
        self.duplicates = 0
        self.cooled_down = 0

    @property
    def suppressed(self) -> int:
        """Alerts not sent: duplicates and those within a cooldown."""
        return self.duplicates + self.cooled_down

    def admits(self, alert: Alert) -> bool:
        """Whether :meth:`notify` would send ``alert`` now (nothing is counted)."""
        return self._why_not(alert, self._clock()) is None

    def notify(self, alert: Alert) -> bool:
        """Send ``alert`` unless it is a duplicate or within the cooldown; True when sent.

        A sink that raises is logged and skipped: alerting never stops the monitor."""
        now = self._clock()
        key = (alert.model, alert.kind)
        why = self._why_not(alert, now)
        last = self._last.get(key)
        if why is not None:
            assert last is not None
            last.suppressed += 1
            if why == "duplicate":
                self.duplicates += 1
            else:
                self.cooled_down += 1
            log.debug("Alert %s suppressed (%s)", alert.title, why)
            return False
        if last is not None and last.suppressed:
            alert = replace(alert, suppressed=last.suppressed)
        self._last[key] = _Last(alert.features, now)
        self.sent += 1
        for sink in (self._log_sink, *self.sinks):
            try:
                sink.send(alert)
            except Exception as exc:  # a broken sink must not stop the others or the loop
                log.error("Alert sink %r failed: %s", sink, type(exc).__name__)
        return True

    def remember(self, model: str, kind: str, features: Iterable[str], at: datetime) -> None:
        """Record an alert sent earlier (e.g. by another process, read from the ledger)."""
        self._last[(model, kind)] = _Last(tuple(sorted(features)), at)

    def resolve(self, model: str, kind: str) -> bool:
        """The problem went away: the next alert of this model and kind is new (cooldown
        still applies). True when an alert had been sent for it."""
        last = self._last.get((model, kind))
        if last is None:
            return False
        # Keep the time (for the cooldown), forget the features (for de-duplication).
        self._last[(model, kind)] = _Last((), last.at)
        return bool(last.features)

    def _why_not(self, alert: Alert, now: datetime) -> str | None:
        last = self._last.get((alert.model, alert.kind))
        if last is None:
            return None
        age = now - last.at
        same = last.features == alert.features
        if age < self.cooldown:
            return "duplicate" if same else "cooldown"
        if same and (self.repeat_after is None or age < self.repeat_after):
            return "duplicate"
        return None


def _check(name: str, value: object, ok: bool, must: str) -> None:
    if not ok:
        raise invalid(name, must, value)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _json_number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")
