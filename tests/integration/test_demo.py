"""The demo is the end-to-end check of what exists: it must run and leave a sane registry."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from mlship.demo import run_demo
from mlship.registry import Registry


def test_demo_registers_two_versions_and_moves_production(tmp_path: Path) -> None:
    buffer = io.StringIO()
    assert run_demo(tmp_path, console=Console(file=buffer, width=120)) == 0
    text = buffer.getvalue()
    assert "Registered fraud_detector@2" in text and "History of fraud_detector" in text
    registry = Registry.from_env({"MLSHIP_HOME": str(tmp_path)})
    production = registry.get("fraud_detector@production")
    assert production.version == 2
    assert production.metrics["roc_auc"] > 0.6
    kinds = [e.kind for e in registry.history("fraud_detector")]
    assert kinds == ["registered", "alias_set", "registered", "alias_set"]
    registry.close()
