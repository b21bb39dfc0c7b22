"""The demo's retraining job. The monitor's :class:`~mlship.monitoring.retrain.Retrainer` runs
it in a child Python as ``retrain(model=..., reason=...)`` when drift crosses its threshold
(``--retrain-entry-point mlship.demo.retrain:retrain``).

It trains on the recent labelled transactions in the Parquet file ``$MLSHIP_DEMO_DATA`` and
registers the new version in the store of ``$MLSHIP_HOME``, its parent being the version that
served (``$MLSHIP_RETRAIN_VERSION``); checking, gating and deploying it is the caller's job.
"""

from __future__ import annotations

import os

DATA_VARIABLE = "MLSHIP_DEMO_DATA"
"""The Parquet file of recent labelled transactions."""


def retrain(model: str, reason: str) -> None:
    """Train gradient-boosted trees on the recent data and register them as a new version."""
    import pandas as pd

    from mlship.demo import models
    from mlship.demo.transactions import LABEL
    from mlship.registry import Registry

    frame = pd.read_parquet(os.environ[DATA_VARIABLE])
    cut = int(len(frame) * 0.8)
    train, test = frame.iloc[:cut], frame.iloc[cut:]
    fitted = models.fit(models.boosted(train), train)
    parent = os.environ.get("MLSHIP_RETRAIN_VERSION")
    registry = Registry.from_env()
    try:
        version = registry.register(
            fitted,
            model,
            train_data=train,
            label=LABEL,
            metrics=models.scores(fitted, test),
            params=models.BOOSTED_PARAMS,
            tags={"trigger": "drift"},
            description="Retrained on recent transactions",
            parent=int(parent) if parent else None,
            reason=f"retrained: {reason}",
        )
    finally:
        registry.close()
    print(f"Registered {version.ref}")
