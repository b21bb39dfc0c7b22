"""The smoke test of a blue-green switch: green, loaded and warm, must pass the model sanity checks
(:func:`mlship.checks.sanity.run_sanity`, without the timing and the memory probe) and answer the
most recent real requests that blue answered (from the prediction log) through its own serving
runtime: the same decoder, batcher and model call that will serve the traffic. Nothing raises,
every request gets one output per row, and no output is NaN or infinite.

The server runs it on the runtime that is about to take the traffic (``POST
/admin/models/{name}/deploy``); ``mlship deploy --strategy blue-green`` runs the same test in its
own process (:func:`smoke_test_in_process`) before it commits the switch. A failure refuses the
switch (:class:`~mlship.errors.SmokeTestFailed`) and the deployment is left as it was.
"""

from __future__ import annotations

import asyncio
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from mlship.checks.results import CheckResult
from mlship.errors import ConfigError
from mlship.store.schema import predictions

if TYPE_CHECKING:
    from mlship.registry import Registry
    from mlship.serving.runtime import Prediction, VersionRuntime


@dataclass(frozen=True, slots=True)
class SmokeConfig:
    """How much a smoke test does."""

    replay: int = 20
    """Recorded requests replayed: stable's most recent ones that were answered without error."""
    max_rows: int = 1000
    """Rows replayed at most, over all those requests (a big batch request is cut short)."""
    sanity_rows: int = 200
    """Rows drawn from the training profile for the sanity checks."""

    def __post_init__(self) -> None:
        for name in ("replay", "max_rows", "sanity_rows"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"The {name!r} option must be an integer >= 0. Got {value!r}.")


@dataclass(frozen=True, slots=True)
class SmokeReport:
    """The outcome of one smoke test: the sanity results, then one result for the replay."""

    ref: str
    results: tuple[CheckResult, ...]

    @property
    def passed(self) -> bool:
        return not any(r.failed for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.failed]

    def message(self) -> str:
        """One line naming each failing check, and what to do."""
        failed = "; ".join(f"{r.name}: {r.message}" for r in self.failures)
        return (
            f"{self.ref} failed its smoke test ({failed}). Nothing was switched: the stable "
            f"version keeps serving. Fix the model and register a new version (mlship check "
            f"{self.ref} shows the sanity checks)."
        )

    def summary(self) -> dict[str, Any]:
        """``{check: status}`` and the replay's figures: what the ledger keeps of a pass."""
        found: dict[str, Any] = {r.name: r.status for r in self.results}
        replay = next((r for r in self.results if r.name == "smoke:replay"), None)
        if replay is not None and replay.figures:
            found["replayed"] = replay.figures
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "passed": self.passed,
            "results": [r.to_dict() for r in self.results],
        }


def recorded_requests(registry: Registry, model: str, config: SmokeConfig) -> list[list[Any]]:
    """The inputs (lists of row objects) of stable's most recent error-free requests for
    ``model``, newest first, at most ``config.replay`` requests and ``config.max_rows`` rows."""
    if config.replay == 0 or config.max_rows == 0:
        return []
    t = predictions.c
    with registry.store.read() as conn:
        rows = conn.execute(
            sa.select(t.inputs)
            .where(t.model == model, t.role == "stable", t.error.is_(None))
            .order_by(t.at.desc())
            .limit(config.replay)
        ).all()
    found: list[list[Any]] = []
    budget = config.max_rows
    for (inputs,) in rows:
        if not isinstance(inputs, list) or not inputs:
            continue
        found.append(inputs[:budget])
        budget -= len(found[-1])
        if budget <= 0:
            break
    return found


async def smoke_test(
    runtime: VersionRuntime, registry: Registry, config: SmokeConfig | None = None
) -> SmokeReport:
    """Sanity checks on ``runtime``'s model, then the recorded requests replayed through it.

    Runs on the event loop (the checks in a worker thread); ``runtime`` must be loaded and warm
    but need not take traffic yet. The replayed answers are not logged as predictions.
    """
    config = config or SmokeConfig()
    ref = f"{runtime.name}@{runtime.version}"
    results = list(await asyncio.to_thread(_sanity, registry, ref, config))
    recorded = await asyncio.to_thread(recorded_requests, registry, runtime.name, config)
    results.append(await _replay(runtime, recorded))
    return SmokeReport(ref, tuple(results))


def smoke_test_in_process(
    registry: Registry, ref: str, config: SmokeConfig | None = None
) -> SmokeReport:
    """The smoke test of ``ref`` on a serving runtime built in this process (the CLI's way)."""
    from mlship.serving.observability import ServerMetrics
    from mlship.serving.runtime import VersionRuntime
    from mlship.serving.settings import ServeSettings

    loaded = registry.load(ref)
    version = loaded.version
    if version.signature is None:
        failure = CheckResult(
            "smoke:servable",
            "smoke",
            "fail",
            "The version has no signature, so no server can decode requests for it; register "
            "it again with --train-data.",
        )
        return SmokeReport(version.ref, (failure,))

    async def run() -> SmokeReport:
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="mlship-smoke") as executor:
            runtime = VersionRuntime(loaded, ServeSettings(), executor, ServerMetrics())
            await asyncio.to_thread(runtime.warm_up)
            try:
                return await smoke_test(runtime, registry, config)
            finally:
                await runtime.close()

    return asyncio.run(run())


def record_failure(registry: Registry, report: SmokeReport, reason: str | None) -> None:
    """A ``smoke_test_failed`` event in the model's ledger, with every check's result."""
    name, _, version = report.ref.partition("@")
    registry.record_event(
        name, "smoke_test_failed", version=int(version), reason=reason, details=report.to_dict()
    )


def _sanity(registry: Registry, ref: str, config: SmokeConfig) -> list[CheckResult]:
    from mlship.checks.sanity import SanityConfig, run_sanity

    if config.sanity_rows == 0:
        return []
    quick = SanityConfig(
        batch_rows=config.sanity_rows, single_row_calls=1, batch_calls=1, measure_memory=False
    )
    try:
        outcome = run_sanity(registry, ref, config=quick)
    except Exception as exc:  # the model's own code raised outside the guarded predict call
        return [
            CheckResult(
                "sanity:predicts", "sanity", "fail", f"predict raised {type(exc).__name__}: {exc}"
            )
        ]
    # The timing is the gates' business; the smoke test only wants the verdicts.
    return [r for r in outcome.results if r.name != "sanity:latency"]


async def _replay(runtime: VersionRuntime, recorded: list[list[Any]]) -> CheckResult:
    rows = 0
    for number, inputs in enumerate(recorded, start=1):
        try:
            frame = runtime.decoder.rows(inputs)
            answer = await runtime.predict(frame)
        except Exception as exc:
            return _replay_failed(
                number, len(recorded), f"it raised {type(exc).__name__}: {exc}", rows
            )
        problem = _malformed(answer, len(inputs))
        if problem is not None:
            return _replay_failed(number, len(recorded), problem, rows)
        rows += len(inputs)
    if not recorded:
        return CheckResult(
            "smoke:replay",
            "smoke",
            "skip",
            "No recorded request to replay (the prediction log has none for this model yet).",
        )
    return CheckResult(
        "smoke:replay",
        "smoke",
        "pass",
        f"Answered {len(recorded)} recorded request(s) ({rows} rows) without error.",
        figures={"requests": len(recorded), "rows": rows},
    )


def _replay_failed(number: int, total: int, problem: str, rows: int) -> CheckResult:
    return CheckResult(
        "smoke:replay",
        "smoke",
        "fail",
        f"Recorded request {number} of {total} (one that the stable version answered): {problem}",
        figures={"request": number, "requests": total, "rows_before": rows},
    )


def _malformed(answer: Prediction, rows: int) -> str | None:
    """What is wrong with ``answer`` to a request of ``rows`` rows, or None."""
    if len(answer.predictions) != rows:
        return f"{len(answer.predictions)} predictions for {rows} rows."
    probabilities = answer.probabilities
    if probabilities is not None and len(probabilities) != rows:
        return f"{len(probabilities)} rows of probabilities for {rows} rows."
    values: list[Any] = []
    for value in answer.predictions:  # one value per row, or one list per row (multi-output)
        values.extend(value if isinstance(value, list) else [value])
    if probabilities is not None:
        values.extend(p for row in probabilities for p in row)
    bad = sum(1 for v in values if isinstance(v, float) and not math.isfinite(v))
    if bad:
        return f"{bad} NaN or infinite output value(s)."
    return None
