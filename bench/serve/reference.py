"""The reference model of the serving benchmark, written out for every server, and its floors.

Usage: ``python bench/serve/reference.py WORKDIR OUT.json`` (run by ``serve_bench.py`` with the
``.venv-bench`` interpreter and ``MLSHIP_HOME`` set). Trains a seeded
``HistGradientBoostingClassifier`` on 20 features (``bench/fixtures.py``), then

- registers it in the mlship registry at ``MLSHIP_HOME`` as ``fraud@production``;
- saves it with ``mlflow.sklearn.save_model`` (with its signature) to ``WORKDIR/mlflow-model``;
- pickles it to ``WORKDIR/model.joblib`` for the plain FastAPI endpoint;
- writes the 1-row request bodies of each protocol to ``WORKDIR/body-*.json``;

and times the in-process floors: ``predict_proba`` on a 1-row numpy array and on a 1-row
DataFrame (median seconds per call), with the default OpenMP pool and with one thread; and on a
32-row numpy array with one thread (``batch32_s``: the largest merged call that 32 connections
can make, so its time per row is the least model time a request can cost at concurrency 32).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import fixtures

MODEL = "fraud"
ALIAS = "production"
CALLS = 2000
BUDGET_S = 3.0


def per_call(fn: Callable[[], Any], calls: int = CALLS, budget_s: float = BUDGET_S) -> float:
    """Median seconds of ``fn()`` over ``calls`` calls (fewer if they take over ``budget_s``),
    after 50 unmeasured ones."""
    for _ in range(50):
        fn()
    times: list[float] = []
    stop = time.perf_counter() + budget_s
    while len(times) < calls and (len(times) < 50 or time.perf_counter() < stop):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def floors(model: Any, row: Any, batch: Any) -> dict[str, float]:
    """In-process ``predict_proba`` per call on one row: numpy and DataFrame, 2 and 1 threads."""
    from threadpoolctl import threadpool_limits

    array = row.to_numpy()
    figures = {}
    for threads, suffix in ((None, ""), (1, "_1thread")):
        # The model was fitted on a DataFrame: a numpy row makes it warn (about feature names).
        with threadpool_limits(limits=threads), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            figures[f"numpy_s{suffix}"] = per_call(lambda: model.predict_proba(array))
            figures[f"frame_s{suffix}"] = per_call(lambda: model.predict_proba(row))
    rows = batch.to_numpy()
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        figures["batch32_s"] = per_call(lambda: model.predict_proba(rows), calls=500)
    return figures


def main(workdir: Path, out: Path) -> None:
    import joblib
    import mlflow.sklearn
    import skops.io as sio
    from mlflow.models import infer_signature

    from mlship.registry import Registry

    data = fixtures.frame(fixtures.SMALL_ROWS)
    model = fixtures.hgb(data)
    x = data[fixtures.FEATURES]

    registry = Registry.from_env()
    mv = registry.register(model, MODEL, train_data=data, label=fixtures.LABEL)
    registry.set_alias(mv.ref, ALIAS)

    with warnings.catch_warnings():  # MLflow's notices about pip versions are not our concern
        warnings.simplefilter("ignore")
        signature = infer_signature(x.head(100), model.predict(x.head(100)))
        # MLflow saves with skops, which must be told to trust HGB's TreePredictor.
        trusted = list(sio.get_untrusted_types(data=sio.dumps(model)))
        mlflow.sklearn.save_model(
            model, str(workdir / "mlflow-model"), signature=signature, skops_trusted_types=trusted
        )
    joblib.dump(model, workdir / "model.joblib")

    # One held-out row (seed 1), the same values in each protocol's own JSON form.
    row = fixtures.frame(1, seed=1)[fixtures.FEATURES]
    record = {name: float(row.iloc[0][name]) for name in fixtures.FEATURES}
    bodies = {
        "native": {"inputs": [record]},
        "mlflow": {"dataframe_records": [record]},
    }
    for name, body in bodies.items():
        (workdir / f"body-{name}.json").write_text(json.dumps(body))

    batch = fixtures.frame(32, seed=2)[fixtures.FEATURES]
    figures: dict[str, Any] = floors(model, row, batch)
    figures["version"] = mv.version
    figures["proba"] = model.predict_proba(row)[0].tolist()
    figures["features"] = list(fixtures.FEATURES)
    out.write_text(json.dumps(figures))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
