"""Concept drift on a model's error stream, with river's detectors.

A model whose inputs look the same can still get worse: the relation between inputs and labels
moved. Once labels arrive, each prediction gives an error (1 for a wrong class, 0 for a right
one; the absolute error of a regressor) and :class:`ErrorStreamMonitor` watches that stream with
one of river's detectors. The statistics are river's, not mlship's; this module only types them,
validates their options with one message format, and remembers where drift was signalled.

=================  ==============================  =========================================
``detector``       river class                     watches
=================  ==============================  =========================================
``adwin``          ``river.drift.ADWIN``           the mean, in an adaptive window
``page_hinkley``   ``river.drift.PageHinkley``     cumulative deviation from the mean
``kswin``          ``river.drift.KSWIN``           the distribution (Kolmogorov-Smirnov)
``ddm``            ``river.drift.binary.DDM``      the error rate of 0/1 errors only
=================  ==============================  =========================================

Two defaults differ from river's: ``page_hinkley`` watches increases only (``mode="up"``: fewer
errors is no drift to act on) and ``kswin`` is seeded (``seed=0``), so that a run, and a run after
:meth:`ErrorStreamMonitor.reset`, is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from numbers import Real
from types import MappingProxyType
from typing import Any, Literal, Protocol, get_args

from mlship.errors import ConfigError, InvalidInput
from mlship.options import invalid

__all__ = ["DetectorName", "ErrorStreamMonitor"]

DetectorName = Literal["adwin", "page_hinkley", "kswin", "ddm"]
DETECTORS: tuple[DetectorName, ...] = get_args(DetectorName)

_Rule = tuple[str, Callable[[Any], bool]]


def _integer(low: int) -> _Rule:
    return (
        f"an integer >= {low}",
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low,
    )


def _number(must: str, ok: Callable[[float], bool]) -> _Rule:
    def check(value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return math.isfinite(value) and ok(float(value))

    return must, check


# The parameters of each river constructor (a test pins them to river's signatures), with what
# each must be. KSWIN's ``window`` (data to start from) is left out: a monitor starts empty.
_OPTIONS: Mapping[DetectorName, Mapping[str, _Rule]] = MappingProxyType(
    {
        "adwin": {
            "delta": _number("a number in (0, 1)", lambda v: 0 < v < 1),
            "clock": _integer(1),
            "max_buckets": _integer(1),
            "min_window_length": _integer(1),
            "grace_period": _integer(1),
        },
        "page_hinkley": {
            "min_instances": _integer(1),
            "delta": _number("a number >= 0", lambda v: v >= 0),
            "threshold": _number("a number > 0", lambda v: v > 0),
            "alpha": _number("a number in (0, 1]", lambda v: 0 < v <= 1),
            "mode": ("one of 'up', 'down', 'both'", lambda v: v in ("up", "down", "both")),
        },
        "kswin": {
            "alpha": _number("a number in (0, 1)", lambda v: 0 < v < 1),
            "window_size": _integer(2),
            "stat_size": _integer(1),
            "seed": ("an integer or None", lambda v: v is None or _integer(0)[1](v)),
        },
        "ddm": {
            "warm_start": _integer(1),
            "warning_threshold": _number("a number > 0", lambda v: v > 0),
            "drift_threshold": _number("a number > 0", lambda v: v > 0),
        },
    }
)
_DEFAULTS: Mapping[DetectorName, Mapping[str, Any]] = MappingProxyType(
    {"page_hinkley": {"mode": "up"}, "kswin": {"seed": 0}}
)


class _Detector(Protocol):
    """What mlship uses of a river drift detector."""

    @property
    def drift_detected(self) -> bool: ...

    def update(self, x: float) -> Any: ...


class ErrorStreamMonitor:
    """Watch a stream of per-prediction errors for concept drift with one river detector.

    Parameters
    ----------
    detector:
        ``adwin``, ``page_hinkley``, ``kswin`` or ``ddm`` (see the module docstring).
    **params:
        Options of that river detector, named as in river (e.g. ``delta=0.002`` for ADWIN,
        ``threshold=50`` for Page-Hinkley, ``alpha=0.005, window_size=100, stat_size=30`` for
        KSWIN, ``warm_start=30, drift_threshold=3`` for DDM).

    Feed it errors in time order with :meth:`update`: 0/1 mistakes of a classifier, or absolute
    errors of a regressor (``ddm`` takes 0/1 only). :attr:`drift_detected` says whether the last
    error signalled drift; :attr:`detections` lists every sample index that did. After a
    signal the river detector starts afresh on its own, as river's do.

    >>> import random
    >>> rng = random.Random(7)
    >>> errors = [int(rng.random() < 0.1) for _ in range(1000)]  # 10 % wrong ...
    >>> errors += [int(rng.random() < 0.4) for _ in range(1000)]  # ... then 40 % from sample 1000
    >>> monitor = ErrorStreamMonitor("ddm")
    >>> for error in errors:
    ...     _ = monitor.update(error)
    >>> monitor.detections
    (1090,)
    >>> monitor.reset().samples, monitor.detections
    (0, ())
    """

    __slots__ = ("_detections", "_detector", "_name", "_params", "_samples")

    def __init__(self, detector: DetectorName = "adwin", **params: Any) -> None:
        if detector not in _OPTIONS:
            raise invalid("detector", f"one of {', '.join(map(repr, DETECTORS))}", detector)
        rules = _OPTIONS[detector]
        unknown = sorted(set(params) - set(rules))
        if unknown:
            raise ConfigError(
                f"The {detector!r} detector has no option(s) {', '.join(map(repr, unknown))}. "
                f"Its options are {', '.join(map(repr, rules))}."
            )
        for option, value in params.items():
            must, ok = rules[option]
            if not ok(value):
                raise invalid(option, must, value)
        merged = {**_DEFAULTS.get(detector, {}), **params}
        if detector == "kswin":
            window, stat = merged.get("window_size", 100), merged.get("stat_size", 30)
            if window < 2 * stat:
                raise ConfigError(
                    "The 'window_size' option of the 'kswin' detector must be at least twice "
                    f"'stat_size' ({stat}): it compares the last {stat} errors with as many drawn "
                    f"from the rest of the window. Got {window} instead."
                )
        self._name: DetectorName = detector
        self._params: Mapping[str, Any] = MappingProxyType(merged)
        self._detector = self._build()
        self._samples = 0
        self._detections: list[int] = []

    def _build(self) -> _Detector:
        # river imports pandas, scipy and scikit-learn: only when a monitor is made.
        from river.drift import ADWIN, KSWIN, PageHinkley
        from river.drift.binary import DDM

        classes: dict[DetectorName, Callable[..., _Detector]] = {
            "adwin": ADWIN,
            "page_hinkley": PageHinkley,
            "kswin": KSWIN,
            "ddm": DDM,
        }
        return classes[self._name](**self._params)

    def update(self, x: float) -> ErrorStreamMonitor:
        """Add the error of the next prediction; returns the monitor."""
        if isinstance(x, bool):
            x = int(x)
        if not isinstance(x, Real) or not math.isfinite(x):
            raise InvalidInput(
                f"An error fed to the monitor must be a finite number. Got {x!r} at sample "
                f"{self._samples} instead.",
                row=self._samples,
                expected="finite number",
            )
        if self._name == "ddm" and x not in (0, 1):
            raise ConfigError(
                "The 'ddm' detector takes 0/1 errors (1 = a wrong prediction). Got "
                f"{x!r} at sample {self._samples} instead; watch absolute errors with 'adwin', "
                "'page_hinkley' or 'kswin'."
            )
        self._detector.update(x)
        if self._detector.drift_detected:
            self._detections.append(self._samples)
        self._samples += 1
        return self

    def reset(self) -> ErrorStreamMonitor:
        """Forget every error seen, as if just made with the same options; returns the monitor."""
        self._detector = self._build()
        self._samples = 0
        self._detections = []
        return self

    @property
    def drift_detected(self) -> bool:
        """Whether the last error given to :meth:`update` signalled drift."""
        return bool(self._detector.drift_detected)

    @property
    def detections(self) -> tuple[int, ...]:
        """The 0-based index of every sample that signalled drift, since the last reset."""
        return tuple(self._detections)

    @property
    def samples(self) -> int:
        """How many errors were given since the last reset."""
        return self._samples

    @property
    def detector(self) -> DetectorName:
        return self._name

    @property
    def params(self) -> Mapping[str, Any]:
        """The options passed to river: the defaults of mlship and those given."""
        return self._params

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"ErrorStreamMonitor({self._name!r}{', ' if options else ''}{options})"
