"""YAML text of manifests and chart values (PyYAML, which ``uvicorn[standard]`` brings)."""

from __future__ import annotations

from typing import Any


def dump_yaml(data: Any) -> str:
    """Block-style YAML, keys in the order given, long strings never folded."""
    import yaml  # type: ignore[import-untyped]

    text: str = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1_000)
    return text


def dump_documents(documents: list[Any]) -> str:
    """Several objects as one multi-document YAML stream."""
    return "---\n".join(dump_yaml(d) for d in documents)
