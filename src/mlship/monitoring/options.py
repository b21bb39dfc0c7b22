"""Drift options: which test each feature gets, and when a difference counts as drift.

**Test choice** (Evidently's published default rule, by column type and reference size):

============  =====================================  ==========================================
column        up to ``small_sample`` (1,000) values   more reference values
============  =====================================  ==========================================
numeric       ``ks`` (Kolmogorov-Smirnov)             ``wasserstein`` (normalised by the std)
categorical   ``chi2``; ``z`` if at most 2 categories  ``js`` (Jensen-Shannon distance)
============  =====================================  ==========================================

The size is the reference column's count of non-missing values. Booleans, strings and pandas
categories are categorical; integers and floats numeric. Unlike Evidently, a numeric column with
five distinct values or fewer stays numeric (a stored profile cannot tell it apart reliably, and
KS and Wasserstein remain valid on discrete values): give it ``kind="categorical"`` to change
that. ``psi`` is available for both kinds. Any feature's test, threshold or kind can be set with
:class:`FeatureOptions`.

**Verdict: significant and large enough.** With 200,000 rows every p-value is tiny, so a p-value
alone flags differences nobody cares about; with 50 rows an effect size alone flags noise. A
feature drifts when both hold:

- its p-value is below ``alpha`` (0.05): the KS p-value for numeric features, the chi-square
  p-value for categorical ones (the z-test's for ``z``), whichever test was chosen;
- its effect size reaches ``threshold``: the normalised Wasserstein distance (numeric; a shift of
  0.1 standard deviations is 0.1), the Jensen-Shannon distance (categorical), or the PSI when the
  test is ``psi``. Every effect has the same default threshold, 0.1 (Evidently's thresholds for
  normed Wasserstein, Jensen-Shannon and PSI).

A feature also drifts when its share of missing values rises by at least ``missing_threshold``
(0.05: five points), or when values in categories the reference never saw reach
``new_category_threshold`` (0.01) of a categorical feature's values, each with a one-sided
Fisher p-value below ``alpha`` (:mod:`mlship.monitoring.share_rise`). ``FeatureDrift.drift_reasons``
says which of ``distribution``, ``missing`` and ``new_categories`` it drifts by.

A feature with fewer than ``min_rows`` (30) non-missing values on either side gets no verdict on
its distribution or new categories (a ``reason`` says why), however different it looks: a
one-row window is not evidence. Its missing values are judged from ``min_rows`` rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mlship.errors import ConfigError
from mlship.options import invalid

ColumnKind = Literal["numeric", "categorical"]
TestName = Literal["ks", "wasserstein", "chi2", "z", "js", "psi"]
DatasetRule = Literal["bh", "share"]

DriftReason = Literal["distribution", "missing", "new_categories"]

TESTS: tuple[str, ...] = ("chi2", "js", "ks", "psi", "wasserstein", "z")
NUMERIC_TESTS = frozenset({"ks", "wasserstein", "js", "psi"})
CATEGORICAL_TESTS = frozenset({"chi2", "z", "js", "psi"})
EFFECTS: Mapping[str, str] = {
    "ks": "wasserstein_norm",
    "wasserstein": "wasserstein_norm",
    "chi2": "js",
    "z": "js",
    "js": "js",
    "psi": "psi",
}
"""The effect size each test is judged by."""
DEFAULT_THRESHOLDS: Mapping[str, float] = {"wasserstein_norm": 0.1, "js": 0.1, "psi": 0.1}
"""The default smallest effect that counts as drift, per effect size."""


@dataclass(frozen=True, slots=True)
class FeatureOptions:
    """Per-feature overrides; ``None`` keeps the rule of :class:`DriftOptions`.

    Parameters
    ----------
    test:
        One of ``ks``, ``wasserstein``, ``psi``, ``js`` (numeric) or ``chi2``, ``z``, ``psi``,
        ``js`` (categorical).
    threshold:
        The smallest effect size that counts as drift for this feature.
    kind:
        ``"numeric"`` or ``"categorical"``: e.g. ``"categorical"`` for integer-coded categories.
    """

    test: TestName | None = None
    threshold: float | None = None
    kind: ColumnKind | None = None

    def __post_init__(self) -> None:
        if self.test is not None and self.test not in TESTS:
            raise ConfigError(_message("test", f"one of {', '.join(TESTS)}", self.test))
        if self.threshold is not None and not self.threshold >= 0:
            raise ConfigError(_message("threshold", "a number >= 0", self.threshold))
        if self.kind is not None and self.kind not in ("numeric", "categorical"):
            raise ConfigError(_message("kind", "'numeric' or 'categorical'", self.kind))


@dataclass(frozen=True, slots=True)
class DriftOptions:
    """How features are tested and judged, and how the dataset verdict is reached.

    Parameters
    ----------
    alpha:
        Significance level of every test, and the false discovery rate of Benjamini-Hochberg.
    threshold:
        Smallest effect size that counts as drift, for every feature (``None``: 0.1, see
        :data:`DEFAULT_THRESHOLDS`).
    test:
        A test for every feature instead of the automatic choice (``None``: automatic).
    bins:
        Quantile bins of the reference for PSI and Jensen-Shannon on numeric features.
    small_sample:
        Up to this many reference values, p-value tests (KS, chi-square, z) are chosen.
    min_rows:
        Fewer non-missing values than this on either side give no verdict (fewer rows: no
        verdict on missing values either).
    missing_threshold:
        Smallest rise of a feature's share of missing values that counts as drift (0.05: five
        points), when significant.
    new_category_threshold:
        Smallest share of a categorical feature's values in categories the reference never saw
        that counts as drift (0.01), when significant.
    drift_share:
        The share rule: the dataset drifts when at least this share of judged features drift.
    dataset_rule:
        ``"bh"``: the dataset drifts when any feature drifts after Benjamini-Hochberg across
        features; ``"share"``: when the share rule fires. Both are always reported.
    features:
        Per-feature :class:`FeatureOptions`, by column name.

    >>> DriftOptions(features={"age": FeatureOptions(test="psi", threshold=0.2)}).for_feature("age")
    FeatureOptions(test='psi', threshold=0.2, kind=None)
    """

    alpha: float = 0.05
    threshold: float | None = None
    test: TestName | None = None
    bins: int = 10
    small_sample: int = 1000
    min_rows: int = 30
    missing_threshold: float = 0.05
    new_category_threshold: float = 0.01
    drift_share: float = 0.5
    dataset_rule: DatasetRule = "bh"
    features: Mapping[str, FeatureOptions] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ConfigError(_message("alpha", "a probability between 0 and 1", self.alpha))
        if self.threshold is not None and not self.threshold >= 0:
            raise ConfigError(_message("threshold", "a number >= 0", self.threshold))
        if self.test is not None and self.test not in TESTS:
            raise ConfigError(_message("test", f"one of {', '.join(TESTS)}", self.test))
        if not isinstance(self.bins, int) or self.bins < 2:
            raise ConfigError(_message("bins", "a whole number >= 2", self.bins))
        if not isinstance(self.small_sample, int) or self.small_sample < 0:
            raise ConfigError(_message("small_sample", "a whole number >= 0", self.small_sample))
        if not isinstance(self.min_rows, int) or self.min_rows < 1:
            raise ConfigError(_message("min_rows", "a whole number >= 1", self.min_rows))
        for option in ("missing_threshold", "new_category_threshold"):
            value = getattr(self, option)
            if isinstance(value, bool) or not (isinstance(value, int | float) and 0 <= value <= 1):
                raise ConfigError(_message(option, "a share between 0 and 1", value))
        if not 0 < self.drift_share <= 1:
            raise ConfigError(_message("drift_share", "a share in (0, 1]", self.drift_share))
        if self.dataset_rule not in ("bh", "share"):
            raise ConfigError(_message("dataset_rule", "'bh' or 'share'", self.dataset_rule))
        for name, value in self.features.items():
            if not isinstance(value, FeatureOptions):
                raise ConfigError(
                    _message(f"features[{name!r}]", "a FeatureOptions", type(value).__name__)
                )

    def for_feature(self, name: str) -> FeatureOptions:
        """The options of one feature: its overrides over the dataset-wide ones."""
        own = self.features.get(name, FeatureOptions())
        return FeatureOptions(
            test=own.test if own.test is not None else self.test,
            threshold=own.threshold if own.threshold is not None else self.threshold,
            kind=own.kind,
        )

    def to_dict(self) -> dict[str, Any]:
        """The options as plain JSON values (for the report)."""
        return {
            "alpha": self.alpha,
            "threshold": self.threshold,
            "test": self.test,
            "bins": self.bins,
            "small_sample": self.small_sample,
            "min_rows": self.min_rows,
            "missing_threshold": self.missing_threshold,
            "new_category_threshold": self.new_category_threshold,
            "drift_share": self.drift_share,
            "dataset_rule": self.dataset_rule,
            "features": {
                name: {k: v for k, v in _fields(opt).items() if v is not None}
                for name, opt in sorted(self.features.items())
            },
        }


def choose_test(kind: ColumnKind, reference_count: int, categories: int, small_sample: int) -> str:
    """The automatic test of a feature (see the module docstring).

    >>> choose_test("numeric", 500, 0, 1000), choose_test("numeric", 5000, 0, 1000)
    ('ks', 'wasserstein')
    >>> choose_test("categorical", 500, 2, 1000), choose_test("categorical", 5000, 7, 1000)
    ('z', 'js')
    """
    small = reference_count <= small_sample
    if kind == "numeric":
        return "ks" if small else "wasserstein"
    if small:
        return "z" if categories <= 2 else "chi2"
    return "js"


def check_test(name: str, test: str, kind: ColumnKind, categories: int) -> None:
    """Raise :class:`ConfigError` when ``test`` cannot judge a ``kind`` feature."""
    allowed = NUMERIC_TESTS if kind == "numeric" else CATEGORICAL_TESTS
    if test not in allowed:
        raise ConfigError(
            f"The 'test' option of feature {name!r} must be one of {', '.join(sorted(allowed))} "
            f"for a {kind} feature. Got {test!r} instead."
        )
    if test == "z" and categories > 2:
        raise ConfigError(
            f"The 'test' option of feature {name!r} is 'z', which compares two categories, but "
            f"{name!r} has {categories}. Use 'chi2', 'js' or 'psi' instead."
        )


def _fields(options: FeatureOptions) -> dict[str, Any]:
    return {"test": options.test, "threshold": options.threshold, "kind": options.kind}


def _message(option: str, expected: str, got: object) -> str:
    return invalid(option, expected, got).message
