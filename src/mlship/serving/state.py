"""The server's state: the router table, kept in step with the store by a watcher task, and the
shadow mirror that runs copies of requests on shadow versions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from mlship.registry import Registry
from mlship.rollout import DeploymentStore
from mlship.rollout.leader import Leadership
from mlship.rollout.traffic import TrafficSplit
from mlship.serving.loaded_metric import LoadedCollector
from mlship.serving.observability import ServerMetrics
from mlship.serving.request_ids import RequestIds
from mlship.serving.router import ModelRoutes, Router
from mlship.serving.runtime import VersionRuntime
from mlship.serving.shadow import ShadowMirror, ShadowSettings
from mlship.store import utcnow

if TYPE_CHECKING:
    from mlship.monitoring.schedule import Monitor
    from mlship.serving.prediction_log import PredictionLog
    from mlship.serving.prediction_record import PredictionRecord
    from mlship.serving.settings import ServeSettings

log = logging.getLogger(__name__)


RuntimeKey = tuple[str, int, bool]
"""``(model, version, is_shadow)``: a shadow runs on its own thread, apart from its version's
runtime as a candidate or stable."""


@dataclass(frozen=True, slots=True)
class Target:
    """What should serve for one model: a stable version, maybe a candidate and its share, or a
    shadow and the share of requests mirrored to it."""

    stable: int
    candidate: int | None = None
    share: float = 0.0
    salt: str = ""
    shadow: int | None = None
    mirror: float = 0.0
    standby: int | None = None
    """Blue after a blue-green switch: kept loaded, not routed, until ``standby_until``."""
    standby_until: datetime | None = None


def _keyed(routes: ModelRoutes) -> list[tuple[RuntimeKey, VersionRuntime]]:
    return [((rt.name, rt.version, shadow), rt) for rt, shadow in routes.runtimes]


class ServerState:
    """Everything a request handler needs, owned by one app instance (no globals)."""

    def __init__(
        self, settings: ServeSettings, registry: Registry, shadow: ShadowSettings | None = None
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.deployments = DeploymentStore(registry)
        self.router = Router()
        self.metrics = ServerMetrics()
        self.request_ids = RequestIds()
        self.executor = ThreadPoolExecutor(
            max_workers=max(2, settings.threads() + 1), thread_name_prefix="mlship-predict"
        )
        # Store polls, model loads, the controller's analysis: never in a thread a model call
        # (a candidate's batch, say) would have to wait for.
        self.control_executor = ThreadPoolExecutor(
            max_workers=2, thread_name_prefix="mlship-control"
        )
        # One thread: a slow or hung shadow can take at most one core and no stable thread.
        self.shadow_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlship-shadow")
        self.prediction_log: PredictionLog | None = None
        self.shadow = ShadowMirror(
            shadow or ShadowSettings.from_env(), self._record_shadow, self.metrics
        )
        self._retiring: set[asyncio.Task[None]] = set()
        self._runtimes: dict[RuntimeKey, VersionRuntime] = {}
        self._standby: set[RuntimeKey] = set()
        self._standby_ends: datetime | None = None
        self._revisions: dict[str, int] | None = None
        self._static: dict[str, int] = {}
        self._failed: set[str] = set()
        self._failed_at = 0.0
        self._lock = asyncio.Lock()
        self.ready = False
        self.metrics.registry.register(LoadedCollector(self.roles))
        # One leadership for the controller and the monitor (a second flock on the same file
        # from this process would never be granted), used by one thread at a time.
        self.leadership = Leadership(registry.store)
        self._leader_lock = threading.Lock()

    # ------------------------------------------------------------------------------ refresh

    def desired(self) -> dict[str, Target]:
        """What should serve now: deployments (with their candidates or shadows), then
        ``--model`` refs."""
        wanted = {}
        now = utcnow()
        for d in self.deployments.list():
            canary = d.candidate_version is not None and d.state == "canary"
            salt = d.config.get("salt") if canary or d.shadow_version is not None else None
            standby = d.standby_at(now)
            wanted[d.model] = Target(
                stable=d.stable_version,
                candidate=d.candidate_version if canary else None,
                share=d.traffic if canary else 0.0,
                salt=str(salt) if salt is not None else f"{d.model}@{d.candidate_version}",
                shadow=d.shadow_version,
                mirror=d.mirror_percent / 100,
                standby=standby,
                standby_until=d.standby_until if standby is not None else None,
            )
        for ref in self.settings.models:
            name, version = self.registry.resolve(ref)
            wanted.setdefault(name, Target(stable=version))
        return wanted

    def poll(self) -> tuple[dict[str, int], dict[str, int]]:
        """Cheap: deployment revisions (one query) and what the ``--model`` references name."""
        static = {}
        for ref in self.settings.models:
            name, version = self.registry.resolve(ref)
            static[name] = version
        return self.deployments.revisions(), static

    def load_runtime(self, name: str, version: int, *, shadow: bool = False) -> VersionRuntime:
        """The runtime of ``name@version``, loaded and warmed once (runs off the event loop).

        A ``shadow`` runtime predicts on its own thread, so it never holds up stable's."""
        key = (name, version, shadow)
        runtime = self._runtimes.get(key)
        if runtime is None or runtime.closing:
            loaded = self.registry.load(f"{name}@{version}")
            executor = self.shadow_executor if shadow else self.executor
            runtime = VersionRuntime(loaded, self.settings, executor, self.metrics)
            runtime.warm_up()
            self._runtimes[key] = runtime
            log.info("Loaded %s@%d%s", name, version, " (shadow)" if shadow else "")
        return runtime

    def loaded(self, name: str) -> dict[int, VersionRuntime]:
        """``{version: runtime}`` of ``name`` loaded here and not retired: routed (stable,
        candidate), mirrored (shadow) or on standby. A shadow's runtime is listed only when its
        version has no other runtime."""
        found: dict[int, VersionRuntime] = {}
        for (model, version, shadow), runtime in sorted(self._runtimes.items()):
            if model == name and not runtime.closing and (not shadow or version not in found):
                found[version] = runtime
        return found

    def roles(self) -> list[tuple[str, int, str]]:
        """``(model, version, role)`` of every runtime in use here: ``stable``, ``candidate``,
        ``shadow`` (routed or mirrored) or ``standby`` (loaded, not routed)."""
        found = []
        for name, routes in sorted(self.router.models.items()):
            found.append((name, routes.stable.version, "stable"))
            if routes.candidate is not None:
                found.append((name, routes.candidate.version, "candidate"))
            if routes.shadow is not None:
                found.append((name, routes.shadow.version, "shadow"))
        found.extend((name, version, "standby") for name, version, _ in sorted(self._standby))
        return found

    def build(
        self, wanted: dict[str, Target]
    ) -> tuple[dict[str, ModelRoutes], dict[str, str], set[RuntimeKey]]:
        """The new router table; a model whose version cannot be loaded keeps what it served
        (and is retried on the next poll). Returns the table, ``{model: error}`` and the keys
        of the standby runtimes (loaded, not routed)."""
        current = self.router.models
        table: dict[str, ModelRoutes] = {}
        failures: dict[str, str] = {}
        standby: set[RuntimeKey] = set()
        for name, target in wanted.items():
            try:
                stable = self.load_runtime(name, target.stable)
                if target.candidate is None:
                    table[name] = ModelRoutes(stable=stable)
                else:
                    table[name] = ModelRoutes(
                        stable=stable,
                        candidate=self.load_runtime(name, target.candidate),
                        split=TrafficSplit(target.share, target.salt),
                    )
            except Exception as exc:  # a broken version must not stop the other models
                failures[name] = f"{type(exc).__name__}: {exc}"
                if name in current:
                    table[name] = current[name]
                continue
            if target.shadow is not None:
                try:
                    table[name] = ModelRoutes(
                        stable=stable,
                        shadow=self.load_runtime(name, target.shadow, shadow=True),
                        mirror=TrafficSplit(target.mirror, target.salt),
                    )
                except Exception as exc:  # stable serves alone until the shadow loads
                    failures[name] = f"shadow v{target.shadow}: {type(exc).__name__}: {exc}"
        # After what serves: a server that starts inside a window loads blue last.
        for name, target in wanted.items():
            if target.standby is None or target.standby == target.stable:
                continue
            try:  # blue normally is still loaded (it served until the switch): no load
                self.load_runtime(name, target.standby)
                standby.add((name, target.standby, False))
            except Exception as exc:  # only a rollback would need it, and it can load then
                log.warning("Cannot keep %s@%d on standby: %s", name, target.standby, exc)
        return table, failures, standby

    async def refresh(self, *, force: bool = False) -> dict[str, str]:
        """Bring the router in step with the store; loads happen before the switch.

        One refresh at a time (the watcher and admin requests both call it), so an older
        snapshot can never overwrite a newer one. Returns ``{model: error}`` of failed loads.
        """
        async with self._lock:
            loop = asyncio.get_running_loop()
            revisions, static = await loop.run_in_executor(self.control_executor, self.poll)
            retry_failed = self._failed and time.monotonic() - self._failed_at > 5.0
            unchanged = revisions == self._revisions and static == self._static
            ends = self._standby_ends
            standby_ended = ends is not None and utcnow() >= ends
            if self.ready and unchanged and not retry_failed and not standby_ended and not force:
                return {}
            wanted = await loop.run_in_executor(self.control_executor, self.desired)
            table, failures, standby = await loop.run_in_executor(
                self.control_executor, self.build, wanted
            )
            old = self.router.models
            self.router.replace(table)
            self.ready = True
            self._revisions, self._static = revisions, static
            self._failed, self._failed_at = set(failures), time.monotonic()
            old_standby, self._standby = self._standby, standby
            self._standby_ends = min(
                (t.standby_until for t in wanted.values() if t.standby_until is not None),
                default=None,
            )
            for name, error in failures.items():
                log.error(
                    "Cannot load the deployed version of %s (still serving the previous "
                    "one, retrying): %s",
                    name,
                    error,
                )
            in_use = {key for routes in table.values() for key, _ in _keyed(routes)} | standby
            # Only what served (or stood by) before: a version an admin request is loading
            # for a deploy is in neither table yet, and must stay.
            was = {key for routes in old.values() for key, _ in _keyed(routes)} | old_standby
            for key in sorted(was - in_use):
                if key in self._runtimes:
                    await self._retire(key, "standby ended" if key in old_standby else "retired")
            return failures

    async def discard(self, name: str, version: int, *, shadow: bool = False) -> None:
        """Unload ``name@version`` if it neither serves nor stands by (a deploy that was
        refused after its version was loaded)."""
        async with self._lock:
            key = (name, version, shadow)
            in_use = {k for routes in self.router.models.values() for k, _ in _keyed(routes)}
            if key in self._runtimes and key not in in_use | self._standby:
                await self._retire(key, "refused")

    async def _retire(self, key: RuntimeKey, why: str) -> None:
        retired = self._runtimes.pop(key)
        if key[2]:
            self.shadow.discard(retired)
            self._retire_later(retired)
        else:
            # Requests already routed there finish: close() drains the batcher.
            await retired.close()
        if not any(k[:2] == key[:2] for k in self._runtimes):
            self.registry.evict(key[0], key[1])
        log.info("Unloaded %s@%d%s (%s)", key[0], key[1], " (shadow)" if key[2] else "", why)

    def _retire_later(self, runtime: VersionRuntime) -> None:
        """Close a retired shadow in the background: a hung shadow must not hold up refreshes."""
        task = asyncio.get_running_loop().create_task(self._close_shadow(runtime))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _close_shadow(self, runtime: VersionRuntime) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(runtime.close(), self.shadow.settings.timeout_s)

    def _record_shadow(self, record: PredictionRecord) -> None:
        plog = self.prediction_log
        if plog is not None:
            plog.record(record, refusable=False)  # a copy: no user answer to refuse

    async def control(self) -> None:
        """Run the canary controller while this process is the leader; act, then refresh."""
        from mlship.rollout.controller import Controller

        controller = Controller(self.registry)
        loop = asyncio.get_running_loop()
        try:
            while True:
                await asyncio.sleep(self.settings.controller_interval_s)
                try:
                    if not await loop.run_in_executor(self.control_executor, self.is_leader):
                        continue
                    decisions = await loop.run_in_executor(self.control_executor, controller.tick)
                    for d in decisions:
                        if d.action in ("advance", "rollback", "pause"):
                            log.info("Controller: %s %s (%s)", d.action, d.model, d.reason)
                    if any(d.action in ("advance", "rollback", "pause") for d in decisions):
                        await self.refresh(force=True)
                except Exception as exc:  # the controller must never take the server down
                    log.warning("Controller tick failed: %s", exc)
        finally:
            await asyncio.to_thread(self.release_leadership)

    def is_leader(self) -> bool:
        """Whether this process leads the replicas (takes the lock when it is free)."""
        with self._leader_lock:
            return self.leadership.held()

    def release_leadership(self) -> None:
        with self._leader_lock:
            self.leadership.release()

    def build_monitor(self) -> tuple[Monitor, float]:
        """The drift monitor of ``MLSHIP_MONITOR_*`` and ``mlship.toml`` (a bad setting fails
        the start-up, not the first tick)."""
        from mlship.config import read_project_config
        from mlship.monitoring.settings import MonitorSettings, build_monitor

        settings = MonitorSettings.from_env(project=read_project_config())
        # One thread measures drift: the cores are for predictions.
        monitor = build_monitor(self.registry, settings, workers=1)
        return monitor, settings.interval.total_seconds()

    async def monitor(self, monitor: Monitor, interval_s: float) -> None:
        """Evaluate deployed models every ``interval_s`` while this process is the leader;
        a tick runs in its own thread, never on the prediction threads."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                await asyncio.sleep(interval_s)
                try:
                    if not await loop.run_in_executor(self.control_executor, self.is_leader):
                        continue
                    await asyncio.to_thread(monitor.tick)
                except Exception as exc:  # the monitor must never take the server down
                    log.warning("Monitor tick failed: %s", exc)
        finally:
            monitor.close()
            await asyncio.to_thread(self.release_leadership)

    async def watch(self) -> None:
        """Poll the store until cancelled; a failed poll is logged and retried."""
        while True:
            await asyncio.sleep(self.settings.refresh_interval_s)
            try:
                await self.refresh()
            except Exception as exc:  # a store hiccup must not stop the server from serving
                log.warning("Refreshing deployments failed: %s", exc)

    async def close(self) -> None:
        await self.shadow.close()
        for key, runtime in list(self._runtimes.items()):
            if key[2]:
                await self._close_shadow(runtime)
            else:
                await runtime.close()
        self._runtimes.clear()
        if self._retiring:
            await asyncio.wait(set(self._retiring))
        if self.prediction_log is not None:
            # Off the event loop: with the store down this waits; what is not written in time
            # stays in the spill journal for the next start.
            budget = max(0.5, self.settings.log_drain_s - 3.0)  # close() may add 3 s to abort
            await asyncio.to_thread(self.prediction_log.close, budget)
        self.executor.shutdown(wait=True)
        self.control_executor.shutdown(wait=True)
        # A hung shadow thread must not keep the server from stopping.
        self.shadow_executor.shutdown(wait=False, cancel_futures=True)
