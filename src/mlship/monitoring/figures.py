"""Measuring one column against its reference: the heavy, thread-safe half of a feature's drift.

Everything here is numpy work that releases the GIL (sorting, merging, counting), so columns are
measured in parallel threads; p-values and verdicts are computed afterwards on the calling thread
(:mod:`mlship.monitoring.feature_drift`). Each numeric column is sorted once; one merge of the
sorted reference and current samples gives the KS statistic and the Wasserstein distance, and
binary searches of the quantile cut points give the PSI and Jensen-Shannon bin counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlship.monitoring.quantile_cdf import profile_cuts
from mlship.monitoring.reference import (
    CategoricalReference,
    NumericReference,
    category_counts,
    finite_sorted,
    numeric_values,
)
from mlship.monitoring.statistics import (
    EXACT_KS_MAX,
    FloatArray,
    IntArray,
    Significance,
    bin_counts_sorted,
    js_distance,
    ks_p_value,
    ks_wasserstein_sorted,
    normalised_wasserstein,
    psi,
    quantile_cuts,
)

NEW_CATEGORIES_LISTED = 20
"""At most this many new categories are named in a report (the most frequent)."""


@dataclass(frozen=True, slots=True)
class Counts:
    """Rows and missing values of a column on both sides."""

    reference_rows: int
    reference_missing: int
    current_rows: int
    current_missing: int

    @property
    def reference(self) -> int:
        """Non-missing reference values."""
        return self.reference_rows - self.reference_missing

    @property
    def current(self) -> int:
        """Non-missing current values."""
        return self.current_rows - self.current_missing


@dataclass(frozen=True, slots=True)
class NumericFigures:
    """What one numeric column measured; ``None`` where a side has no values."""

    counts: Counts
    approximate: bool
    ks: Significance | None = None
    """The KS test, unless ``exact_samples`` are kept for scipy's exact p-value."""
    wasserstein: float | None = None
    wasserstein_norm: float | None = None
    psi: float | None = None
    js: float | None = None
    exact_samples: tuple[FloatArray, FloatArray] | None = None
    """Both sorted samples when they are small enough for scipy's exact KS p-value."""


@dataclass(frozen=True, slots=True)
class NewCategories:
    """Current categories the reference never saw."""

    count: int
    share: float
    """Share of the current non-missing values that fall in new categories."""
    values: tuple[str, ...]
    """The most frequent ones (at most 20)."""
    approximate: bool
    """True when the profile lumped rare reference categories: some may not really be new."""
    rows: int = 0
    """Current non-missing values in new categories."""
    reference_rows: int = 0
    """Reference values that may be in them: those the profile lumped into ``other``."""


@dataclass(frozen=True, slots=True)
class CategoricalFigures:
    """What one categorical column measured: aligned counts over the union of categories."""

    counts: Counts
    approximate: bool
    reference_counts: IntArray
    current_counts: IntArray
    new_categories: NewCategories


def measure_numeric(reference: NumericReference, current: Any, bins: int) -> NumericFigures:
    """Sort ``current`` once and measure KS, Wasserstein, PSI and Jensen-Shannon against it."""
    values, missing = finite_sorted(numeric_values(current, "current"))
    counts = Counts(reference.rows, reference.missing, len(values) + missing, missing)
    n1, n2 = reference.count, len(values)
    if n1 == 0 or n2 == 0:
        return NumericFigures(counts, reference.approximate)
    if reference.values is not None:
        ordered = reference.values
        statistic, distance = ks_wasserstein_sorted(ordered, values)
        cuts = quantile_cuts(ordered, bins)
        ref_bins: FloatArray | IntArray = bin_counts_sorted(ordered, cuts)
        small = max(n1, n2) <= EXACT_KS_MAX
        exact = (ordered, values) if small else None
    else:
        cdf, quantiles, levels = reference.cdf, reference.quantiles, reference.levels
        assert cdf is not None and quantiles is not None and levels is not None
        statistic = cdf.ks_statistic(values)
        distance = cdf.wasserstein(values)
        cuts = profile_cuts(quantiles, levels, bins)
        ref_bins = cdf.shares(cuts)
        exact = None
    cur_bins = bin_counts_sorted(values, cuts)
    # The asymptotic p-value is numpy work too (see ``kstwo_sf``); the exact one is scipy's.
    ks = None if exact else Significance(statistic, ks_p_value(statistic, n1, n2))
    return NumericFigures(
        counts,
        reference.approximate,
        ks=ks,
        wasserstein=distance,
        wasserstein_norm=normalised_wasserstein(distance, reference.std or 0.0),
        psi=psi(ref_bins, cur_bins),
        js=js_distance(ref_bins, cur_bins),
        exact_samples=exact,
    )


def measure_categorical(reference: CategoricalReference, current: Any) -> CategoricalFigures:
    """Count ``current``'s categories once and align them with the reference's."""
    import pandas as pd

    keys, cur_counts, missing = category_counts(current)
    counts = Counts(reference.rows, reference.missing, int(cur_counts.sum()) + missing, missing)
    position = pd.Index(reference.categories).get_indexer(pd.Index(keys, dtype=object))
    unseen = position < 0
    n_known = len(reference.categories)
    lumped = reference.other > 0
    ref_vector = reference.counts
    cur_vector = np.zeros(n_known, dtype=np.int64)
    np.add.at(cur_vector, position[~unseen], cur_counts[~unseen])
    if lumped:
        # Unseen categories may be among those the profile lumped: compare them as one 'other'.
        ref_vector = np.append(ref_vector, reference.other)
        cur_vector = np.append(cur_vector, cur_counts[unseen].sum())
    else:
        ref_vector = np.concatenate((ref_vector, np.zeros(int(unseen.sum()), dtype=np.int64)))
        cur_vector = np.concatenate((cur_vector, cur_counts[unseen]))
    unseen_keys = tuple(k for k, u in zip(keys, unseen, strict=True) if u)
    total = counts.current
    in_new = int(cur_counts[unseen].sum())
    new = NewCategories(
        count=len(unseen_keys),
        share=in_new / total if total else 0.0,
        values=unseen_keys[:NEW_CATEGORIES_LISTED],
        approximate=lumped,
        rows=in_new,
        reference_rows=int(reference.other),
    )
    return CategoricalFigures(counts, reference.approximate, ref_vector, cur_vector, new)
