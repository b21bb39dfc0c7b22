"""Live metrics on every store backend: the server's prediction log and feedback, a real registry.

Predictions go in through :class:`PredictionLog` and labels through ``record_feedback``, as the
server writes them. ``fraud`` (a classifier, accuracy 0.9 at registration) has two versions:

- version 1: 600 single-row requests one second apart from ``T0``, wrong 10 % of the time, and a
  few requests that exercise the join (a multi-row request labelled row by row, one labelled with
  one value for both rows, one labelled twice, one that failed, one never labelled);
- version 2: 2000 requests one second apart from ``T0 + 1 h``, wrong 10 % of the time and 40 %
  from its 1000th request on: a decay with a known change point.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlship.errors import ConfigError, InvalidInput, ModelNotFound
from mlship.monitoring.live_metric import live_metrics
from mlship.registry import Registry
from mlship.serving.log_export import joined, record_feedback
from mlship.serving.prediction_log import PredictionLog, PredictionRecord
from tests.conftest import fit_logreg

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
V2_START = T0 + timedelta(hours=1)
CHANGE = 1000
ROW = [{"amount": 12.5, "hour": 3, "distance": 8.0}]


@dataclass(frozen=True)
class Logged:
    """What a test logged: for each version its (predicted, label) rows in time order."""

    pairs: dict[int, list[tuple[int, int]]]


def stream(seed: int, n: int, change: int | None = None) -> tuple[list[int], list[int]]:
    """Predicted classes and labels, wrong 10 % of the time (40 % from ``change`` on)."""
    rng = np.random.default_rng(seed)
    predicted = rng.integers(0, 2, n)
    rate = np.full(n, 0.1)
    if change is not None:
        rate[change:] = 0.4
    wrong = rng.random(n) < rate
    labels = np.where(wrong, 1 - predicted, predicted)
    return predicted.tolist(), labels.tolist()


def write(
    registry: Registry,
    folder: Path,
    records: list[PredictionRecord],
    labels: list[tuple[str, object]],
) -> None:
    """Log ``records`` and ``labels`` through the server's prediction log and feedback."""
    with PredictionLog(registry.store, folder) as plog:
        for one in records:
            plog.record(one)
    assert (plog.written, plog.lost) == (len(records), 0)
    for first in range(0, len(labels), 1000):
        record_feedback(registry.store, "fraud", labels[first : first + 1000])


def record(
    request_id: str,
    at: datetime,
    version: int,
    outputs: list[float] | None,
    *,
    role: str = "stable",
    error: str | None = None,
) -> PredictionRecord:
    inputs = ROW * (len(outputs) if outputs else 1)
    return PredictionRecord(
        request_id, at, "fraud", version, role, inputs, outputs, 2.0, error=error
    )


@pytest.fixture
def fraud(
    registry: Registry, numeric_frame: pd.DataFrame, tmp_path: Path
) -> tuple[Registry, Logged]:
    model = fit_logreg(numeric_frame)
    for _ in range(2):
        registry.register(
            model, "fraud", train_data=numeric_frame, label="is_fraud", metrics={"accuracy": 0.9}
        )
    records: list[PredictionRecord] = []
    labels: list[tuple[str, object]] = []
    pairs: dict[int, list[tuple[int, int]]] = {1: [], 2: []}

    predicted, truth = stream(1, 600)
    for i, (p, y) in enumerate(zip(predicted, truth, strict=True)):
        at = T0 + timedelta(seconds=i)
        records.append(record(f"a-{i}", at, 1, [p]))
        labels.append((f"a-{i}", y))
        pairs[1].append((p, y))
        if i == 300:  # the join's rules, in the middle of version 1's stream
            records.append(record("multi", at, 1, [1, 0, 1]))
            labels.append(("multi", [1, 1, 1]))  # one label per row: 2 of 3 right
            pairs[1] += [(1, 1), (0, 1), (1, 1)]
            records.append(record("broadcast", at, 1, [1, 1]))
            labels.append(("broadcast", 1))  # one label for both rows
            pairs[1] += [(1, 1), (1, 1)]
            records.append(record("relabelled", at, 1, [0]))
            labels += [("relabelled", 1), ("relabelled", 0)]  # the latest label wins
            pairs[1].append((0, 0))
            records.append(record("failed", at, 1, None, error="boom"))
            labels.append(("failed", 1))
            records.append(record("unlabelled", at, 1, [1]))

    predicted, truth = stream(2, 2000, change=CHANGE)
    for i, (p, y) in enumerate(zip(predicted, truth, strict=True)):
        records.append(record(f"b-{i}", V2_START + timedelta(seconds=i), 2, [p], role="candidate"))
        labels.append((f"b-{i}", y))
        pairs[2].append((p, y))
    write(registry, tmp_path / "spill", records, labels)
    return registry, Logged(pairs)


def accuracy(pairs: list[tuple[int, int]]) -> float:
    return sum(p == y for p, y in pairs) / len(pairs)


def test_accuracy_equals_a_hand_computation(fraud: tuple[Registry, Logged]) -> None:
    registry, logged = fraud
    v1, v2 = live_metrics(registry, "fraud", window=500)
    assert (v1.version, v2.version) == (1, 2)
    assert v1.metric == "accuracy" and v1.greater_is_better  # from the classifier's signature
    assert v1.rows == len(logged.pairs[1]) == 606
    assert v2.rows == len(logged.pairs[2]) == 2000
    for live in (v1, v2):
        pairs = logged.pairs[live.version]
        assert live.overall == pytest.approx(accuracy(pairs), abs=1e-12)
        sizes = [w.rows for w in live.windows]
        assert sum(sizes) == len(pairs) and set(sizes[1:]) == {500}  # counted back from the end
        stop = len(pairs)
        for w in reversed(live.windows):
            assert w.value == pytest.approx(accuracy(pairs[stop - w.rows : stop]), abs=1e-12)
            stop -= w.rows
        assert live.value == live.windows[-1].value
        assert live.baseline == 0.9
        assert live.delta == pytest.approx(live.value - 0.9, abs=1e-12)
    print(f"live accuracy v1 {v1.value:.3f}, v2 {v2.value:.3f} (registered 0.9)")


def test_a_decay_after_the_change_point_is_flagged(fraud: tuple[Registry, Logged]) -> None:
    registry, _ = fraud
    v1, v2 = live_metrics(registry, "fraud", window=500, tolerance=0.05)
    assert not v1.decayed and v1.detections == ()
    assert v2.decayed and v2.value is not None and v2.value < 0.9 - 0.05
    first = v2.first_detection
    assert first is not None
    assert CHANGE <= first.sample <= CHANGE + 250, first
    assert first.at == V2_START + timedelta(seconds=first.sample)
    print(
        f"ADWIN on version 2's errors: drift {first.sample - CHANGE} predictions after the change"
    )
    assert v2.to_dict()["detections"][0] == {"sample": first.sample, "at": first.at.isoformat()}

    ddm = live_metrics(
        registry,
        "fraud",
        window=500,
        detector="ddm",
        detector_params={"warm_start": 500, "drift_threshold": 4.0},
    )
    assert ddm[0].detections == ()
    assert CHANGE <= ddm[1].detections[0].sample <= CHANGE + 300
    assert ddm[1].params == {"warm_start": 500, "drift_threshold": 4.0}


def test_time_windows_count_back_from_the_latest_prediction(fraud: tuple[Registry, Logged]) -> None:
    registry, logged = fraud
    (v2,) = live_metrics(registry, "fraud", since=V2_START, window=timedelta(minutes=10))
    end = V2_START + timedelta(seconds=1999)
    assert [w.rows for w in v2.windows] == [200, 600, 600, 600]
    assert [(w.start, w.end) for w in v2.windows[-2:]] == [
        (end - timedelta(minutes=20), end - timedelta(minutes=10)),
        (end - timedelta(minutes=10), end),
    ]
    assert v2.value == pytest.approx(accuracy(logged.pairs[2][-600:]), abs=1e-12)


def test_rows_are_those_of_the_logs_join(fraud: tuple[Registry, Logged]) -> None:
    """Check that live metrics read the same labelled rows as ``mlship logs`` (``joined``)."""
    registry, _ = fraud
    frame = joined(registry.store, "fraud")
    for live in live_metrics(registry, "fraud"):
        rows = frame[frame["version"] == live.version]
        assert live.rows == len(rows)
        right = (rows["prediction"] == rows["label"]).mean()
        assert live.overall == pytest.approx(right, abs=1e-12)


def test_other_metrics_and_baselines(fraud: tuple[Registry, Logged]) -> None:
    from sklearn.metrics import f1_score

    registry, logged = fraud
    _, v2 = live_metrics(registry, "fraud", metric="f1", window=10_000)
    predicted, labels = zip(*logged.pairs[2], strict=True)
    assert v2.value == pytest.approx(f1_score(labels, predicted), abs=1e-9)
    assert v2.baseline is None and v2.delta is None and not v2.decayed  # no f1 was recorded


def test_bad_requests_say_what_to_change(fraud: tuple[Registry, Logged]) -> None:
    registry, _ = fraud
    with pytest.raises(ConfigError, match="'metric' option must be one of accuracy, f1, mae"):
        live_metrics(registry, "fraud", metric="roc_auc")
    with pytest.raises(ConfigError, match="'ddm' detector takes 0/1 errors"):
        live_metrics(registry, "fraud", metric="rmse", detector="ddm")
    with pytest.raises(ConfigError, match="'window' option must be"):
        live_metrics(registry, "fraud", window=0)
    with pytest.raises(ConfigError, match="'tolerance' option must be a number >= 0"):
        live_metrics(registry, "fraud", tolerance=-1)
    with pytest.raises(ModelNotFound):
        live_metrics(registry, "churn")


def test_labels_of_another_type_are_refused(
    registry: Registry, numeric_frame: pd.DataFrame, tmp_path: Path
) -> None:
    registry.register(
        fit_logreg(numeric_frame), "fraud", train_data=numeric_frame, label="is_fraud"
    )
    write(
        registry,
        tmp_path / "spill",
        [record("r-1", T0, 1, [1]), record("r-2", T0, 1, [0])],
        [("r-1", "1"), ("r-2", "0")],
    )
    with pytest.raises(InvalidInput, match="labels of fraud@1 are text but its predictions are"):
        live_metrics(registry, "fraud")
    assert live_metrics(registry, "fraud", since=T0 + timedelta(seconds=1)) == []


def test_regression_errors_are_absolute_errors(
    registry: Registry, numeric_frame: pd.DataFrame, tmp_path: Path
) -> None:
    """Check rmse by hand and Page-Hinkley on the absolute errors of a regressor's residuals."""
    from sklearn.linear_model import LinearRegression

    features = numeric_frame.drop(columns=["is_fraud", "amount"])
    regressor = LinearRegression().fit(features, numeric_frame["amount"])
    registry.register(
        regressor,
        "fraud",
        train_data=numeric_frame.drop(columns=["is_fraud"]),
        label="amount",
        metrics={"rmse": 1.0},
    )
    rng = np.random.default_rng(3)
    predicted = rng.normal(50.0, 10.0, 2000)
    residual = rng.normal(0.0, 1.0, 2000) + np.where(np.arange(2000) >= CHANGE, 2.0, 0.0)
    labels = predicted + residual
    write(
        registry,
        tmp_path / "spill",
        [
            record(f"r-{i}", T0 + timedelta(seconds=i), 1, [float(p)])
            for i, p in enumerate(predicted)
        ],
        [(f"r-{i}", float(y)) for i, y in enumerate(labels)],
    )
    (live,) = live_metrics(
        registry,
        "fraud",
        window=500,
        tolerance=0.5,
        detector="page_hinkley",
        detector_params={"delta": 0.05},
    )
    assert live.metric == "rmse" and not live.greater_is_better
    assert live.overall == pytest.approx(float(np.sqrt(np.mean(residual**2))), rel=1e-9)
    assert live.value == pytest.approx(float(np.sqrt(np.mean(residual[-500:] ** 2))), rel=1e-9)
    assert live.decayed  # about 2.2 against 1.0
    first = live.first_detection
    assert first is not None and CHANGE <= first.sample <= CHANGE + 100
    print(f"Page-Hinkley on absolute errors: drift {first.sample - CHANGE} predictions late")
