"""Which version answers a request, and which version gets a copy of it. The seam rollouts plug
into: stable, a canary's candidate for its sticky share of routing keys, or stable with a shadow
that is offered a copy of the mirrored share of requests. The table is swapped atomically when
deployments change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlship.errors import ModelNotFound
from mlship.rollout.traffic import TrafficSplit, split_key

if TYPE_CHECKING:
    from mlship.serving.runtime import VersionRuntime


@dataclass(frozen=True, slots=True)
class Route:
    """The runtime that answers, in which role (stable, candidate, or pinned: a request for one
    version by number), and the shadow that gets a copy of the request once it is answered
    (None: not mirrored)."""

    runtime: VersionRuntime
    role: str
    shadow: VersionRuntime | None = None
    key: str | None = None
    """The request's routing key (None: it had none, and its request id split it)."""


@dataclass(frozen=True, slots=True)
class ModelRoutes:
    """The runtimes of one model: stable, during a canary a candidate with its split, during a
    shadow rollout the shadow with the split of mirrored request ids."""

    stable: VersionRuntime
    candidate: VersionRuntime | None = None
    split: TrafficSplit | None = None
    shadow: VersionRuntime | None = None
    mirror: TrafficSplit | None = None

    @property
    def runtimes(self) -> list[tuple[VersionRuntime, bool]]:
        """Every runtime of the model, each with whether it is the shadow."""
        found = [(self.stable, False)]
        if self.candidate is not None:
            found.append((self.candidate, False))
        if self.shadow is not None:
            found.append((self.shadow, True))
        return found


class Router:
    """Maps a model name (and a routing key, used by rollouts) to a :class:`Route`."""

    def __init__(self) -> None:
        self._table: dict[str, ModelRoutes] = {}

    @property
    def models(self) -> dict[str, ModelRoutes]:
        return dict(self._table)

    def replace(self, table: dict[str, ModelRoutes]) -> None:
        """Swap the whole table (one reference assignment: requests see old or new, never half)."""
        self._table = table

    def routes(self, model: str) -> ModelRoutes:
        found = self._table.get(model)
        if found is None:
            served = ", ".join(sorted(self._table)) or "none"
            raise ModelNotFound(
                f"No model {model!r} is served here. Served models: {served}. Deploy it with "
                f"mlship serve --model {model}@production (or a deployment in the store)."
            )
        return found

    def route(self, model: str, routing_key: str | None = None, *, request_id: str) -> Route:
        """Stable, or the candidate for the share of routing keys (else request ids) the split
        assigns to it: the same key lands on the same version on every replica. With a shadow,
        the request ids the mirror split selects also carry the shadow (every replica agrees)."""
        routes = self.routes(model)
        split = routes.split
        if (
            routes.candidate is not None
            and split is not None
            and split.is_candidate(split_key(routing_key, request_id))
        ):
            return Route(routes.candidate, "candidate", key=routing_key)
        shadow = routes.shadow
        if (
            shadow is not None
            and routes.mirror is not None
            and routes.mirror.is_candidate(request_id)
        ):
            return Route(routes.stable, "stable", shadow, routing_key)
        return Route(routes.stable, "stable", key=routing_key)

    def runtime(self, model: str, version: int) -> VersionRuntime:
        """A specific served version (for ``/v2/models/{name}/versions/{v}``)."""
        routes = self.routes(model)
        for runtime in (routes.stable, routes.candidate):
            if runtime is not None and runtime.version == version:
                return runtime
        raise ModelNotFound(
            f"Version {version} of {model!r} is not served here; version "
            f"{routes.stable.version} is."
        )
