"""The inference server: protocols, input decoding, routing, micro-batching, prediction log.

The members load on first use: the prediction log's writer process imports modules of this
package and must not pay for FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlship.serving.app import create_app
    from mlship.serving.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from mlship.serving.app import create_app

        return create_app
    if name == "ServeSettings":
        from mlship.serving.settings import ServeSettings

        return ServeSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
