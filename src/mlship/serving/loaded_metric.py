"""``mlship_model_loaded``: the versions a server holds loaded, by role, read at scrape time.

``role`` is ``stable`` or ``candidate`` (routed), ``shadow`` (gets copies of requests) or
``standby`` (blue after a blue-green switch: loaded, not routed, until its window ends), so a
dashboard sees blue leave memory when the standby window is over.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

Loaded = Callable[[], list[tuple[str, int, str]]]
"""Returns ``[(model, version, role), ...]``."""


class LoadedCollector(Collector):
    """A Prometheus collector over ``loaded``: one gauge at 1 per loaded version and role."""

    def __init__(self, loaded: Loaded) -> None:
        self._loaded = loaded

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield self._family()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = self._family()
        for model, version, role in self._loaded():
            family.add_metric([model, str(version), role], 1.0)
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "mlship_model_loaded",
            "Model versions loaded in this server, by role (stable, candidate, shadow, standby)",
            labels=("model", "version", "role"),
        )
