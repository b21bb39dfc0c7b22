"""The web UI of ``mlship serve`` at ``/ui``: models, deployments, shadow reports and drift,
served by the server itself (no separate front-end server, nothing loaded from elsewhere).

:data:`router` holds the page, its static files (``static/``: plain JavaScript and inline SVG,
no third-party library) and the read-only JSON the page polls (``/ui/api/...``); the page
changes deployments through the admin API. The views (:func:`catalog`, :func:`rollout_view`,
:func:`drift_view`) are plain functions of a registry, usable without a server.
"""

from __future__ import annotations

from mlship.dashboard.catalog import catalog
from mlship.dashboard.drift_view import drift_view
from mlship.dashboard.rollout_view import rollout_view
from mlship.dashboard.routes import router

__all__ = ["catalog", "drift_view", "rollout_view", "router"]
