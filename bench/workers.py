"""The measured cases, each run by ``registry_bench.py`` in a fresh process.

Usage: ``python bench/workers.py CASE OUT.json [ARG]``. The stores come from the environment:
``MLSHIP_HOME`` for mlship, ``MLFLOW_TRACKING_URI`` plus ``BENCH_MLFLOW_ARTIFACTS`` for MLflow.
Timings are seconds from ``time.perf_counter``; only the call named by a key is inside the clock.
With ``BENCH_PROFILE=<key>`` (or ``all``) that call also runs under cProfile and its stats are
written to ``$BENCH_PROFILE_DIR/<case>-<key>.pstats``.
"""

from __future__ import annotations

import cProfile
import importlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fixtures

ALIAS = "production"
EXPERIMENT = "bench"


USER_LIBRARIES = ("numpy", "pandas", "sklearn.ensemble", "sklearn.linear_model", "skops.io")
"""What a user process has imported before it loads a model; kept out of the load timings."""


def import_user_libraries(*extra: str) -> None:
    for module in (*USER_LIBRARIES, *extra):
        importlib.import_module(module)


def measure(case: str, key: str, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds ``fn()`` took, and what it returned."""
    wanted = os.environ.get("BENCH_PROFILE", "")
    if wanted in (key, "all"):
        profiler = cProfile.Profile()
        start = time.perf_counter()
        result = profiler.runcall(fn)
        elapsed = time.perf_counter() - start
        out = Path(os.environ.get("BENCH_PROFILE_DIR", "."))
        out.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(out / f"{case}-{key}.pstats")
        return elapsed, result
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def median_of(case: str, key: str, fn: Callable[[], Any], repeat: int) -> float:
    return statistics.median(measure(case, key, fn)[0] for _ in range(repeat))


# ----------------------------------------------------------------------------------- mlship


def _registry() -> Any:
    from mlship.registry import Registry

    return Registry.from_env()


def seed_mlship() -> dict[str, Any]:
    """Register the small models under alias ``production`` for the load cases."""
    data = fixtures.frame(fixtures.SMALL_ROWS)
    reg = _registry()
    versions = {}
    for name, model in (("lr", fixtures.logreg(data)), ("hgb", fixtures.hgb(data))):
        metrics = {"accuracy": fixtures.accuracy(model, data)}
        mv = reg.register(model, name, train_data=data, label=fixtures.LABEL, metrics=metrics)
        reg.set_alias(mv.ref, ALIAS)
        versions[name] = mv.version
    return {"versions": versions}


def register_big() -> dict[str, Any]:
    """A ~10 MB forest with a 1,000,000 x 20 training frame (profile and fingerprint)."""
    data = fixtures.frame(fixtures.BIG_ROWS)
    model = fixtures.forest(data)
    metrics = {"accuracy": fixtures.accuracy(model, data.head(fixtures.FOREST_FIT_ROWS))}
    reg = _registry()

    def register() -> Any:
        return reg.register(model, "forest", train_data=data, label=fixtures.LABEL, metrics=metrics)

    first, mv = measure("register_big", "first", register)
    second, _ = measure("register_big", "second", register)
    return {
        "first_s": first,
        "second_s": second,
        "artifact_mb": mv.artifact_size / 1e6,
        "rows": mv.row_count,
    }


def register_small_mlship() -> dict[str, Any]:
    data = fixtures.frame(fixtures.SMALL_ROWS)
    model = fixtures.hgb(data)
    metrics = {"accuracy": fixtures.accuracy(model, data)}
    reg = _registry()

    def register() -> Any:
        return reg.register(
            model, "hgb-register", train_data=data, label=fixtures.LABEL, metrics=metrics
        )

    first, _ = measure("register_small_mlship", "first", register)
    steady = median_of("register_small_mlship", "steady", register, 5)
    return {"first_s": first, "steady_s": steady}


def load_mlship(name: str) -> dict[str, Any]:
    """First ``Registry.load`` by alias after imports and opening the store, then cached loads."""
    import_user_libraries()
    reg = _registry()
    ref = f"{name}@{ALIAS}"
    first, loaded = measure(f"load_mlship_{name}", "first", lambda: reg.load(ref))
    cached = median_of(f"load_mlship_{name}", "cached", lambda: reg.load(ref), 200)
    resolve = median_of(f"load_mlship_{name}", "resolve", lambda: reg.resolve(ref), 200)
    loaded.predict(fixtures.frame(5, seed=1))  # it works
    return {"first_s": first, "cached_s": cached, "resolve_s": resolve}


def load_mlship_api(name: str) -> dict[str, Any]:
    """First ``mlship.load`` by alias after imports: it also opens the default registry."""
    import_user_libraries()
    import mlship

    first, _ = measure(f"load_mlship_api_{name}", "first", lambda: mlship.load(f"{name}@{ALIAS}"))
    return {"first_s": first}


# ----------------------------------------------------------------------------------- MLflow


def _mlflow_experiment() -> Any:
    """The MLflow client, with experiment ``bench`` (artifacts in a temporary folder) active."""
    import mlflow

    client = mlflow.MlflowClient()
    if client.get_experiment_by_name(EXPERIMENT) is None:
        location = Path(os.environ["BENCH_MLFLOW_ARTIFACTS"]).as_uri()
        client.create_experiment(EXPERIMENT, artifact_location=location)
    mlflow.set_experiment(EXPERIMENT)
    return client


def skops_types(model: Any) -> list[str]:
    """The types skops will not load unless told (HGB's TreePredictor); MLflow must be told."""
    import skops.io as sio

    return list(sio.get_untrusted_types(data=sio.dumps(model)))


def _mlflow_log(model: Any, data: Any, metrics: dict[str, float], trusted: list[str]) -> Any:
    import mlflow
    import mlflow.sklearn

    with mlflow.start_run():
        mlflow.log_metrics(metrics)
        return mlflow.sklearn.log_model(
            model,
            name="model",
            input_example=data[fixtures.FEATURES].head(5),
            skops_trusted_types=trusted,
        )


def seed_mlflow() -> dict[str, Any]:
    import mlflow

    data = fixtures.frame(fixtures.SMALL_ROWS)
    client = _mlflow_experiment()
    versions = {}
    for name, model in (("lr", fixtures.logreg(data)), ("hgb", fixtures.hgb(data))):
        metrics = {"accuracy": fixtures.accuracy(model, data)}
        info = _mlflow_log(model, data, metrics, skops_types(model))
        mv = mlflow.register_model(info.model_uri, name)
        client.set_registered_model_alias(name, ALIAS, mv.version)
        versions[name] = int(mv.version)
    return {"versions": versions}


def register_small_mlflow() -> dict[str, Any]:
    """``log_model`` in a run, then ``register_model``: first call and steady state."""
    import mlflow

    data = fixtures.frame(fixtures.SMALL_ROWS)
    model = fixtures.hgb(data)
    metrics = {"accuracy": fixtures.accuracy(model, data)}
    trusted = skops_types(model)
    _mlflow_experiment()

    def once(key: str) -> tuple[float, float]:
        log_s, info = measure(
            "register_small_mlflow",
            f"{key}_log",
            lambda: _mlflow_log(model, data, metrics, trusted),
        )
        reg_s, _ = measure(
            "register_small_mlflow",
            f"{key}_register",
            lambda: mlflow.register_model(info.model_uri, "hgb-register"),
        )
        return log_s, reg_s

    first_log, first_reg = once("first")
    steady = [once("steady") for _ in range(3)]
    return {
        "first_s": first_log + first_reg,
        "first_log_s": first_log,
        "first_register_s": first_reg,
        "steady_s": statistics.median(a + b for a, b in steady),
        "steady_log_s": statistics.median(a for a, _ in steady),
        "steady_register_s": statistics.median(b for _, b in steady),
    }


def load_mlflow(name: str) -> dict[str, Any]:
    """First pyfunc load by alias after imports and opening the store; reloads; alias lookups."""
    import_user_libraries("mlflow.pyfunc", "mlflow.sklearn")
    import mlflow

    client = mlflow.MlflowClient()
    client.get_registered_model(name)  # opens the store, like Registry.from_env for mlship
    uri = f"models:/{name}@{ALIAS}"
    case = f"load_mlflow_{name}"
    first, loaded = measure(case, "first", lambda: mlflow.pyfunc.load_model(uri))
    again = median_of(case, "again", lambda: mlflow.pyfunc.load_model(uri), 5)
    resolve = median_of(
        case, "resolve", lambda: client.get_model_version_by_alias(name, ALIAS), 200
    )
    loaded.predict(fixtures.frame(5, seed=1)[fixtures.FEATURES])  # it works
    return {"first_s": first, "again_s": again, "resolve_s": resolve}


CASES: dict[str, Callable[..., dict[str, Any]]] = {
    "seed_mlship": seed_mlship,
    "seed_mlflow": seed_mlflow,
    "register_big": register_big,
    "register_small_mlship": register_small_mlship,
    "register_small_mlflow": register_small_mlflow,
    "load_mlship": load_mlship,
    "load_mlship_api": load_mlship_api,
    "load_mlflow": load_mlflow,
}


def main(argv: list[str]) -> None:
    case, out, *args = argv
    result = CASES[case](*args)
    Path(out).write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
