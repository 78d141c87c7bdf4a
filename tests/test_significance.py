"""Significance tests, intervals and power against scipy and textbook values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bench.analysis import significance as sig


def test_difference_of_means_matches_scipy_welch():
    a, b = [0.791, 0.750, 0.786, 0.760], [0.801, 0.779, 0.795]
    result = sig.difference_of_means(a, b)
    expected = scipy_stats.ttest_ind(b, a, equal_var=False)
    assert result.difference == pytest.approx(np.mean(b) - np.mean(a))
    assert result.p_value == pytest.approx(expected.pvalue)
    assert result.ci_low < result.difference < result.ci_high
    interval = expected.confidence_interval(0.95)
    assert (result.ci_low, result.ci_high) == pytest.approx((interval.low, interval.high))


def test_same_values_give_zero_difference_and_p_one():
    values = [0.77, 0.75, 0.79]
    result = sig.difference_of_means(values, values)
    assert result.difference == 0
    assert result.p_value == 1.0


def test_one_seed_leaves_p_and_interval_undefined_with_a_reason():
    result = sig.difference_of_means([0.77, 0.75], [0.78])
    assert result.difference == pytest.approx(0.02)
    assert result.p_value is None and result.ci_low is None
    assert result.note == "needs at least 2 seeds in each study"


def test_no_spread_is_decided_by_the_means_alone():
    assert sig.difference_of_means([0.8, 0.8], [0.8, 0.8]).p_value == 1.0
    assert sig.difference_of_means([0.8, 0.8], [0.7, 0.7]).p_value == 0.0


def test_mcnemar_exact_matches_the_binomial_test():
    result = sig.mcnemar_from_counts(10, 3, 100)
    assert result.p_exact == pytest.approx(scipy_stats.binomtest(3, 13, 0.5).pvalue)
    mid = 2 * scipy_stats.binom.cdf(3, 13, 0.5) - scipy_stats.binom.pmf(3, 13, 0.5)
    assert result.p_mid == pytest.approx(mid)
    assert result.p_mid < result.p_exact


def test_mcnemar_without_disagreement_or_balanced_is_one():
    assert sig.mcnemar_from_counts(0, 0, 50).p_exact == 1.0
    balanced = sig.mcnemar_from_counts(7, 7, 50)
    assert (balanced.p_exact, balanced.p_mid) == (1.0, pytest.approx(1.0))


def test_mcnemar_pools_discordant_images_over_seeds():
    a1, b1 = np.array([True, True, False, False]), np.array([True, False, False, True])
    a2, b2 = np.array([True, True, True]), np.array([False, False, True])
    result = sig.mcnemar([(a1, b1), (a2, b2)])
    assert (result.only_a, result.only_b, result.n_images) == (3, 1, 7)


def test_churn_counts_changed_predictions():
    assert sig.churn([1, 2, 3, 4], [1, 2, 0, 0]) == 0.5
    assert sig.churn([1, 2, 3], [1, 2, 3]) == 0.0
    with pytest.raises(ValueError, match="not the same test set"):
        sig.churn([1, 2], [1, 2, 3])


def test_seeds_needed_matches_the_textbook_and_reaches_the_power():
    # Cohen: effect size 1 needs 17 per group for 80 % power at alpha 0.05 (two-sided t-test).
    assert sig.seeds_needed(1.0, 1.0) == 17
    n = sig.seeds_needed(0.03, 0.005)
    assert sig.t_test_power(n, 0.03, 0.005) >= 0.8 > sig.t_test_power(n - 1, 0.03, 0.005)
    assert sig.seeds_needed(0.0, 0.005) == 2
    assert sig.seeds_needed(1.0, 1e-4, limit=1000) is None
    with pytest.raises(ValueError):
        sig.seeds_needed(0.01, 0)


def test_margins_follow_their_formulas():
    a, b = [0.70, 0.72, 0.74], [0.71, 0.75]
    se = math.sqrt(np.var(a, ddof=1) / 3 + np.var(b, ddof=1) / 2)
    _, df = sig.welch_parts(a, b)
    assert sig.welch_margin(a, b, 0.99) == pytest.approx(scipy_stats.t.ppf(0.99, df) * se)
    assert sig.welch_margin([0.7], b) is None
    std, dof = sig.pooled_spread([[0.70, 0.72], [0.75, 0.79], [0.5]])
    expected = math.sqrt((np.var([0.70, 0.72], ddof=1) + np.var([0.75, 0.79], ddof=1)) / 2)
    assert dof == 2 and std == pytest.approx(expected)
    assert sig.unpaired_margin(std, dof, 2, 3, 0.99) == pytest.approx(
        scipy_stats.t.ppf(0.99, 2) * std * math.sqrt(1 / 2 + 1 / 3))
    assert sig.pooled_spread([[0.7], [0.8]]) is None


def test_pooled_std_uses_the_sides_that_have_spread():
    assert sig.pooled_std([0.7, 0.8], [0.5]) == pytest.approx(np.std([0.7, 0.8], ddof=1))
    assert sig.pooled_std([0.7], [0.5]) is None
