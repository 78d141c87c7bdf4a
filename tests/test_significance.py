"""Significance tests, intervals and power against scipy and textbook values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.power import TTestIndPower

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


def test_round_off_is_not_spread():
    """Issue 9, point 5: a float mean of identical values is not always that value; the old ``se == 0``
    read the round-off as spread and gave p = 0.0498 with an interval of (1e-19, 2e-16)."""
    result = sig.difference_of_means([0.8851] * 3, [0.8851] * 7)
    assert result.p_value == 1.0
    assert result.note == "no spread over seeds: the difference is exact"
    assert abs(result.ci_low) < 1e-12 and abs(result.ci_high) < 1e-12
    # Spread of a third of one test image (of 10,000) is round-off too; one image's worth is not.
    assert sig.difference_of_means([0.8851, 0.88513], [0.8851, 0.8851]).p_value == 1.0
    assert sig.difference_of_means([0.8851, 0.8852], [0.8851, 0.8851]).note == ""


def test_no_spread_one_image_apart_is_not_called_a_difference():
    """Issue 17: three identical seeds a study, 1 image apart, got p = 0 and compare shaded the row. One image
    is the data's resolution (another machine's numerics flip single borderline images): p = 1 now; two
    images apart without spread stay an exact difference."""
    from bench.analysis.compare import Versus, adjust

    for a, b in (([0.8500] * 3, [0.8501] * 3), ([0.8501] * 3, [0.8500] * 3)):
        welch, paired = sig.difference_of_means(a, b), sig.paired_difference(a, b)
        assert welch.p_value == paired.p_value == 1.0
        assert welch.note == paired.note == ("no spread over seeds: at most one test image apart, the data's "
                                             "resolution, so p = 1")
        row = Versus("m", "B vs A", tuple(a), tuple(b), welch, paired, [], None, "", None, None)
        assert not adjust([row])[0].significant
    two = sig.difference_of_means([0.8500] * 3, [0.8502] * 3)
    assert two.p_value == 0.0 and two.note == "no spread over seeds: the difference is exact"
    # compare passes one image of the studies' own test set: 1/1,000 for the committed tiny studies
    assert sig.difference_of_means([0.850] * 3, [0.851] * 3, resolution=1e-3).p_value == 1.0
    assert sig.difference_of_means([0.850] * 3, [0.852] * 3, resolution=1e-3).p_value == 0.0


def test_paired_difference_matches_scipy():
    a, b = [0.70, 0.72, 0.75, 0.71], [0.71, 0.74, 0.74, 0.73]
    result = sig.paired_difference(a, b)
    expected = scipy_stats.ttest_rel(b, a)
    assert result.p_value == pytest.approx(expected.pvalue)
    interval = expected.confidence_interval(0.95)
    assert (result.ci_low, result.ci_high) == pytest.approx((interval.low, interval.high))
    assert sig.paired_difference([0.7], [0.8]) is None


def test_mcnemar_is_exact_and_per_seed():
    assert sig.mcnemar_from_counts(10, 3) == pytest.approx(scipy_stats.binomtest(3, 13, 0.5).pvalue)
    assert sig.mcnemar_from_counts(0, 0) == 1.0 and sig.mcnemar_from_counts(7, 7) == 1.0
    a, b = np.array([True, True, False, False]), np.array([True, False, False, True])
    result = sig.mcnemar(3, a, b)
    assert (result.seed, result.only_a, result.only_b, result.n_images) == (3, 1, 1, 4)


def test_churn_counts_changed_predictions():
    assert sig.churn([1, 2, 3, 4], [1, 2, 0, 0]) == 0.5
    assert sig.churn([1, 2, 3], [1, 2, 3]) == 0.0
    with pytest.raises(ValueError, match="not the same test set"):
        sig.churn([1, 2], [1, 2, 3])


def test_holm_is_statsmodels_holm():
    p = [0.01, 0.04, 0.03, 0.2]
    assert sig.holm(p) == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert sig.holm([]) == []


def test_gate_power_is_the_noncentral_t_and_the_floor_only_lowers_it():
    for n_ref, n_new in [(2, 2), (3, 5), (2, 10)]:
        expected = TTestIndPower().power(0.01 / 0.003, n_ref, 0.002, ratio=n_new / n_ref, alternative="larger")
        assert sig.drop_power(0.01, 0.003, n_ref, n_new, 0.002, 0.0) == pytest.approx(expected, abs=1e-6)
        assert sig.drop_power(0.01, 0.003, n_ref, n_new, 0.002, 0.005) <= expected
    assert sig.drop_power(0.01, 0.0, 2, 2, 0.002, 0.005) == 1.0
    assert sig.drop_power(0.004, 0.0, 2, 2, 0.002, 0.005) == 0.0


def test_welch_power_matches_simulated_welch_tests():
    rng = np.random.default_rng(9)
    for n, alpha in [(2, 0.05), (3, 0.05), (7, 0.0125)]:
        a, b = rng.normal(0, 0.003, (100_000, n)), rng.normal(0.005, 0.003, (100_000, n))
        simulated = np.mean(sig.welch(a, b).p_value < alpha)
        assert sig.welch_power(n, 0.003, 0.005, alpha) == pytest.approx(simulated, abs=0.006)
    # Past 100 seeds it is Student's power, which Welch's equals there.
    assert sig.welch_power(150, 0.01, 0.003) == pytest.approx(
        TTestIndPower().power(0.3, 150, 0.05, alternative="two-sided"))


def test_seeds_needed_is_sized_for_welch_and_reaches_the_power():
    # A true std of 0.3 points and half a point to detect at 0.05: 7 seeds a study (issue 9, point 6).
    assert sig.seeds_needed(0.003, 0.005) == 7
    n = sig.seeds_needed(0.03, 0.005)
    assert sig.welch_power(n, 0.03, 0.005) >= 0.8 > sig.welch_power(n - 1, 0.03, 0.005)
    assert sig.seeds_needed(0.0, 0.005) == 2
    assert sig.seeds_needed(1.0, 1e-4, limit=1000) is None
    with pytest.raises(ValueError):
        sig.seeds_needed(0.01, 0)


def test_seed_advice_gives_a_range_from_the_std_interval():
    advice = sig.seed_advice([0.7548, 0.7508], [0.7560, 0.7530], 0.005)
    assert advice.df == 2 and advice.std_low < advice.std < advice.std_high
    low, high = sig.std_interval(advice.std, 2)
    assert (advice.std_low, advice.std_high) == pytest.approx((float(low), float(high)))
    assert advice.seeds_low <= advice.seeds <= advice.seeds_high
    assert advice.seeds == sig.seeds_needed(advice.std, 0.005)
    assert sig.seed_advice([0.75], [0.76], 0.005) is None


def test_leave_one_out_is_the_mean_and_std_of_the_others():
    ref, new = np.array([0.75, 0.76, 0.74]), np.array([0.70, 0.755])
    means, stds, df = sig.leave_one_out(ref, new)
    assert df == 3
    for i in range(len(new)):
        others = np.concatenate([ref, np.delete(new, i)])
        assert (means[i], stds[i]) == pytest.approx((others.mean(), others.std(ddof=1)))
