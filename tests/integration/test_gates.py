"""Gates and checks end to end: real models, a real registry, the verdict stored as the blessing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlship.checks import CheckRun, GateConfig, GateRun, run_check, run_gates
from mlship.checks.sanity import SanityConfig
from mlship.errors import ConfigError, InvalidInput
from mlship.registry import Registry

FEATURES = ["x1", "x2", "x3", "country"]
COUNTRIES = ["DE", "FR", "US", "ES"]


def make_frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=rows),
            "x2": rng.normal(size=rows),
            "x3": rng.normal(size=rows),
            "country": rng.choice(COUNTRIES, rows, p=[0.35, 0.2, 0.3, 0.15]),
        }
    )
    noise = 0.3 * rng.normal(size=rows)
    frame["label"] = ((frame.x1 + 1.5 * frame.x2 + noise) > 0).astype(int)
    return frame


def fit(frame: pd.DataFrame) -> object:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), ["country"])], remainder="passthrough"
    )
    model = make_pipeline(pre, HistGradientBoostingClassifier(max_iter=80, random_state=0))
    return model.fit(frame[FEATURES], frame["label"])


@pytest.fixture(scope="module")
def models() -> dict[str, object]:
    """Four classifiers: a weak baseline, a good one, and one good except on FR."""
    train = make_frame(6000, 1)
    weak = train.copy()
    weak["x2"] = np.random.default_rng(5).permutation(weak["x2"].to_numpy())
    saboteur = train.copy()
    fr = saboteur["country"] == "FR"
    saboteur.loc[fr, "label"] = 1 - saboteur.loc[fr, "label"]
    return {"train": train, "weak": fit(weak), "good": fit(train), "saboteur": fit(saboteur)}


@pytest.fixture
def holdout() -> pd.DataFrame:
    return make_frame(4000, 2)


def register(registry: Registry, models: dict[str, object], *names: str) -> None:
    for name in names:
        registry.register(
            models[name], "fraud", train_data=models["train"], label="label", tags={"kind": name}
        )


def test_better_model_passes_and_is_blessed(
    registry: Registry, models: dict[str, object], holdout: pd.DataFrame
) -> None:
    register(registry, models, "weak", "good")
    report = run_gates(
        registry,
        GateRun("fraud@2", "fraud@1", holdout, "label", GateConfig(metric="f1", resamples=300)),
    )
    assert report.passed, report.to_dict()
    s = report.summary
    assert s["candidate"] > s["baseline"] + 0.2
    assert 0 < s["low"] < s["difference"] < s["high"]
    statuses = {r.name: r.status for r in report.results}
    assert statuses["gate:f1"] == "pass" and statuses["gate:f1:bootstrap"] == "pass"
    assert registry.get("fraud@2").blessed is True
    assert registry.check_runs("fraud@2", kind="gate")[0].baseline == "fraud@1"


def test_worse_model_fails_with_figures(
    registry: Registry, models: dict[str, object], holdout: pd.DataFrame
) -> None:
    register(registry, models, "good", "weak")
    report = run_gates(
        registry,
        GateRun(
            "fraud@2",
            "fraud@1",
            holdout,
            "label",
            GateConfig(metric="f1", tolerance=0.01, resamples=200),
        ),
    )
    assert not report.passed
    perf = next(r for r in report.results if r.name == "gate:f1")
    assert perf.status == "fail"
    assert perf.figures["gain"] < -0.2
    assert "worse by" in perf.message and "allowed loss 0.0100" in perf.message
    assert registry.get("fraud@2").blessed is False


def test_better_overall_but_worse_on_one_slice_fails_naming_it(
    registry: Registry, models: dict[str, object], holdout: pd.DataFrame
) -> None:
    register(registry, models, "weak", "saboteur")
    report = run_gates(
        registry,
        GateRun(
            "fraud@2",
            "fraud@1",
            holdout,
            "label",
            GateConfig(metric="f1", slices=("country",), min_slice_rows=100, resamples=200),
        ),
    )
    by_name = {r.name: r for r in report.results}
    assert by_name["gate:f1"].status == "pass"
    assert by_name["gate:f1:slice:country=FR"].status == "fail"
    for country in ("DE", "US", "ES"):
        assert by_name[f"gate:f1:slice:country={country}"].status == "pass"
    assert not report.passed


def test_small_slices_are_skipped_not_gated(
    registry: Registry, models: dict[str, object], holdout: pd.DataFrame
) -> None:
    register(registry, models, "weak", "good")
    report = run_gates(
        registry,
        GateRun(
            "fraud@2",
            "fraud@1",
            holdout.head(500),
            "label",
            GateConfig(slices=("country",), min_slice_rows=100, resamples=200),
        ),
    )
    statuses = {r.name: r.status for r in report.results if ":slice:" in r.name}
    assert statuses["gate:f1:slice:country=ES"] == "skip"  # about 75 of 500 rows
    assert statuses["gate:f1:slice:country=DE"] == "pass"


def test_relative_tolerance_and_lower_is_better_metric(
    registry: Registry, models: dict[str, object], holdout: pd.DataFrame
) -> None:
    register(registry, models, "good", "good")
    same = run_gates(
        registry,
        GateRun(
            "fraud@2",
            "fraud@1",
            holdout,
            "label",
            GateConfig(metric="log_loss", relative=True, tolerance=0.0, resamples=200),
        ),
    )
    assert same.passed
    assert same.summary["difference"] == pytest.approx(0.0, abs=1e-12)
    register(registry, models, "weak")
    worse = run_gates(
        registry,
        GateRun(
            "fraud@3",
            "fraud@1",
            holdout,
            "label",
            GateConfig(metric="log_loss", relative=True, tolerance=0.5, resamples=200),
        ),
    )
    perf = next(r for r in worse.results if r.name == "gate:log_loss")
    assert perf.status == "fail" and perf.figures["gain"] < 0


def test_no_baseline_uses_absolute_floor(
    registry: Registry, models: dict[str, object], holdout: pd.DataFrame
) -> None:
    register(registry, models, "good")
    ok = run_gates(
        registry,
        GateRun("fraud@1", None, holdout, "label", GateConfig(metric="roc_auc", min_metric=0.9)),
    )
    assert ok.passed and ok.summary["candidate"] > 0.9
    low = run_gates(
        registry,
        GateRun("fraud@1", None, holdout, "label", GateConfig(metric="roc_auc", min_metric=0.999)),
    )
    assert not low.passed


def test_latency_and_memory_budgets(
    registry: Registry, models: dict[str, object], holdout: pd.DataFrame
) -> None:
    register(registry, models, "good")
    report = run_gates(
        registry,
        GateRun(
            "fraud@1",
            None,
            holdout,
            "label",
            GateConfig(max_latency_ms=0.0001, max_memory_mb=10_000),
        ),
    )
    by_name = {r.name: r for r in report.results}
    assert by_name["gate:latency"].status == "fail"
    assert by_name["gate:memory"].status == "pass"
    assert 50 < by_name["gate:memory"].figures["peak_rss_mb"] < 10_000


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h: h.drop(columns=["label"]), "no label column 'label'"),
        (lambda h: h.assign(label=h["label"].replace({1: 7})), "never saw: 7"),
    ],
)
def test_bad_holdout_is_named(
    registry: Registry, models: dict[str, object], holdout: pd.DataFrame, change, message: str
) -> None:
    register(registry, models, "weak", "good")
    with pytest.raises(InvalidInput, match=message):
        run_gates(registry, GateRun("fraud@2", "fraud@1", change(holdout), "label"))


def test_unknown_slice_and_metric_are_named(
    registry: Registry, models: dict[str, object], holdout: pd.DataFrame
) -> None:
    register(registry, models, "weak", "good")
    with pytest.raises(InvalidInput, match=r"Slice column.*device"):
        run_gates(
            registry,
            GateRun("fraud@2", "fraud@1", holdout, "label", GateConfig(slices=("device",))),
        )
    with pytest.raises(ConfigError, match="roc_auc"):
        run_gates(
            registry, GateRun("fraud@2", "fraud@1", holdout, "label", GateConfig(metric="f2_score"))
        )


def test_baseline_of_another_task_is_refused(
    registry: Registry, models: dict[str, object], holdout: pd.DataFrame
) -> None:
    from sklearn.linear_model import Ridge

    register(registry, models, "good")
    train = models["train"]
    regressor = Ridge().fit(train[["x1", "x2", "x3"]], train["x1"])
    registry.register(regressor, "fraud", train_data=train[["x1", "x2", "x3"]])
    with pytest.raises(InvalidInput, match="cannot be compared"):
        run_gates(registry, GateRun("fraud@1", "fraud@2", holdout, "label"))


def test_check_fails_on_nan_model(registry: Registry, models: dict[str, object]) -> None:
    from sklearn.linear_model import LinearRegression

    train = models["train"][["x1", "x2", "x3"]].assign(y=models["train"]["x1"])
    model = LinearRegression().fit(train[["x1", "x2", "x3"]], train["y"])
    model.coef_[1] = np.nan
    registry.register(model, "broken", train_data=train, label="y")
    report = run_check(registry, CheckRun("broken@1", sanity=SanityConfig(measure_memory=False)))
    nan = next(r for r in report.results if r.name == "sanity:no_nan")
    assert nan.status == "fail" and nan.figures["non_finite"] == 1000
    assert not report.passed
    assert registry.check_runs("broken@1")[0].passed is False


def test_check_fails_on_missing_column_and_missing_spike(
    registry: Registry, models: dict[str, object], holdout: pd.DataFrame
) -> None:
    register(registry, models, "good")
    config = SanityConfig(measure_memory=False)
    clean = run_check(registry, CheckRun("fraud@1", data=holdout, sanity=config))
    assert clean.passed, [r.to_dict() for r in clean.results if r.failed]
    missing = run_check(
        registry, CheckRun("fraud@1", data=holdout.drop(columns=["x3"]), sanity=config)
    )
    schema = next(r for r in missing.results if r.name == "schema:required_columns")
    assert schema.status == "fail" and "x3" in schema.message
    spiked = holdout.copy()
    spiked.loc[spiked.index[:160], "x1"] = np.nan  # 4 % missing; 0 % in training
    report = run_check(registry, CheckRun("fraud@1", data=spiked, sanity=config))
    spike = next(r for r in report.results if r.name == "missingness:x1")
    assert spike.status == "fail" and not report.passed


def test_check_on_profile_sample_passes_for_a_good_model(
    registry: Registry, models: dict[str, object]
) -> None:
    register(registry, models, "good")
    report = run_check(registry, CheckRun("fraud@1"))
    statuses = {r.name: r.status for r in report.results}
    for name in (
        "sanity:loads",
        "sanity:predicts",
        "sanity:output_shape",
        "sanity:no_nan",
        "sanity:probabilities",
        "sanity:deterministic",
        "sanity:latency",
        "sanity:memory",
    ):
        assert statuses[name] == "pass", name
    assert report.summary["sanity_sample"] == "profile"


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """A user metric for the gate, imported by ``module:function``."""
    from sklearn.metrics import balanced_accuracy_score

    return float(balanced_accuracy_score(y_true, y_pred))


def test_user_metric_by_module_and_function(
    registry: Registry, models: dict[str, object], holdout: pd.DataFrame
) -> None:
    from sklearn.metrics import balanced_accuracy_score

    register(registry, models, "weak", "good")
    report = run_gates(
        registry,
        GateRun(
            "fraud@2",
            "fraud@1",
            holdout,
            "label",
            GateConfig(metric="tests.integration.test_gates:balanced_accuracy", resamples=100),
        ),
    )
    expected = balanced_accuracy_score(holdout["label"], registry.load("fraud@2").predict(holdout))
    assert report.summary["candidate"] == pytest.approx(expected)
    assert report.passed
