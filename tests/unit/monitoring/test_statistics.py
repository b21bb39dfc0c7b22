"""Every statistic equals its scipy counterpart to 1e-9 on the same inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from mlship.monitoring.quantile_cdf import QuantileCdf
from mlship.monitoring.statistics import (
    benjamini_hochberg,
    bin_counts_sorted,
    chi2_counts,
    fisher_rise,
    js_distance,
    ks_2samp_sorted,
    ks_wasserstein_sorted,
    kstwo_sf,
    normalised_wasserstein,
    psi,
    quantile_cuts,
    wasserstein_sorted,
    z_test_proportions,
)

TOL = {"rel": 1e-9, "abs": 1e-12}
NP_TOL = {"rtol": 1e-9, "atol": 1e-12}


def _samples(kind: str, n1: int, n2: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "normal":
        return rng.normal(size=n1), rng.normal(0.1, 1.2, n2)
    if kind == "ties":  # discrete values: many ties within and across samples
        return rng.integers(0, 7, n1).astype(float), rng.integers(1, 8, n2).astype(float)
    if kind == "disjoint":
        return rng.uniform(0, 1, n1), rng.uniform(2, 3, n2)
    return rng.lognormal(size=n1), rng.lognormal(0.2, 1.0, n2)


CASES = [
    (kind, n1, n2)
    for kind in ("normal", "ties", "disjoint", "lognormal")
    for n1, n2 in ((1, 1), (1, 40), (37, 53), (400, 400), (3000, 800), (20_000, 15_000))
]


@pytest.mark.parametrize(("kind", "n1", "n2"), CASES)
def test_ks_equals_scipy(kind: str, n1: int, n2: int) -> None:
    a, b = _samples(kind, n1, n2, seed=n1 + n2)
    ours = ks_2samp_sorted(np.sort(a), np.sort(b))
    theirs = stats.ks_2samp(a, b, method="auto")
    assert ours.statistic == pytest.approx(theirs.statistic, **TOL)
    assert ours.p_value == pytest.approx(theirs.pvalue, **TOL)


@pytest.mark.parametrize(("kind", "n1", "n2"), CASES)
def test_merge_statistics_equal_scipy(kind: str, n1: int, n2: int) -> None:
    """Check that the one-merge KS statistic and Wasserstein distance equal scipy's."""
    a, b = _samples(kind, n1, n2, seed=7 * n1 + n2)
    d, w = ks_wasserstein_sorted(np.sort(a), np.sort(b))
    assert d == pytest.approx(stats.ks_2samp(a, b).statistic, **TOL)
    assert w == pytest.approx(stats.wasserstein_distance(a, b), **TOL)
    assert wasserstein_sorted(np.sort(a), np.sort(b)) == w


def test_ks_asymptotic_p_value_equals_scipy_on_large_samples() -> None:
    """Check the large-sample path, including the branch where scipy sums Smirnov's series."""
    rng = np.random.default_rng(3)
    for shift in (0.0, 0.01, 0.03, 0.08, 0.5):
        a, b = rng.normal(size=30_000), rng.normal(shift, 1, 20_000)
        ours = ks_2samp_sorted(np.sort(a), np.sort(b))
        theirs = stats.ks_2samp(a, b, method="auto")
        assert ours.statistic == pytest.approx(theirs.statistic, **TOL)
        assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9, abs=1e-15)


def test_kstwo_sf_equals_scipy_across_its_branches() -> None:
    rng = np.random.default_rng(4)
    for _ in range(200):
        n = int(rng.integers(2, 40_000))
        d = float(np.sqrt(rng.uniform(0.01, 500) / n))
        if d >= 1:
            continue
        expected = float(stats.kstwo.sf(d, n))
        assert kstwo_sf(d, n) == pytest.approx(expected, rel=1e-9, abs=1e-15), (n, d)


def test_wasserstein_is_normalised_by_the_reference_std_with_a_floor() -> None:
    assert normalised_wasserstein(0.5, 2.0) == 0.25
    assert normalised_wasserstein(0.5, 0.0) == 500.0


@pytest.mark.parametrize("k", [1, 2, 3, 10])
def test_js_distance_equals_scipy(k: int) -> None:
    rng = np.random.default_rng(k)
    p, q = rng.integers(0, 50, k), rng.integers(0, 50, k)
    p[0] += 1
    q[-1] += 1
    expected = jensenshannon(p, q, base=2)
    assert js_distance(p, q) == pytest.approx(expected, **TOL)
    assert js_distance(np.array([3, 0]), np.array([0, 5])) == pytest.approx(1.0, **TOL)


@pytest.mark.parametrize(
    ("ref", "cur"),
    [
        ([10, 20, 30], [12, 18, 35]),  # dof 2
        ([40, 60], [55, 45]),  # dof 1: Yates' correction
        ([5, 0, 7, 1], [0, 9, 3, 2]),  # categories present on one side only
        ([1000, 3, 2], [990, 30, 0]),
    ],
)
def test_chi2_equals_scipy_chi2_contingency(ref: list[int], cur: list[int]) -> None:
    ours = chi2_counts(np.array(ref), np.array(cur))
    theirs = stats.chi2_contingency(np.array([ref, cur]))
    assert ours.statistic == pytest.approx(theirs.statistic, **TOL)
    assert ours.p_value == pytest.approx(theirs.pvalue, **TOL)
    assert ours.dof == theirs.dof


def test_chi2_drops_empty_categories_and_handles_one_category() -> None:
    with_empty = chi2_counts(np.array([10, 0, 20]), np.array([15, 0, 10]))
    without = stats.chi2_contingency(np.array([[10, 20], [15, 10]]))
    assert with_empty.statistic == pytest.approx(without.statistic, **TOL)
    single = chi2_counts(np.array([7]), np.array([9]))
    assert (single.statistic, single.p_value, single.dof) == (0.0, 1.0, 0)


def test_psi_by_hand() -> None:
    """PSI over shares, with 1e-4 in place of an empty share."""
    ref, cur = np.array([50, 30, 20, 0]), np.array([40, 30, 20, 10])
    p = np.array([0.5, 0.3, 0.2, 1e-4])
    q = np.array([0.4, 0.3, 0.2, 0.1])
    expected = float(np.sum((q - p) * np.log(q / p)))
    assert psi(ref, cur) == pytest.approx(expected, **TOL)
    assert psi(ref, ref) == 0.0


def test_z_test_by_hand() -> None:
    k1, n1, k2, n2 = 30, 100, 45, 120
    pooled = (k1 + k2) / (n1 + n2)
    z = (k1 / n1 - k2 / n2) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    result = z_test_proportions(k1, n1, k2, n2)
    assert result.statistic == pytest.approx(z, **TOL)
    assert result.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), **TOL)
    assert z_test_proportions(0, 10, 0, 20).p_value == 1.0


@pytest.mark.parametrize(
    ("k1", "n1", "k2", "n2"),
    [
        (100, 10_000, 2_500, 10_000),  # missing 1 % -> 25 %
        (100, 10_000, 200, 10_000),  # 1 % -> 2 %: significant, below the threshold
        (100, 10_000, 110, 10_000),  # noise
        (300, 10_000, 100, 10_000),  # a fall: p near 1
        (0, 250_000, 5_000, 250_000),  # a new category at 2 %
        (0, 250_000, 1_250, 250_000),  # at 0.5 %
        (0, 3_000, 1, 30),  # one new value in a 30-row window
        (3, 37, 9, 41),
        (12, 5_000_000, 40, 2_000_000),
    ],
)
def test_fisher_rise_equals_scipy_fisher_exact(k1: int, n1: int, k2: int, n2: int) -> None:
    """Check the one-sided p-value against scipy's Fisher test and a sum of hypergeometric
    probabilities, and the statistic against the rise of the share."""
    result = fisher_rise(k1, n1, k2, n2)
    table = [[k2, n2 - k2], [k1, n1 - k1]]
    expected = stats.fisher_exact(table, alternative="greater").pvalue
    assert result.p_value == pytest.approx(expected, **TOL)
    at_least = np.arange(k2, min(n2, k1 + k2) + 1)
    by_hand = stats.hypergeom.pmf(at_least, n1 + n2, k1 + k2, n2).sum()
    assert result.p_value == pytest.approx(min(by_hand, 1.0), rel=1e-7, abs=1e-12)
    assert result.statistic == pytest.approx(k2 / n2 - k1 / n1, **TOL)


def test_fisher_rise_of_a_table_with_an_empty_margin_is_one() -> None:
    assert fisher_rise(0, 100, 0, 100).p_value == 1.0  # nothing missing anywhere
    assert fisher_rise(100, 100, 50, 50).p_value == 1.0  # everything missing
    assert fisher_rise(0, 0, 5, 10).p_value == 1.0  # no reference
    assert stats.fisher_exact([[0, 100], [0, 100]], alternative="greater").pvalue == 1.0


def test_benjamini_hochberg_equals_scipy_and_a_hand_computation() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.5])
    # Sorted: 0.005, 0.01, 0.03, 0.04, 0.5 -> times 5/rank: 0.025, 0.025, 0.05, 0.05, 0.5
    assert benjamini_hochberg(p).tolist() == pytest.approx([0.025, 0.05, 0.05, 0.025, 0.5])
    rng = np.random.default_rng(0)
    many = rng.uniform(size=40) ** 3
    expected = stats.false_discovery_control(many, method="bh")
    np.testing.assert_allclose(benjamini_hochberg(many), expected, **NP_TOL)
    assert benjamini_hochberg(np.array([])).tolist() == []


def test_quantile_bins_match_numpy_quantiles_and_count_every_value() -> None:
    rng = np.random.default_rng(5)
    values = np.sort(rng.normal(size=1001))
    cuts = quantile_cuts(values, 10)
    np.testing.assert_allclose(cuts, np.quantile(values, np.arange(1, 10) / 10), **NP_TOL)
    outside = np.sort(np.concatenate((values, [-100.0, 100.0])))
    counts = bin_counts_sorted(outside, cuts)
    assert counts.sum() == len(outside) and len(counts) == 10
    assert counts.tolist() == np.bincount(np.searchsorted(cuts, outside, "right")).tolist()


def test_quantile_cdf_equals_the_empirical_cdf_at_its_knots() -> None:
    cdf = QuantileCdf(np.array([0.0, 1.0, 1.0, 3.0]), np.array([0.0, 0.25, 0.75, 1.0]))
    x = np.array([-1.0, 0.5, 1.0, 2.0, 3.0, 4.0])
    assert cdf.at(x).tolist() == [0.0, 0.125, 0.75, 0.875, 1.0, 1.0]
    assert cdf.at(x, side="left").tolist() == [0.0, 0.125, 0.25, 0.875, 1.0, 1.0]
