"""The server's state: the router table, kept in step with the store by a watcher task."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from mlship.registry import Registry
from mlship.rollout import DeploymentStore
from mlship.serving.observability import ServerMetrics
from mlship.serving.router import ModelRoutes, Router
from mlship.serving.runtime import VersionRuntime

if TYPE_CHECKING:
    from mlship.serving.prediction_log import PredictionLog
    from mlship.serving.settings import ServeSettings

log = logging.getLogger(__name__)


class ServerState:
    """Everything a request handler needs, owned by one app instance (no globals)."""

    def __init__(self, settings: ServeSettings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry
        self.deployments = DeploymentStore(registry)
        self.router = Router()
        self.metrics = ServerMetrics()
        self.executor = ThreadPoolExecutor(
            max_workers=max(2, settings.threads() + 1), thread_name_prefix="mlship-predict"
        )
        self.prediction_log: PredictionLog | None = None
        self._runtimes: dict[tuple[str, int], VersionRuntime] = {}
        self._revisions: dict[str, int] | None = None
        self._static: dict[str, int] = {}
        self.ready = False

    # ------------------------------------------------------------------------------ refresh

    def desired(self) -> dict[str, int]:
        """``{model: version}`` that should serve now: deployments, then ``--model`` refs."""
        wanted = {d.model: d.stable_version for d in self.deployments.list()}
        for ref in self.settings.models:
            name, version = self.registry.resolve(ref)
            wanted.setdefault(name, version)
        return wanted

    def changed(self) -> bool:
        """Cheap poll: did any deployment revision or ``--model`` alias move?"""
        revisions = self.deployments.revisions()
        static = {}
        for ref in self.settings.models:
            name, version = self.registry.resolve(ref)
            static[name] = version
        moved = revisions != self._revisions or static != self._static
        self._revisions, self._static = revisions, static
        return moved

    def build(self, wanted: dict[str, int]) -> dict[str, ModelRoutes]:
        """Load (and warm) what is not loaded yet; runs in a worker thread, off the event loop."""
        table = {}
        for name, version in wanted.items():
            key = (name, version)
            runtime = self._runtimes.get(key)
            if runtime is None:
                loaded = self.registry.load(f"{name}@{version}")
                runtime = VersionRuntime(loaded, self.settings, self.executor, self.metrics)
                runtime.warm_up()
                self._runtimes[key] = runtime
                log.info("Loaded %s@%d", name, version)
            table[name] = ModelRoutes(stable=runtime)
        return table

    async def refresh(self) -> None:
        """Bring the router in step with the store (loads happen before the switch)."""
        loop = asyncio.get_running_loop()
        moved = await loop.run_in_executor(self.executor, self.changed)
        if not moved and self.ready:
            return
        wanted = await loop.run_in_executor(self.executor, self.desired)
        table = await loop.run_in_executor(self.executor, self.build, wanted)
        old = self.router.models
        self.router.replace(table)
        self.ready = True
        in_use = {(r.stable.name, r.stable.version) for r in table.values()}
        for routes in old.values():
            key = (routes.stable.name, routes.stable.version)
            if key not in in_use and key in self._runtimes:
                # Requests already routed there finish: close() drains the batcher.
                retired = self._runtimes.pop(key)
                await retired.close()

    async def watch(self) -> None:
        """Poll the store until cancelled; a failed poll is logged and retried."""
        while True:
            await asyncio.sleep(self.settings.refresh_interval_s)
            try:
                await self.refresh()
            except Exception as exc:  # a store hiccup must not stop the server from serving
                log.warning("Refreshing deployments failed: %s", exc)

    async def close(self) -> None:
        for runtime in list(self._runtimes.values()):
            await runtime.close()
        self._runtimes.clear()
        if self.prediction_log is not None:
            # Off the event loop: with the store down this waits; what is not written in time
            # stays in the spill journal for the next start.
            await asyncio.to_thread(self.prediction_log.close)
        self.executor.shutdown(wait=True)
