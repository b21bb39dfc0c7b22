"""One served model version: the loaded model, its compiled decoder and its micro-batcher."""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from mlship.serving.batcher import BatchingOptions, BatchOutput, MicroBatcher
from mlship.serving.decode import DecodeOptions, Frame, InputDecoder, concat_frames

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
    model_ms: float | None = None
    """The model call's own time (with micro-batching, the merged batch's call)."""
    batch_wait_ms: float | None = None
    """The rest of ``latency_ms``: the wait for a batch and the thread hand-offs."""


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
        self._numeric = all(f.dtype in ("float", "int") for f in signature.features)
        # Set by warm_up() when the model answers a float array exactly as it answers a frame:
        # scikit-learn's DataFrame checks cost ~0.6 ms a call (bench/serve).
        self._array_model: Any = None
        labels = {"model": self.name, "version": str(self.version)}
        self._batch_metric = metrics.batch_size
        self._rows_metric = metrics.rows
        self._metrics = metrics
        self._answered: dict[tuple[str, str], tuple[Any, Any, Any]] = {}
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
            merge=self._merge,
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

    @property
    def takes_arrays(self) -> bool:
        """Whether requests reach the model as one float array rather than a DataFrame."""
        return self._array_model is not None

    def _merge(self, frames: Sequence[Frame]) -> Any:
        """Runs in a worker thread: the model input of a batch of requests' frames."""
        if self._array_model is not None:
            arrays = [f.to_numpy(dtype=np.float64) for f in frames]
            return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
        return concat_frames(frames)

    def _predict_batch(self, inputs: Any) -> BatchOutput:
        """Runs in a worker thread: one call of the model for a (merged) batch."""
        model = self._array_model if type(inputs) is np.ndarray else self._raw
        return self._call(model, inputs)

    def _call(self, model: Any, inputs: Any) -> BatchOutput:
        if self._has_proba:
            proba = np.asarray(model.predict_proba(inputs), dtype=np.float64)
            # predict() of a scikit-learn classifier is classes[argmax(proba)]: one call, not two.
            if self._classes is not None and proba.ndim == 2:
                preds = self._classes[np.argmax(proba, axis=1)]
            else:
                preds = np.asarray(model.predict(inputs))
        else:
            proba = None
            preds = np.asarray(model.predict(inputs))
        return BatchOutput(predictions=preds, probabilities=proba)

    def _observe_batch(self, size: int, seconds: float) -> None:
        self._batch_metric.labels(**self._labels).observe(size)

    def on_rows(self, size: int, role: str) -> None:
        self._rows_metric.labels(role=role, **self._labels).inc(size)

    def on_answered(self, role: str, protocol: str, rows: int, seconds: float) -> None:
        """Count one answered request: its rows, latency and a 200 (on the event loop).

        The labelled series are looked up once per role and protocol: ``labels()`` costs
        about 3 µs a call, three calls a request."""
        series = self._answered.get((role, protocol))
        if series is None:
            labels = {**self._labels, "role": role}
            metrics = self._metrics
            series = (
                metrics.rows.labels(**labels),
                metrics.latency.labels(**labels),
                metrics.requests.labels(protocol=protocol, status="200", **labels),
            )
            self._answered[(role, protocol)] = series
        rows_counter, latency, requests = series
        rows_counter.inc(rows)
        latency.observe(seconds)
        requests.inc()

    async def predict(self, frame: Frame) -> Prediction:
        start = time.perf_counter()
        output = await self.batcher.submit(frame)
        latency = (time.perf_counter() - start) * 1000
        preds = output.predictions
        model_ms = output.model_ms
        return Prediction(
            predictions=preds.tolist(),
            probabilities=output.probabilities.tolist()
            if output.probabilities is not None
            else None,
            latency_ms=latency,
            version=self.version,
            model_ms=model_ms,
            batch_wait_ms=None if model_ms is None else max(0.0, latency - model_ms),
        )

    def warm_up(self) -> None:
        """One prediction on a row drawn from the profile (or zeros), before taking traffic."""
        from mlship.checks.sample import sample_from_profile

        version = self._loaded.version
        if version.data_profile is not None:
            frame = sample_from_profile(version.data_profile, self.signature, 16, seed=0)
        else:
            import pandas as pd

            frame = pd.DataFrame(
                {
                    f.name: [0.0, 0.0] if f.dtype in ("float", "int") else ["", ""]
                    for f in self.signature.features
                }
            )
        try:
            with warnings.catch_warnings(record=True):  # shown by real requests, not the warm-up
                warnings.simplefilter("always")
                expected = self._call(self._raw, frame)
        except Exception:  # a model that cannot predict synthetic rows still serves real ones
            return
        if self._numeric:
            self._array_model = _array_twin(self._raw, frame, expected, self._call)
        if self._array_model is not None:  # requests then skip the DataFrame altogether
            options = replace(self.decoder.options, float_arrays=True)
            self.decoder = InputDecoder(self.signature, options)

    async def close(self) -> None:
        self._closing = True
        await self.batcher.close()


def _array_twin(raw: Any, frame: pd.DataFrame, expected: BatchOutput, call: Any) -> Any | None:
    """The model to call with a float array instead of ``frame``'s DataFrame, or None.

    A scikit-learn estimator fitted on a DataFrame checks the names and dtypes of every frame it
    gets, and warns on an array; a shallow copy without ``feature_names_in_`` takes the array
    quietly. It is used only if it answers the warm-up rows exactly as the model does (a pipeline
    that selects columns by name fails that, and keeps its DataFrame).
    """
    names = getattr(raw, "feature_names_in_", None)
    twin = raw
    if names is not None:
        if [str(n) for n in names] != [str(c) for c in frame.columns]:
            return None
        twin = copy.copy(raw)
        try:
            del twin.feature_names_in_
        except AttributeError:  # a property (a Pipeline): not the estimator's own attribute
            return None
    try:
        # Recorded, not raised: the filters are process-wide and other threads may be serving.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = call(twin, frame.to_numpy(dtype=np.float64))
    except Exception:
        return None
    if caught:
        return None
    same = np.array_equal(got.predictions, expected.predictions) and (
        (got.probabilities is None and expected.probabilities is None)
        or (
            got.probabilities is not None
            and expected.probabilities is not None
            and np.array_equal(got.probabilities, expected.probabilities, equal_nan=True)
        )
    )
    return twin if same else None
