"""What the demo's steps share: the store, the narration, the pace, the server and its traffic,
the data, and what became of each version."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from mlship.demo.server import DemoServer
    from mlship.demo.timeline import Timeline
    from mlship.demo.traffic import Traffic
    from mlship.registry import Registry
    from mlship.rollout import CanaryConfig

NAME = "fraud_detector"
"""The model the demo ships."""
GATE_METRIC = "roc_auc"
GATE_TOLERANCE = 0.02
SLICE = "country"
MIN_ROC_AUC = 0.75
"""The first version has no baseline: its gate is an absolute floor."""


@dataclass(frozen=True, slots=True)
class Pace:
    """How fast the demo runs: canary timing and how much traffic each phase sends."""

    interval_s: float
    """Least time a canary step lasts."""
    min_requests: int
    """Candidate requests (transactions) a canary step needs before it is judged."""
    shift_requests: int
    """Requests of the shifted world sent before the monitor looks."""
    shadow_requests: int
    """Requests mirrored to v5 in its shadow."""
    max_wait_s: float = 90.0
    """How long a canary step may stay inconclusive before the canary pauses (the demo fails)."""

    def canary(self) -> CanaryConfig:
        from mlship.rollout import CanaryConfig

        return CanaryConfig(
            steps=(5, 10, 25, 50, 100),
            interval_s=self.interval_s,
            min_requests=self.min_requests,
            max_wait_s=self.max_wait_s,
        )


NORMAL = Pace(interval_s=2.0, min_requests=50, shift_requests=1000, shadow_requests=400)
FAST = Pace(interval_s=0.5, min_requests=40, shift_requests=600, shadow_requests=300)
"""CI's pace (``mlship demo --fast``): the same steps with shorter canary steps and less traffic."""


@dataclass(slots=True)
class Fate:
    """One version's line in the final table."""

    version: int
    model: str
    roc_auc: float | None = None
    gate: str = "-"
    fate: str = "-"


@dataclass(slots=True)
class Demo:
    """The state the steps pass along."""

    registry: Registry
    home: Path
    timeline: Timeline
    pace: Pace
    environ: dict[str, str]
    """The environment of the child processes: the demo's MLSHIP_HOME, never the user's."""
    server: DemoServer | None = None
    traffic: Traffic | None = None
    train: pd.DataFrame | None = None
    holdout: pd.DataFrame | None = None
    fates: dict[int, Fate] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    """What to look at afterwards: a description → a file."""
    shared: dict[str, Any] = field(default_factory=dict)
    """Models and frames one step leaves for a later one (e.g. ``"v2"``)."""

    @property
    def data_dir(self) -> Path:
        path = self.home / "data"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def reports_dir(self) -> Path:
        path = self.home / "reports"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def rows(self, frame: pd.DataFrame) -> list[dict[str, Any]]:
        """The transactions of ``frame`` as JSON-ready request rows (no label)."""
        from mlship.demo.transactions import LABEL

        records = frame.drop(columns=[LABEL]).to_dict("records")
        return [
            {str(k): v.item() if hasattr(v, "item") else v for k, v in r.items()} for r in records
        ]
