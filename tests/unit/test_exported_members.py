"""Each package's public surface is explicit, sorted and importable."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "mlship",
    "mlship.checks",
    "mlship.cli",
    "mlship.dashboard",
    "mlship.deploy",
    "mlship.monitoring",
    "mlship.pipeline",
    "mlship.registry",
    "mlship.registry.formats",
    "mlship.rollout",
    "mlship.serving",
    "mlship.store",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_resolves(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported)
    for member in exported:
        assert getattr(module, member) is not None


def test_every_error_derives_from_mlship_error() -> None:
    import inspect

    from mlship import errors

    classes = [
        c for _, c in inspect.getmembers(errors, inspect.isclass) if c.__module__ == "mlship.errors"
    ]
    assert len(classes) >= 10
    for cls in classes:
        assert issubclass(cls, errors.MlshipError)
        assert cls.__name__ in (errors.__doc__ or ""), f"{cls.__name__} missing from the tree"


def test_cli_lists_every_builtin_metric() -> None:
    """Check that the metric names in ``mlship gate --help`` are the built-in metrics."""
    from mlship.checks.metrics import builtin_metrics
    from mlship.cli.checks import METRIC_NAMES

    assert sorted(METRIC_NAMES) == sorted(builtin_metrics())
