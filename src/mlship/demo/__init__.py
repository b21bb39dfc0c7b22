"""``mlship demo``: the life cycle on generated data, in a throw-away MLSHIP_HOME."""

from __future__ import annotations

from mlship.demo.lifecycle import run_demo
from mlship.demo.transactions import make_transactions

__all__ = ["make_transactions", "run_demo"]
