"""Prometheus metrics of one server: a registry per app, never the global default one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

if TYPE_CHECKING:
    from mlship.serving.prediction_log import PredictionLog

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServerMetrics:
    """Requests, errors, latency and batch size per model, version and role."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("model", "version", "role")
        self.requests = Counter(
            "mlship_requests",
            "Prediction requests answered",
            (*labels, "protocol", "status"),
            registry=self.registry,
        )
        self.errors = Counter(
            "mlship_errors",
            "Prediction requests that failed",
            (*labels, "kind"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "mlship_request_latency_seconds",
            "Time to answer a prediction request",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "mlship_batch_size_rows",
            "Rows per predict call (micro-batching)",
            ("model", "version"),
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.rows = Counter(
            "mlship_predicted_rows", "Rows predicted", labels, registry=self.registry
        )
        self.log_queue = Gauge(
            "mlship_prediction_log_queue",
            "Prediction records waiting to be written",
            registry=self.registry,
        )
        self.shadow_dropped = Counter(
            "mlship_shadow_dropped",
            "Shadow copies of requests dropped because the shadow queue was full",
            ("model", "version"),
            registry=self.registry,
        )
        self.log_spilled = Gauge(
            "mlship_prediction_log_spilled",
            "Prediction records spilled to disk so far",
            registry=self.registry,
        )

    def watch_log(self, plog: PredictionLog) -> None:
        """Export the prediction log's losses and its full-disk state, read at each scrape."""
        self.registry.register(_LogCollector(plog))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _LogCollector:
    """``mlship_prediction_log_lost_total{model}``, ``..._held`` and ``..._disk_full``."""

    def __init__(self, plog: PredictionLog) -> None:
        self._plog = plog

    def collect(self) -> Iterator[Metric]:
        status = self._plog.status()
        lost = CounterMetricFamily(
            "mlship_prediction_log_lost",
            "Prediction records lost (disk and memory full, torn in a crash, refused by the "
            "store); model 'unknown' for a torn or unreadable line",
            labels=["model"],
        )
        for model, count in sorted(status.lost.items()):
            lost.add_metric([model], count)
        yield lost
        yield GaugeMetricFamily(
            "mlship_prediction_log_held",
            "Prediction records kept in memory because the disk is full",
            value=status.held,
        )
        yield GaugeMetricFamily(
            "mlship_prediction_log_disk_full",
            "1 while the spill journal cannot reserve space",
            value=int(status.disk_full_since is not None),
        )
        yield CounterMetricFamily(
            "mlship_prediction_log_refused",
            "Requests answered 503 because the log could not keep their record "
            "(--on-log-full refuse)",
            value=status.refused,
        )
