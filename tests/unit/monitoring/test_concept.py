"""Concept drift on error streams: river's detectors on seeded streams with a known change point.

Every stream has 2000 errors and changes at sample 1000:

- ``binary``: a classifier's 0/1 mistakes, wrong 10 % of the time, then 40 %.
- ``absolute``: a regressor's absolute errors ``|r|``, residuals ``r`` from N(0, 1), then N(2, 1)
  (the model picks up a bias of two standard deviations).

The delay bounds below come from 300 seeds of each stream (0..299): the largest delay seen there,
rounded up with a margin. Over those seeds, on the stationary streams (no change, same length):
ADWIN raised no alarm on ``binary`` and one on ``absolute``; DDM, with the options below, none;
Page-Hinkley none (``binary`` with river's defaults, ``absolute`` with ``delta=0.05``).

False alarms that are inherent, hence not asserted absent:

- DDM with river's defaults (``warm_start=30``) raised one on 12 of 20 stationary ``binary``
  streams: its reference is the lowest error rate plus deviation seen since the start, which an
  early lucky run sets too low. ``warm_start=500, drift_threshold=4`` gave none in 300.
- KSWIN runs one Kolmogorov-Smirnov test per sample (about 1600 on a 2000-error stream), so at
  level ``alpha`` it alarms now and then on any stream: with ``alpha=1e-5, window_size=400,
  stat_size=100`` on 1 of 20 stationary ``absolute`` streams. It is also slow (about 1 ms a
  sample, scipy's exact test): one seed here.
"""

from __future__ import annotations

import doctest
import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlship.errors import ConfigError, InvalidInput
from mlship.monitoring import concept
from mlship.monitoring.concept import DETECTORS, ErrorStreamMonitor

CHANGE = 1000
LENGTH = 2000
DDM = {"warm_start": 500, "drift_threshold": 4.0}
KSWIN = {"alpha": 1e-5, "window_size": 400, "stat_size": 100}

Stream = Callable[..., list[float]]


def binary(seed: int, *, change: bool = True) -> list[float]:
    """0/1 errors: 10 % wrong, then 40 % from sample ``CHANGE`` (if ``change``)."""
    rng = np.random.default_rng(seed)
    rate = np.where((np.arange(LENGTH) >= CHANGE) & change, 0.4, 0.1)
    return (rng.random(LENGTH) < rate).astype(float).tolist()


def absolute(seed: int, *, change: bool = True) -> list[float]:
    """Absolute errors of residuals from N(0, 1), then N(2, 1) from sample ``CHANGE``."""
    rng = np.random.default_rng(seed)
    bias = np.where((np.arange(LENGTH) >= CHANGE) & change, 2.0, 0.0)
    return np.abs(rng.normal(0.0, 1.0, LENGTH) + bias).tolist()


def run(detector: str, params: dict[str, Any], stream: list[float]) -> ErrorStreamMonitor:
    monitor = ErrorStreamMonitor(detector, **params)  # type: ignore[arg-type]
    for error in stream:
        monitor.update(error)
    return monitor


DETECTS = [
    # detector, options, stream, seeds, bound on the delay (largest of 300 seeds)
    pytest.param("adwin", {}, binary, range(5), 250, id="adwin-binary"),  # 151
    pytest.param("ddm", DDM, binary, range(5), 300, id="ddm-binary"),  # 210
    pytest.param("page_hinkley", {}, binary, range(5), 400, id="page_hinkley-binary"),  # 284
    pytest.param("adwin", {}, absolute, range(5), 100, id="adwin-absolute"),  # 55
    pytest.param(
        "page_hinkley", {"delta": 0.05}, absolute, range(5), 100, id="page_hinkley-absolute"
    ),  # 56
    pytest.param(
        "kswin", KSWIN, absolute, range(1), 150, id="kswin-absolute", marks=pytest.mark.slow
    ),  # 20 seeds: median 46
]


@pytest.mark.parametrize(("detector", "params", "stream", "seeds", "bound"), DETECTS)
def test_detects_a_known_change_after_it_and_within_the_bound(
    detector: str, params: dict[str, Any], stream: Stream, seeds: range, bound: int
) -> None:
    for seed in seeds:
        detections = run(detector, params, stream(seed)).detections
        assert detections, f"{detector} missed the change of the {stream.__name__} stream {seed}"
        first = detections[0]
        assert first >= CHANGE, f"{detector} alarmed at {first}, before the change at {CHANGE}"
        delay = first - CHANGE
        print(f"{detector} on {stream.__name__} seed {seed}: {delay} samples late (<= {bound})")
        assert delay <= bound


STATIONARY = [
    pytest.param("adwin", {}, binary, id="adwin-binary"),
    pytest.param("ddm", DDM, binary, id="ddm-binary"),
    pytest.param("page_hinkley", {}, binary, id="page_hinkley-binary"),
    pytest.param("adwin", {}, absolute, id="adwin-absolute"),
    pytest.param("page_hinkley", {"delta": 0.05}, absolute, id="page_hinkley-absolute"),
]


@pytest.mark.parametrize(("detector", "params", "stream"), STATIONARY)
def test_no_alarm_on_a_stationary_stream(
    detector: str, params: dict[str, Any], stream: Stream
) -> None:
    for seed in range(5):
        assert run(detector, params, stream(seed, change=False)).detections == ()


def test_detections_are_sample_indices_and_the_flag_follows_the_last_update() -> None:
    monitor = ErrorStreamMonitor("adwin", clock=1)
    flags = [monitor.update(error).drift_detected for error in binary(0)]
    assert monitor.samples == LENGTH
    assert monitor.detections == tuple(i for i, flag in enumerate(flags) if flag)
    assert monitor.detections[0] >= CHANGE


def test_update_returns_the_monitor_and_drift_detected_is_read_only() -> None:
    monitor = ErrorStreamMonitor()
    assert monitor.update(0) is monitor
    assert monitor.update(True) is monitor  # a bool is a 0/1 error
    with pytest.raises(AttributeError):
        monitor.drift_detected = True  # type: ignore[misc]
    assert monitor.reset() is monitor


# ---------------------------------------------------------------- reset


def _streams(detector: str) -> st.SearchStrategy[list[float]]:
    if detector == "ddm":
        values = st.sampled_from([0.0, 1.0])
    else:
        values = st.floats(0, 10, allow_nan=False, allow_infinity=False)
    return st.lists(values, max_size=150)


# Small KSWIN windows keep a test per sample cheap; the others take river's defaults.
_RESET_PARAMS: dict[str, dict[str, Any]] = {
    "adwin": {"clock": 1},
    "page_hinkley": {"threshold": 5.0, "min_instances": 5},
    "kswin": {"alpha": 0.05, "window_size": 20, "stat_size": 10},
    "ddm": {"warm_start": 5},
}


@settings(max_examples=60, deadline=None)
@given(data=st.data(), detector=st.sampled_from(DETECTORS))
def test_reset_returns_to_the_initial_state(data: st.DataObject, detector: str) -> None:
    """Check that after reset() a monitor behaves as a new one on any stream."""
    params = _RESET_PARAMS[detector]
    before = data.draw(_streams(detector), label="before")
    after = data.draw(_streams(detector), label="after")
    used = run(detector, params, before).reset()
    assert (used.samples, used.detections, used.drift_detected) == (0, (), False)
    fresh = ErrorStreamMonitor(detector, **params)  # type: ignore[arg-type]
    for error in after:
        assert used.update(error).drift_detected == fresh.update(error).drift_detected
    assert (used.samples, used.detections) == (fresh.samples, fresh.detections)
    assert used.params == fresh.params


# ---------------------------------------------------------------- options and inputs


def test_options_are_river_constructor_parameters() -> None:
    """Check that the validated options are exactly river's (KSWIN's ``window`` left out)."""
    from river.drift import ADWIN, KSWIN, PageHinkley
    from river.drift.binary import DDM as RiverDDM

    classes = {"adwin": ADWIN, "page_hinkley": PageHinkley, "kswin": KSWIN, "ddm": RiverDDM}
    for name, cls in classes.items():
        accepted = set(inspect.signature(cls).parameters) - {"window"}
        assert set(concept._OPTIONS[name]) == accepted, name


def test_defaults_differ_from_river_only_where_documented() -> None:
    assert ErrorStreamMonitor("page_hinkley").params == {"mode": "up"}
    assert ErrorStreamMonitor("kswin").params == {"seed": 0}
    assert ErrorStreamMonitor("adwin", delta=0.01).params == {"delta": 0.01}
    assert (
        repr(ErrorStreamMonitor("ddm", warm_start=50)) == "ErrorStreamMonitor('ddm', warm_start=50)"
    )


@pytest.mark.parametrize(
    ("detector", "params", "message"),
    [
        (
            "cusum",
            {},
            "The 'detector' option must be one of 'adwin', 'page_hinkley', 'kswin', 'ddm'. "
            "Got 'cusum' instead.",
        ),
        (
            "adwin",
            {"threshold": 3},
            "The 'adwin' detector has no option(s) 'threshold'. Its options are 'delta', "
            "'clock', 'max_buckets', 'min_window_length', 'grace_period'.",
        ),
        ("adwin", {"delta": 2}, "The 'delta' option must be a number in (0, 1). Got 2 instead."),
        ("ddm", {"warm_start": 0.5}, "The 'warm_start' option must be an integer >= 1."),
        ("page_hinkley", {"mode": "sideways"}, "must be one of 'up', 'down', 'both'."),
        ("kswin", {"alpha": math.nan}, "The 'alpha' option must be a number in (0, 1)."),
        ("kswin", {"window_size": 50}, "'window_size' option of the 'kswin' detector must be"),
    ],
)
def test_bad_options_are_config_errors(detector: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ErrorStreamMonitor(detector, **params)  # type: ignore[arg-type]
    assert message in caught.value.message


def test_ddm_takes_only_0_1_errors() -> None:
    monitor = ErrorStreamMonitor("ddm").update(1).update(0.0)
    with pytest.raises(ConfigError, match=r"takes 0/1 errors .* Got 0.5 at sample 2 instead"):
        monitor.update(0.5)
    assert monitor.samples == 2


@pytest.mark.parametrize("value", [math.nan, math.inf, "0.3", None])
def test_an_error_must_be_a_finite_number(value: Any) -> None:
    with pytest.raises(InvalidInput, match="must be a finite number"):
        ErrorStreamMonitor("adwin").update(value)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(concept, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
