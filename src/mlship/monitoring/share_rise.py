"""A share of a column that rose: its missing values, or its values in categories never seen.

A model fed a column that is suddenly a quarter empty, or that holds values it was never trained
on, is not answering the questions it was trained on, however the remaining values are spread.
So each feature also gets two judgments besides its distribution, by the same rule
(significant *and* large enough, :mod:`mlship.monitoring.options`):

- **missing values**: the share of the rows that are missing rose by at least
  ``DriftOptions.missing_threshold`` (0.05: five points) and one-sided Fisher's exact test of the
  two shares (:func:`~mlship.monitoring.statistics.fisher_rise`) gives ``p < alpha``; judged when
  both sides have at least ``min_rows`` rows (values or not);
- **new categories** (categorical features): the share of the non-missing values in categories
  the reference never saw reached ``DriftOptions.new_category_threshold`` (0.01) with
  ``p < alpha``, against a reference share of 0; or, when the profile lumped its rare categories
  into ``other``, the rise over the share of ``other`` (those categories may be among them);
  judged when both sides have at least ``min_rows`` values.

Both p-values join the features' distribution p-values in the report's Benjamini-Hochberg family
(:mod:`mlship.monitoring.report`), except a test whose 2 x 2 table has an empty margin (no missing
value on either side, say): its p-value is 1 whatever happens, and leaving it out keeps clean
columns from diluting the others.

>>> rise = share_rise(100, 10_000, 2_500, 10_000, threshold=0.05, alpha=0.05, min_rows=30)
>>> rise.reference, rise.current, rise.drift
(0.01, 0.25, True)
>>> share_rise(100, 10_000, 200, 10_000, threshold=0.05, alpha=0.05, min_rows=30).drift
False
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from mlship.monitoring.statistics import fisher_rise

RISE_TOLERANCE = 1e-12
"""Slack on ``change >= threshold``: 0.06 - 0.01 is 0.04999... in floating point."""


@dataclass(frozen=True, slots=True)
class ShareRise:
    """A share on both sides (counts of a total) and whether its rise is drift.

    ``p_value`` is the one-sided Fisher p-value of the rise, ``None`` when either side has fewer
    than ``min_rows`` in its total (no verdict); ``p_value_adjusted`` its Benjamini-Hochberg
    p-value in a report (``None`` outside one, or out of the family).
    """

    reference_count: int
    reference_total: int
    current_count: int
    current_total: int
    threshold: float
    p_value: float | None
    drift: bool
    p_value_adjusted: float | None = None

    @property
    def reference(self) -> float:
        """The reference share (0 without reference values)."""
        return _share(self.reference_count, self.reference_total)

    @property
    def current(self) -> float:
        """The current share (0 without current values)."""
        return _share(self.current_count, self.current_total)

    @property
    def change(self) -> float:
        """``current - reference``: positive when the share rose."""
        return self.current - self.reference

    @property
    def judged(self) -> bool:
        """True when both sides were large enough to test."""
        return self.p_value is not None

    @property
    def material(self) -> bool:
        """True when the rise reaches the threshold (whatever the p-value)."""
        return self.change + RISE_TOLERANCE >= self.threshold

    @property
    def in_family(self) -> bool:
        """True when the test counts in Benjamini-Hochberg: judged, and able to reject (its
        table has no empty margin)."""
        hits = self.reference_count + self.current_count
        return self.judged and 0 < hits < self.reference_total + self.current_total

    def to_dict(self) -> dict[str, Any]:
        """The verdict's figures, for the feature's ``missing`` or ``new_categories`` entry."""
        return {
            "threshold": self.threshold,
            "p_value": self.p_value,
            "p_value_adjusted": self.p_value_adjusted,
            "drift": self.drift,
        }


def share_rise(
    reference_count: int,
    reference_total: int,
    current_count: int,
    current_total: int,
    *,
    threshold: float,
    alpha: float,
    min_rows: int,
) -> ShareRise:
    """Judge the rise from ``reference_count / reference_total`` to ``current_count /
    current_total``: drift when ``p < alpha`` and the rise reaches ``threshold``."""
    tested = min(reference_total, current_total) >= min_rows
    p_value = (
        fisher_rise(reference_count, reference_total, current_count, current_total).p_value
        if tested
        else None
    )
    rise = ShareRise(
        reference_count, reference_total, current_count, current_total, threshold, p_value, False
    )
    return replace(rise, drift=p_value is not None and p_value < alpha and rise.material)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0
