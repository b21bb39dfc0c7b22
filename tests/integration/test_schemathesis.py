"""Schemathesis fuzzes every operation of the live server's OpenAPI schema: no request is a 5xx.

Schemathesis' pytest integration (``schemathesis.pytest.from_fixture``) reads
``request.node._nodeid``, which pytest 9.2 no longer has, so the test drives schemathesis through
its Python API instead: one Hypothesis run per operation, generation mode and path.
"""

from __future__ import annotations

import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from mlship.registry import Registry
from tests.conftest import fit_logreg
from tests.integration.conftest import ServeFactory

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

# Per operation, generation mode and path; an operation with a {name} runs four times this many.
EXAMPLES = 25
SERVED = {"name": "fraud", "version": "1"}


@pytest.fixture
def api_schema(
    registry: Registry, numeric_frame: pd.DataFrame, serve_factory: ServeFactory
) -> schemathesis.BaseSchema:
    """The schema of a server that serves ``fraud`` (two versions registered, the first one
    deployed), loaded from its ``/openapi.json`` once the model is up."""
    model = fit_logreg(numeric_frame)
    registry.register(model, "fraud", train_data=numeric_frame, label="is_fraud")
    registry.register(model, "fraud", train_data=numeric_frame, label="is_fraud")
    registry.set_alias("fraud@1", "production")
    server = serve_factory(registry, models=("fraud@production",))
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


def _fuzz(operation: schemathesis.APIOperation, mode: GenerationMode, path: dict[str, str]) -> None:
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path or None)

    @seed(20240611)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=[not_a_server_error])

    run()


def test_no_operation_answers_with_a_server_error(api_schema: schemathesis.BaseSchema) -> None:
    """Check that generated requests, valid and invalid, to every operation never get a 5xx:
    with generated path parameters (mostly unknown models) and with the served model's."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20
    failures: list[str] = []
    for operation in operations:
        names = {p.name for p in operation.path_parameters}
        paths = [{}, {k: v for k, v in SERVED.items() if k in names}] if names else [{}]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for path in paths:
                try:
                    _fuzz(operation, mode, path)
                except Exception as exc:
                    failures.append(f"{operation.label} ({mode.value}, path {path}):\n{exc}")
    assert not failures, "\n\n".join(failures)
