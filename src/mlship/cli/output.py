"""Printing for the CLI: Rich tables for people, ``--json`` for scripts, errors on stderr."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


@cache
def out() -> Console:
    """The Rich console on stdout (created on first use: importing Rich costs 70 ms)."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


@cache
def err() -> Console:
    """The Rich console on stderr."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def print_json(data: Any, *, indent: int | None = 2) -> None:
    """Write ``data`` as JSON on stdout (plain, not styled, so it pipes into jq); ``indent=None``
    writes it on one line (NDJSON)."""
    sys.stdout.write(json.dumps(data, indent=indent, default=_default, sort_keys=False) + "\n")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def fmt_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict | list):
        return json.dumps(value, default=_default)
    return str(value)


def error(message: str) -> None:
    err().print(f"[bold red]Error:[/] {message}", markup=True, soft_wrap=True)
