"""The canary controller: at each step, judge the candidate against stable on the same window of
the prediction log, then advance, roll back, wait, or pause for a human.

It runs inside ``mlship serve`` (one leader among replicas, see :mod:`mlship.rollout.leader`) or
alone as ``mlship controller``. Every decision it acts on is an event with the analysis figures.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from mlship.rollout.canary import Rollouts
from mlship.rollout.deployments import Deployment, DeploymentStore
from mlship.store import as_utc, utcnow
from mlship.store.schema import predictions

if TYPE_CHECKING:
    import pandas as pd

    from mlship.registry import Registry
    from mlship.rollout.analysis import Analysis, AnalysisConfig

log = logging.getLogger(__name__)

Action = Literal["advance", "rollback", "wait", "pause", "none"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What the controller did for one deployment on one tick, and why."""

    model: str
    action: Action
    reason: str
    analysis: dict[str, Any] | None = None


class Controller:
    """Judges every running canary once per :meth:`tick`."""

    def __init__(self, registry: Registry, analysis: AnalysisConfig | None = None) -> None:
        self._registry = registry
        self._deployments = DeploymentStore(registry)
        self._rollouts = Rollouts(registry)
        self._analysis = analysis

    def tick(self) -> list[Decision]:
        decisions = []
        for deployment in self._deployments.list():
            if deployment.state != "canary" or deployment.candidate_version is None:
                continue
            try:
                decisions.append(self.evaluate(deployment))
            except Exception as exc:  # one broken deployment must not stop the others
                log.warning("Canary analysis of %s failed: %s", deployment.model, exc)
        return decisions

    def evaluate(self, deployment: Deployment, now: datetime | None = None) -> Decision:
        """Judge the current step of ``deployment`` and act: advance, roll back, or pause."""
        now = now or utcnow()
        plan = deployment.config
        started = as_utc(datetime.fromisoformat(plan["step_started_at"]))
        elapsed = (now - started).total_seconds()
        if elapsed < float(plan.get("interval_s", 0)):
            return Decision(deployment.model, "none", f"step runs for {elapsed:.0f} s more")
        result = self.judge(deployment)
        figures = result.to_dict()
        model = deployment.model
        log.debug(
            "Canary %s@%s step %s: %s (%s)",
            model,
            deployment.candidate_version,
            plan.get("step", 0),
            result.verdict,
            "; ".join(f"{c.name} {c.status}: {c.reason}" for c in result.checks),
        )
        if result.verdict == "fail":
            reason = "; ".join(f"{c.name}: {c.reason}" for c in result.checks if c.status == "fail")
            self._rollouts.rollback(model, reason=f"canary analysis: {reason}", analysis=figures)
            return Decision(model, "rollback", reason, figures)
        if result.verdict == "pass":
            self._rollouts.advance(model, figures)
            return Decision(model, "advance", "every check passed", figures)
        if elapsed > float(plan.get("max_wait_s", 1800)):
            self._rollouts.pause(
                model,
                reason="canary analysis stayed inconclusive past max_wait; resume, "
                "promote or roll back",
            )
            return Decision(model, "pause", "inconclusive past max_wait", figures)
        return Decision(model, "wait", "not enough evidence yet", figures)

    def judge(self, deployment: Deployment) -> Analysis:
        """The analysis of the current step of a canary, without acting on it.

        Below 100 %, stable and candidate are compared on the same window: since the step
        started. At 100 % stable answers nobody: the candidate's window is compared with stable's
        traffic since the rollout started, as windows of different times (errors and the live
        metric only, see :func:`~mlship.rollout.analysis.analyze`).
        """
        from mlship.rollout.analysis import AnalysisConfig, WindowStats, analyze

        plan = deployment.config
        started = as_utc(datetime.fromisoformat(plan["step_started_at"]))
        config = self._analysis or AnalysisConfig(min_requests=int(plan.get("min_requests", 200)))
        concurrent = deployment.traffic < 1.0
        if concurrent:
            window = self.window(deployment, started)
        else:
            since = as_utc(datetime.fromisoformat(plan.get("started_at", plan["step_started_at"])))
            window = self.window(deployment, since)
            window = window[(window["role"] == "stable") | (window["at"] >= started)]
        stable = WindowStats.from_frame(window, "stable")
        candidate = WindowStats.from_frame(window, "candidate")
        return analyze(stable, candidate, config, concurrent=concurrent)

    def window(self, deployment: Deployment, since: datetime) -> pd.DataFrame:
        """Stable and candidate predictions since ``since``: role, time, latency, error and the
        prediction, one row per predicted row (a request of k rows counts k times)."""
        import pandas as pd

        versions = [deployment.stable_version, deployment.candidate_version]
        with self._registry.store.read() as conn:
            rows = conn.execute(
                sa.select(
                    predictions.c.role,
                    predictions.c.at,
                    predictions.c.latency_ms,
                    predictions.c.error,
                    predictions.c.outputs,
                ).where(
                    predictions.c.model == deployment.model,
                    predictions.c.at >= since,
                    predictions.c.version.in_(versions),
                    predictions.c.role.in_(("stable", "candidate")),
                )
            ).all()
        records: list[dict[str, Any]] = []
        for role, at, latency, error, outputs in rows:
            outs = outputs if isinstance(outputs, list) and outputs else [None]
            base = {
                "role": role,
                "at": as_utc(at),
                "latency_ms": latency,
                "error": error is not None,
            }
            records.extend({**base, "predicted": value} for value in outs)
        columns = ["role", "at", "latency_ms", "error", "predicted"]
        return pd.DataFrame.from_records(records, columns=columns)
