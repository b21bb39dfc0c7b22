"""How a canary moves: its traffic steps and timing (the plan a canary stores in its deployment)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mlship.errors import ConfigError


@dataclass(frozen=True, slots=True)
class CanaryConfig:
    """How a canary moves: the traffic steps and how long each lasts at least."""

    steps: tuple[int, ...] = (5, 10, 25, 50, 100)
    """Percent of traffic on the candidate at each step; increasing, ending at 100."""
    interval_s: float = 300.0
    min_requests: int = 200
    """Candidate requests a step needs before it can be judged."""
    max_wait_s: float = 1800.0
    """How long an inconclusive step may wait before the canary pauses for a human."""
    promote_alias: str = "production"

    def __post_init__(self) -> None:
        steps = list(self.steps)
        if (
            not steps
            or any(not isinstance(s, int) or not 0 < s <= 100 for s in steps)
            or steps != sorted(set(steps))
            or steps[-1] != 100
        ):
            raise ConfigError(
                "The 'steps' option must be increasing percentages ending at 100. "
                f"Got {steps} instead."
            )
        for name in ("interval_s", "max_wait_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"The {name!r} option must be a number >= 0. Got {value!r}.")
        if not isinstance(self.min_requests, int) or self.min_requests < 0:
            raise ConfigError(
                f"The 'min_requests' option must be an integer >= 0. Got {self.min_requests!r}."
            )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["steps"] = list(self.steps)
        return data
