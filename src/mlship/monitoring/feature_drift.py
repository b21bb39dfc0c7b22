"""One feature's drift: its test, statistic, p-value, effect size and verdict.

:func:`judge_numeric` and :func:`judge_categorical` turn measured figures into a
:class:`FeatureDrift` by the rule of :mod:`mlship.monitoring.options` (significant *and* large
enough), for its distribution, its missing values and its new categories
(:mod:`mlship.monitoring.share_rise`). Every statistic computed for the feature is kept in it,
whichever test decided.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlship.monitoring.figures import CategoricalFigures, Counts, NewCategories, NumericFigures
from mlship.monitoring.options import (
    DEFAULT_THRESHOLDS,
    EFFECTS,
    ColumnKind,
    DriftOptions,
    DriftReason,
    FeatureOptions,
    check_test,
    choose_test,
)
from mlship.monitoring.share_rise import ShareRise, share_rise
from mlship.monitoring.statistics import (
    Significance,
    chi2_counts,
    js_distance,
    ks_2samp_sorted,
    psi,
    z_test_proportions,
)


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    """The drift verdict of one feature (or of the model's predictions).

    ``statistic`` is the chosen test's statistic; ``p_value`` its p-value, or for a distance test
    (``wasserstein``, ``js``, ``psi``) the p-value of the significance test of the feature's kind
    (KS or chi-square); ``effect`` the effect size named ``effect_name``. The distribution drifts
    when ``p_value < alpha and effect >= threshold``; ``reason`` says why it could not be
    judged (too few values). ``missing_rise`` and ``new_category_rise`` judge the rise of its
    missing values and of its values in new categories. ``drift`` is true when any of the three
    drifts, and ``drift_reasons`` names them (``distribution``, ``missing``,
    ``new_categories``). ``p_value_adjusted`` is the Benjamini-Hochberg p-value of the
    distribution test across the report's tests (``None`` outside a report).
    """

    name: str
    kind: ColumnKind
    test: str
    statistic: float | None
    p_value: float | None
    effect: float | None
    effect_name: str
    threshold: float
    drift: bool
    reason: str | None
    approximate: bool
    counts: Counts
    ks: Significance | None = None
    chi2: Significance | None = None
    z: Significance | None = None
    wasserstein: float | None = None
    wasserstein_norm: float | None = None
    psi: float | None = None
    js: float | None = None
    new_categories: NewCategories | None = None
    p_value_adjusted: float | None = None
    missing_rise: ShareRise | None = None
    new_category_rise: ShareRise | None = None
    drift_reasons: tuple[DriftReason, ...] = ()

    @property
    def judged(self) -> bool:
        """True when the distribution got a verdict (enough values on both sides)."""
        return self.reason is None

    @property
    def rises(self) -> dict[DriftReason, ShareRise]:
        """The judged share rises (missing values, new categories), by drift reason."""
        found: dict[DriftReason, ShareRise] = {}
        if self.missing_rise is not None and self.missing_rise.judged:
            found["missing"] = self.missing_rise
        if self.new_category_rise is not None and self.new_category_rise.judged:
            found["new_categories"] = self.new_category_rise
        return found

    def details(self) -> tuple[str, ...]:
        """What drifts besides the distribution, as a table shows it: ``missing 1 % → 25 %``,
        ``new categories 2 % (BR)``."""
        out = []
        missing, new = self.missing_rise, self.new_category_rise
        if missing is not None and missing.drift:
            out.append(f"missing {percent(missing.reference)} → {percent(missing.current)}")
        if new is not None and new.drift and self.new_categories is not None:
            shown = self.new_categories.values[:3]
            more = self.new_categories.count - len(shown)
            names = ", ".join(shown) + (f" and {more} more" if more > 0 else "")
            share = percent(new.current)
            if new.reference_count:  # against the profile's lumped 'other'
                share = f"{percent(new.reference)} → {share}"
            out.append(f"new categories {share} ({names})")
        return tuple(out)

    @property
    def material(self) -> bool:
        """True when the effect reaches the threshold (whatever the p-value)."""
        return self.effect is not None and self.effect >= self.threshold

    def stats(self) -> dict[str, Any]:
        """Every statistic computed for the feature, as JSON values."""
        if self.kind == "numeric":
            out: dict[str, Any] = {"ks": _test_dict(self.ks)}
            out["wasserstein"] = _num(self.wasserstein)
            out["wasserstein_norm"] = _num(self.wasserstein_norm)
        else:
            out = {"chi2": _test_dict(self.chi2)}
            if self.z is not None:
                out["z"] = _test_dict(self.z)
        out["psi"] = _num(self.psi)
        out["js"] = _num(self.js)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The feature's entry in the JSON report (see ``docs/drift.md``)."""
        counts = self.counts
        ref_missing = _rate(counts.reference_missing, counts.reference_rows)
        cur_missing = _rate(counts.current_missing, counts.current_rows)
        change = None if ref_missing is None or cur_missing is None else cur_missing - ref_missing
        new = self.new_categories
        missing: dict[str, Any] = {"reference": ref_missing, "current": cur_missing}
        missing["change"] = change
        if self.missing_rise is not None:
            missing.update(self.missing_rise.to_dict())
        new_categories: dict[str, Any] | None = None
        if new is not None:
            new_categories = {
                "count": new.count,
                "share": new.share,
                "values": list(new.values),
                "approximate": new.approximate,
            }
            if self.new_category_rise is not None:
                new_categories["reference_share"] = self.new_category_rise.reference
                new_categories.update(self.new_category_rise.to_dict())
        return {
            "kind": self.kind,
            "test": self.test,
            "statistic": _num(self.statistic),
            "p_value": _num(self.p_value),
            "p_value_adjusted": _num(self.p_value_adjusted),
            "effect": _num(self.effect),
            "effect_name": self.effect_name,
            "threshold": self.threshold,
            "drift": self.drift,
            "drift_reasons": list(self.drift_reasons),
            "reason": self.reason,
            "approximate": self.approximate,
            "count": {"reference": counts.reference, "current": counts.current},
            "missing": missing,
            "new_categories": new_categories,
            "stats": self.stats(),
        }


def judge_numeric(name: str, figures: NumericFigures, options: DriftOptions) -> FeatureDrift:
    """The verdict of a numeric feature from its measured figures."""
    own = options.for_feature(name)
    counts = figures.counts
    test = own.test or choose_test("numeric", counts.reference, 0, options.small_sample)
    check_test(name, test, "numeric", 0)
    ks = figures.ks
    if figures.exact_samples is not None:
        ks = ks_2samp_sorted(*figures.exact_samples)
    statistic = {
        "ks": None if ks is None else ks.statistic,
        "wasserstein": figures.wasserstein_norm,
        "js": figures.js,
        "psi": figures.psi,
    }[test]
    effects = {"wasserstein_norm": figures.wasserstein_norm, "js": figures.js, "psi": figures.psi}
    return _verdict(
        name,
        "numeric",
        test,
        statistic,
        None if ks is None else ks.p_value,
        effects,
        own,
        options,
        counts,
        figures.approximate,
        ks=ks,
        wasserstein=figures.wasserstein,
        wasserstein_norm=figures.wasserstein_norm,
        psi=figures.psi,
        js=figures.js,
    )


def judge_categorical(
    name: str, figures: CategoricalFigures, options: DriftOptions
) -> FeatureDrift:
    """The verdict of a categorical feature from its aligned category counts."""
    own = options.for_feature(name)
    counts = figures.counts
    ref, cur = figures.reference_counts, figures.current_counts
    n_categories = int(((ref + cur) > 0).sum())
    test = own.test or choose_test(
        "categorical", counts.reference, n_categories, options.small_sample
    )
    check_test(name, test, "categorical", n_categories)
    chi2 = z = None
    js = psi_value = None
    if counts.reference and counts.current:
        chi2 = chi2_counts(ref, cur)
        js, psi_value = js_distance(ref, cur), psi(ref, cur)
        if n_categories <= 2:
            both = ref + cur
            first = int(both.argmax())  # the proportion of the most frequent category
            z = z_test_proportions(
                int(ref[first]), counts.reference, int(cur[first]), counts.current
            )
    new = figures.new_categories
    new_rise = share_rise(
        new.reference_rows,
        counts.reference,
        new.rows,
        counts.current,
        threshold=options.new_category_threshold,
        alpha=options.alpha,
        min_rows=options.min_rows,
    )
    chosen = z if test == "z" else chi2
    statistic = {
        "chi2": None if chi2 is None else chi2.statistic,
        "z": None if z is None else z.statistic,
        "js": js,
        "psi": psi_value,
    }[test]
    return _verdict(
        name,
        "categorical",
        test,
        statistic,
        None if chosen is None else chosen.p_value,
        {"js": js, "psi": psi_value},
        own,
        options,
        counts,
        figures.approximate,
        chi2=chi2,
        z=z,
        psi=psi_value,
        js=js,
        new_categories=new,
        new_category_rise=new_rise,
    )


def _verdict(
    name: str,
    kind: ColumnKind,
    test: str,
    statistic: float | None,
    p_value: float | None,
    effects: Mapping[str, float | None],
    own: FeatureOptions,
    options: DriftOptions,
    counts: Counts,
    approximate: bool,
    **stats: Any,
) -> FeatureDrift:
    effect_name = EFFECTS[test]
    effect = effects[effect_name]
    threshold = own.threshold if own.threshold is not None else DEFAULT_THRESHOLDS[effect_name]
    reason = _reason(counts, options.min_rows)
    distribution = (
        reason is None
        and p_value is not None
        and effect is not None
        and p_value < options.alpha
        and effect >= threshold
    )
    missing = share_rise(
        counts.reference_missing,
        counts.reference_rows,
        counts.current_missing,
        counts.current_rows,
        threshold=options.missing_threshold,
        alpha=options.alpha,
        min_rows=options.min_rows,
    )
    new_rise: ShareRise | None = stats.pop("new_category_rise", None)
    reasons: list[DriftReason] = ["distribution"] if distribution else []
    if missing.drift:
        reasons.append("missing")
    if new_rise is not None and new_rise.drift:
        reasons.append("new_categories")
    return FeatureDrift(
        name=name,
        kind=kind,
        test=test,
        statistic=statistic,
        p_value=p_value,
        effect=effect,
        effect_name=effect_name,
        threshold=threshold,
        drift=bool(reasons),
        reason=reason,
        approximate=approximate,
        counts=counts,
        missing_rise=missing,
        new_category_rise=new_rise,
        drift_reasons=tuple(reasons),
        **stats,
    )


def _reason(counts: Counts, min_rows: int) -> str | None:
    for side, n in (("reference", counts.reference), ("current", counts.current)):
        if n == 0:
            return f"no values in the {side} data (all {side} rows are missing)"
    for side, n in (("reference", counts.reference), ("current", counts.current)):
        if n < min_rows:
            return f"too few values to judge: {n} in the {side} data, at least {min_rows} needed"
    return None


def _test_dict(result: Significance | None) -> dict[str, Any] | None:
    if result is None:
        return None
    out: dict[str, Any] = {"statistic": _num(result.statistic), "p_value": _num(result.p_value)}
    if result.dof is not None:
        out["dof"] = result.dof
    return out


def _num(value: float | None) -> float | None:
    """A JSON-safe float: ``None`` for missing, NaN or infinite values."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def percent(share: float) -> str:
    """A share as a percentage, for people: ``0.01`` is ``1 %``, ``0.333`` is ``33.3 %``.

    >>> percent(0.25), percent(0.005), percent(1.0)
    ('25 %', '0.5 %', '100 %')
    """
    return f"{share * 100:.3g} %"
