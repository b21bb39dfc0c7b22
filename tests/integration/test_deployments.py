"""Deployments in the store: one row per model, one ledger event per change, safe under races."""

from __future__ import annotations

import threading

import pandas as pd

from mlship.registry import Registry
from mlship.rollout import DeploymentStore
from tests.conftest import RegistryFactory, fit_logreg


def test_set_stable_bumps_revision_and_records_the_previous_version(
    registry: Registry, numeric_frame: pd.DataFrame
) -> None:
    model = fit_logreg(numeric_frame)
    registry.register(model, "fraud")
    registry.register(model, "fraud")
    store = DeploymentStore(registry)
    first = store.set_stable("fraud@1", reason="launch")
    second = store.set_stable("fraud@2")
    assert (first.stable_version, first.revision) == (1, 1)
    assert (second.stable_version, second.revision) == (2, 2)
    assert store.revisions() == {"fraud": 2}
    deployed = [e for e in registry.history("fraud") if e.kind == "deployed"]
    assert [(e.version, e.details["previous_version"]) for e in deployed] == [(1, None), (2, 1)]
    assert deployed[0].reason == "launch"


def test_concurrent_first_deploys_do_not_collide(
    registry_factory: RegistryFactory, numeric_frame: pd.DataFrame
) -> None:
    """Check that two replicas deploying a new model at once both succeed (no unique error)."""
    seed = registry_factory()
    model = fit_logreg(numeric_frame)
    for _ in range(2):
        seed.register(model, "fraud")
    for round_ in range(5):
        name = f"m{round_}"
        seed.register(model, name)
        seed.register(model, name)
        errors: list[BaseException] = []
        barrier = threading.Barrier(2)

        def deploy(
            version: int,
            name: str = name,
            barrier: threading.Barrier = barrier,
            errors: list[BaseException] = errors,
        ) -> None:
            store = DeploymentStore(registry_factory())
            barrier.wait()
            try:
                store.set_stable(f"{name}@{version}")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=deploy, args=(v,)) for v in (1, 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert DeploymentStore(seed).get(name).revision == 2
