"""One served model version: the loaded model, its compiled decoder and its micro-batcher."""

from __future__ import annotations

import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlship.serving.batcher import BatchingOptions, BatchOutput, MicroBatcher
from mlship.serving.decode import DecodeOptions, InputDecoder

if TYPE_CHECKING:
    import pandas as pd

    from mlship.registry import LoadedModel
    from mlship.serving.observability import ServerMetrics
    from mlship.serving.settings import ServeSettings


@dataclass(frozen=True, slots=True)
class Prediction:
    """A request's answer: one output per row, probabilities for classifiers."""

    predictions: list[Any]
    probabilities: list[list[float]] | None
    latency_ms: float
    version: int
    """The version that answered (after a deployment switch, not always the one first routed)."""


class VersionRuntime:
    """Everything needed to answer requests for one version, built (and warmed) before use."""

    def __init__(
        self,
        loaded: LoadedModel,
        settings: ServeSettings,
        executor: Executor,
        metrics: ServerMetrics,
    ) -> None:
        self._loaded = loaded
        self._closing = False
        version = loaded.version
        self.name = version.name
        self.version = version.version
        signature = version.signature
        features = (version.data_profile or {}).get("features", {})
        allow_nan = frozenset(
            name for name, stats in features.items() if stats.get("missing_rate", 0) > 0
        )
        if signature is None:
            raise ValueError(f"{version.ref} has no signature and cannot be served.")
        self.signature = signature
        self.decoder = InputDecoder(
            signature,
            DecodeOptions(
                unknown_features=settings.unknown_features,
                max_batch_rows=settings.max_batch_rows,
                allow_nan=allow_nan,
            ),
        )
        raw = loaded.raw
        classes = signature.classes
        self._classes = np.asarray(classes, dtype=object) if classes is not None else None
        self._has_proba = bool(signature.has_proba and hasattr(raw, "predict_proba"))
        self._raw = raw
        labels = {"model": self.name, "version": str(self.version)}
        self._batch_metric = metrics.batch_size
        self._rows_metric = metrics.rows
        self._labels = labels
        self.batcher = MicroBatcher(
            self._predict_batch,
            BatchingOptions(
                enabled=settings.batching,
                max_batch_rows=settings.max_batch_size,
                max_wait_ms=settings.max_wait_ms,
            ),
            executor=executor,
            on_batch=self._observe_batch,
        )

    @property
    def loaded(self) -> LoadedModel:
        return self._loaded

    @property
    def closing(self) -> bool:
        """True once the runtime was retired (it takes no new requests)."""
        return self._closing

    @property
    def has_proba(self) -> bool:
        return self._has_proba

    def _predict_batch(self, frame: pd.DataFrame) -> BatchOutput:
        """Runs in a worker thread: one call of the model for a (merged) batch."""
        if self._has_proba:
            proba = np.asarray(self._raw.predict_proba(frame), dtype=np.float64)
            # predict() of a scikit-learn classifier is classes[argmax(proba)]: one call, not two.
            if self._classes is not None and proba.ndim == 2:
                preds = self._classes[np.argmax(proba, axis=1)]
            else:
                preds = np.asarray(self._raw.predict(frame))
        else:
            proba = None
            preds = np.asarray(self._raw.predict(frame))
        return BatchOutput(predictions=preds, probabilities=proba)

    def _observe_batch(self, size: int, seconds: float) -> None:
        self._batch_metric.labels(**self._labels).observe(size)

    def on_rows(self, size: int, role: str) -> None:
        self._rows_metric.labels(role=role, **self._labels).inc(size)

    async def predict(self, frame: pd.DataFrame) -> Prediction:
        start = time.perf_counter()
        output = await self.batcher.submit(frame)
        latency = (time.perf_counter() - start) * 1000
        preds = output.predictions
        return Prediction(
            predictions=preds.tolist(),
            probabilities=output.probabilities.tolist()
            if output.probabilities is not None
            else None,
            latency_ms=latency,
            version=self.version,
        )

    def warm_up(self) -> None:
        """One prediction on a row drawn from the profile (or zeros), before taking traffic."""
        from mlship.checks.sample import sample_from_profile

        version = self._loaded.version
        if version.data_profile is not None:
            frame = sample_from_profile(version.data_profile, self.signature, 2, seed=0)
        else:
            import pandas as pd

            frame = pd.DataFrame(
                {
                    f.name: [0.0, 0.0] if f.dtype in ("float", "int") else ["", ""]
                    for f in self.signature.features
                }
            )
        try:
            self._predict_batch(frame)
        except Exception:  # a model that cannot predict synthetic rows still serves real ones
            return

    async def close(self) -> None:
        self._closing = True
        await self.batcher.close()
