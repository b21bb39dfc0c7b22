"""The monitor's loop: evaluate every deployed model, alert, and trigger retraining.

:class:`Monitor` runs :func:`~mlship.monitoring.monitor.evaluate` on each deployed model (or the
ones named) per :meth:`~Monitor.tick`, turns verdicts into :class:`~mlship.monitoring.alerts.Alert`
objects (remembering since when each feature is in trouble), hands them to the
:class:`~mlship.monitoring.alerts.Alerter`, writes the HTML drift report an alert links to, and
asks the :class:`~mlship.monitoring.retrain.Retrainer` to retrain when a verdict of a kind in
``retrain_on`` crosses its threshold.

The ledger keeps what a restart would lose: every alert sent is an ``alert_raised`` event (its
findings with their ``since``), every problem that went away an ``alert_resolved`` event. On
its first tick for a model the monitor reads them back, so a restarted monitor (or
``mlship monitor --once`` run from cron) neither repeats an alert nor forgets since when.

:mod:`mlship.monitoring.settings` builds a monitor from ``MLSHIP_MONITOR_*`` variables and
``mlship.toml`` (``mlship monitor`` and ``mlship serve`` both).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlship.errors import ConfigError, MlshipError
from mlship.monitoring.alerts import Alert, Alerter
from mlship.monitoring.monitor import (
    KINDS,
    MonitorConfig,
    MonitorResult,
    evaluate,
    write_report,
)
from mlship.monitoring.retrain import Retrainer
from mlship.registry import Registry
from mlship.store import as_utc, utcnow

if TYPE_CHECKING:
    from mlship.monitoring.feature_drift import FeatureDrift

log = logging.getLogger(__name__)

RETRAIN_ON: tuple[str, ...] = ("data_drift", "prediction_drift", "metric_decay")
"""Kinds that trigger retraining by default (missing values are a pipeline bug, not a reason:
nor is data drift of features that drift by their missing values only)."""


class Monitor:
    """Evaluate, alert, retrain; one :meth:`tick` per interval (see the module docstring).

    Parameters
    ----------
    registry:
        The models, the prediction log and the ledger.
    config:
        How each model is judged.
    alerter:
        Where alerts go (a log line at least).
    retrainer:
        What retrains; None: no retraining.
    reports, report_url:
        Folder of the HTML drift reports alerts link to (None: none written), and the base URL
        the folder is served under (None: alerts carry the file path).
    retrain_on, retrain_share:
        Verdict kinds that trigger retraining; a data drift verdict triggers it only when at
        least ``retrain_share`` of the judged features drift.
    clock:
        The time now (tests inject one).
    """

    def __init__(
        self,
        registry: Registry,
        config: MonitorConfig | None = None,
        alerter: Alerter | None = None,
        retrainer: Retrainer | None = None,
        *,
        reports: Path | None = None,
        report_url: str | None = None,
        retrain_on: Sequence[str] = RETRAIN_ON,
        retrain_share: float = 0.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        unknown = sorted(set(retrain_on) - set(KINDS))
        if unknown:
            raise ConfigError(
                f"The 'retrain_on' option takes {', '.join(KINDS)}. Got {', '.join(unknown)}."
            )
        if not 0 <= retrain_share <= 1:
            raise ConfigError(
                f"The 'retrain_share' option must be a share in [0, 1]. Got {retrain_share!r}."
            )
        self.registry = registry
        self.config = config or MonitorConfig()
        self.alerter = alerter or Alerter()
        self.retrainer = retrainer
        self.reports = reports
        self.report_url = report_url
        self.retrain_on = frozenset(retrain_on)
        self.retrain_share = retrain_share
        self._clock = clock
        # model -> kind -> feature -> first seen
        self._active: dict[str, dict[str, dict[str, datetime]]] = {}
        self._seeded: set[str] = set()

    def models(self) -> list[str]:
        """Every deployed model."""
        from mlship.rollout import DeploymentStore

        return [d.model for d in DeploymentStore(self.registry).list()]

    def tick(self, models: Sequence[str] | None = None) -> list[MonitorResult]:
        """Evaluate ``models`` (default: every deployed one) once; never raises for one model.

        A model whose evaluation fails gets a result with ``error`` (and a log line)."""
        results: list[MonitorResult] = []
        if models is None:
            try:
                models = self.models()
            except Exception as exc:  # the store is down: try again next tick
                log.warning("Monitoring skipped: cannot list the deployments (%s)", exc)
                return results
        for model in models:
            now = self._clock()
            try:
                result = evaluate(self.registry, model, self.config, now=now)
            except Exception as exc:
                text = (
                    exc.message if isinstance(exc, MlshipError) else f"{type(exc).__name__}: {exc}"
                )
                log.warning("Monitoring %s failed: %s", model, text)
                results.append(MonitorResult(model, None, now, None, error=text))
                continue
            try:
                self._act(result)
            except Exception as exc:  # alerting or the ledger failing must not stop the loop
                log.error("Acting on the evaluation of %s failed: %s", model, exc)
            results.append(result)
        return results

    def run(self, stop: threading.Event, interval: timedelta) -> None:
        """Tick every ``interval`` until ``stop`` is set (the first tick at once)."""
        while not stop.is_set():
            self.tick()
            stop.wait(interval.total_seconds())

    def close(self) -> None:
        if self.retrainer is not None:
            self.retrainer.close()

    # ------------------------------------------------------------------------------ acting

    def _act(self, result: MonitorResult) -> None:
        model, version = result.model, result.version
        assert version is not None
        self._seed(model)
        active = self._active.setdefault(model, {})
        report: str | None = None
        for verdict in result.verdicts:
            firsts = active.setdefault(verdict.kind, {})
            for name in list(firsts):
                if name not in verdict.features:
                    del firsts[name]
            for name in verdict.features:
                firsts.setdefault(name, result.at)
            findings = tuple(replace(f, since=firsts[f.name]) for f in verdict.findings)
            alert = Alert(
                model=model,
                version=version,
                kind=verdict.kind,
                summary=verdict.message,
                findings=findings,
                since=min(firsts.values(), default=result.at),
                at=result.at,
                window=result.window.to_dict() if result.window is not None else {},
            )
            if self.alerter.admits(alert) and self.reports is not None and report is None:
                report = self._report(result)
            if report is not None:
                alert = replace(alert, report=report)
            if self.alerter.notify(alert):
                self.registry.record_event(
                    model, "alert_raised", version=version, reason=alert.title,
                    details=alert.to_dict(),
                )  # fmt: skip
        found = {v.kind for v in result.verdicts}
        min_rows = self.config.drift.min_rows
        # Only a kind judged healthy is resolved: a quiet night (no traffic) is not a recovery.
        for kind in [k for k in active if k not in found and _judged(result, k, min_rows)]:
            del active[kind]
            if self.alerter.resolve(model, kind):
                self.registry.record_event(
                    model, "alert_resolved", version=version,
                    reason=f"no {kind.replace('_', ' ')} any more", details={"kind": kind},
                )  # fmt: skip
        self._retrain(result)

    def _retrain(self, result: MonitorResult) -> None:
        if self.retrainer is None or result.version is None:
            return
        kinds = [v.kind for v in result.verdicts if v.kind in self.retrain_on]
        if "data_drift" in kinds and result.drift is not None:
            d = result.drift.dataset
            named = d.bh_drifted if d.rule == "bh" else d.share_drifted
            # Missing values are a pipeline bug, not a reason to retrain (see RETRAIN_ON).
            drifted = [n for n in named if _beyond_missing(result.drift.features[n])]
            if not drifted or (d.judged and len(drifted) / d.judged < self.retrain_share):
                kinds.remove("data_drift")
        if not kinds:
            return
        reason = "; ".join(
            "prediction drift"
            if v.kind == "prediction_drift"
            else f"{v.kind.replace('_', ' ')} in {', '.join(v.features)}"
            for v in result.verdicts
            if v.kind in kinds
        )
        try:
            self.retrainer.trigger(result.model, result.version, reason, kinds=kinds)
        except MlshipError as exc:
            log.error("Retraining %s not started: %s", result.model, exc.message)

    def _report(self, result: MonitorResult) -> str | None:
        assert self.reports is not None
        try:
            return write_report(result, self.reports, base_url=self.report_url)
        except MlshipError as exc:
            log.error("Drift report of %s not written: %s", result.model, exc.message)
            return None

    def _seed(self, model: str) -> None:
        """Read back, once per model, the alerts still open in the ledger."""
        if model in self._seeded:
            return
        self._seeded.add(model)
        open_alerts: dict[str, Any] = {}
        for event in self.registry.history(model):
            kind = event.details.get("kind")
            if event.kind == "alert_raised" and isinstance(kind, str):
                open_alerts[kind] = event
            elif event.kind == "alert_resolved" and isinstance(kind, str):
                open_alerts.pop(kind, None)
        for kind, event in open_alerts.items():
            features = [str(f) for f in event.details.get("features", [])]
            self.alerter.remember(model, kind, features, event.at)
            firsts = self._active.setdefault(model, {}).setdefault(kind, {})
            for finding in event.details.get("findings", []):
                since = finding.get("since") if isinstance(finding, Mapping) else None
                if since:
                    firsts[str(finding["name"])] = as_utc(datetime.fromisoformat(since))


def _beyond_missing(feature: FeatureDrift) -> bool:
    """Whether ``feature`` drifts for another reason than its missing values."""
    return set(feature.drift_reasons or ("distribution",)) != {"missing"}


def _judged(result: MonitorResult, kind: str, min_rows: int) -> bool:
    """Whether ``result`` had the data to say that ``kind`` of problem is absent."""
    if kind == "data_drift":
        return result.drift is not None
    if kind == "prediction_drift":
        return result.prediction is not None and result.prediction.judged
    if kind == "missingness":
        rows = result.window.rows if result.window is not None else 0
        return bool(result.missing) and rows >= min_rows
    return result.live is not None and result.live.value is not None
