"""What uvicorn imports: the app built from settings passed through the environment (so that
every worker process of ``mlship serve --workers N`` builds the same app)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from mlship.serving.settings import ServeSettings

ENV_KEY = "MLSHIP_SERVE_SETTINGS"


def settings_to_env(settings: ServeSettings) -> str:
    data = asdict(settings)
    data["spill_dir"] = str(settings.spill_dir)
    data["models"] = list(settings.models)
    data["allowed_hosts"] = list(settings.allowed_hosts)
    # The tokens stay in MLSHIP_TOKEN / MLSHIP_FEEDBACK_TOKEN: never copied around.
    data.pop("token", None)
    data.pop("feedback_token", None)
    return json.dumps(data)


def settings_from_env() -> ServeSettings:
    raw: dict[str, Any] = json.loads(os.environ.get(ENV_KEY, "{}"))
    known = {f.name for f in fields(ServeSettings)}
    values = {k: v for k, v in raw.items() if k in known}
    if "spill_dir" in values:
        values["spill_dir"] = Path(values["spill_dir"])
    for key in ("models", "allowed_hosts"):
        if key in values:
            values[key] = tuple(values[key])
    values["token"] = os.environ.get("MLSHIP_TOKEN") or None
    values["feedback_token"] = os.environ.get("MLSHIP_FEEDBACK_TOKEN") or None
    return ServeSettings(**values)


def app_from_env() -> FastAPI:
    """The uvicorn factory (``mlship.serving.entrypoint:app_from_env``)."""
    from mlship.registry import Registry
    from mlship.serving.app import create_app

    return create_app(settings_from_env(), Registry.from_env())
