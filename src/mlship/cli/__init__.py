"""The ``mlship`` command line (Typer + Rich). Heavy modules are imported inside commands."""

from __future__ import annotations

from mlship.cli.main import app, main

__all__ = ["app", "main"]
