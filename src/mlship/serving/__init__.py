"""The inference server: protocols, input decoding, routing, micro-batching, prediction log."""

from __future__ import annotations

from mlship.serving.app import create_app
from mlship.serving.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]
