"""Is a difference real? Tests, intervals, power and seed advice, each a small pure function.

Seeds are the unit of replication: a study's accuracy is the mean over its seeds. Two studies are compared
with Welch's t-test over seeds (``difference_of_means``: machines and stacks may differ in spread) and,
over the seeds they share, with a paired t-test on the per-seed differences (``paired_difference``).
McNemar's exact test (``mcnemar_from_counts``) asks something narrower: do two *trained models* (one
seed each) differ on this test set. Pooling its discordant images over seeds is not a study-level test,
because it ignores how much whole runs move: simulating two studies of one recipe (10,000 images, seed
std 0.32 points) the pooled exact test called them different 10-12 % of the time at 0.05, while Welch and
the paired t, Holm-adjusted, did so 2-4 % of the time (tests/test_compare_calibration.py).
A speed ratio (``ratio_of_geometric_means``) is the ratio of geometric means over seeds with a Welch
t-interval on the logs (Hsu's conservative df); it is measured only when that interval excludes 1.

The t-tests take arrays with seeds on the last axis and any leading axes, so one call can test thousands
of simulated studies; that is how the calibration tests drive this exact code.

Spread below half the data's resolution (one test image in 10,000 is 1e-4 of accuracy) counts as none: a
float mean of identical values is not always exactly that value, and ``== 0`` then reads round-off as
spread (p = 0.0498 for two studies that both scored 0.8851 on every seed). Without spread, means at most
one test image apart get p = 1, not 0: one image is the data's resolution, and another machine's numerics
flip single borderline images; three identical seeds a study 1 image apart were called p = 0 and shaded
(issue 17). Further apart, a difference without spread is exact: p = 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import integrate, special
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestIndPower

CONFIDENCE = 0.95
POWER = 0.80
ALPHA = 0.05
RESOLUTION = 1e-4  # one test image of 10,000, as a fraction of accuracy
NO_SPREAD = RESOLUTION / 2  # a per-seed std below this is round-off, not spread
SEEDS_LIMIT = 10_000  # the seeds advisor stops counting here


def sum_of_squares(values: np.ndarray) -> np.ndarray:
    """Squared deviations from the mean along the last axis; 0 where the std is below ``NO_SPREAD``."""
    values = np.asarray(values, dtype=float)
    n = values.shape[-1]
    ss = np.sum((values - values.mean(axis=-1, keepdims=True)) ** 2, axis=-1)
    return np.where(ss < NO_SPREAD**2 * max(n - 1, 1), 0.0, ss)


@dataclass(frozen=True)
class TTest:
    """A t statistic's parts: difference (b - a), its standard error and degrees of freedom (arrays);
    ``resolution``: one test image as a share of accuracy (1 / n_test)."""

    difference: np.ndarray
    se: np.ndarray
    df: np.ndarray
    resolution: float = RESOLUTION

    @property
    def within_one_image(self) -> np.ndarray:
        return np.abs(self.difference) <= self.resolution * (1 + 1e-6)

    @property
    def p_value(self) -> np.ndarray:
        """Two-sided. Without spread: 1 when the means are at most one test image apart, else 0 (exact)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            p = 2 * scipy_stats.t.sf(np.abs(self.difference) / self.se, self.df)
        return np.where(self.se > 0, np.minimum(p, 1.0), np.where(self.within_one_image, 1.0, 0.0))

    def half_width(self, confidence: float = CONFIDENCE) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.where(self.se > 0, scipy_stats.t.ppf(0.5 + confidence / 2, self.df) * self.se, 0.0)


def welch(a, b) -> TTest:
    """Welch's t for mean(b) - mean(a), seeds on the last axis; needs 2 seeds a side."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    na, nb = a.shape[-1], b.shape[-1]
    va, vb = sum_of_squares(a) / (na - 1) / na, sum_of_squares(b) / (nb - 1) / nb
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    df = np.where(va + vb > 0, df, na + nb - 2)
    return TTest(b.mean(axis=-1) - a.mean(axis=-1), np.sqrt(va + vb), df)


def paired(a, b) -> TTest:
    """Paired t over per-seed differences b - a (the same seeds, in the same order, on the last axis)."""
    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    n = d.shape[-1]
    return TTest(d.mean(axis=-1), np.sqrt(sum_of_squares(d) / (n - 1) / n), np.full(d.shape[:-1], n - 1.0))


def pooled(a, b) -> TTest:
    """Student's t with one spread pooled over both sides (``n_a + n_b - 2`` df; 0 df if one seed each)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    na, nb = a.shape[-1], b.shape[-1]
    df = na + nb - 2
    variance = (sum_of_squares(a) + sum_of_squares(b)) / df if df > 0 else np.zeros(a.shape[:-1])
    return TTest(b.mean(axis=-1) - a.mean(axis=-1), np.sqrt(variance * (1 / na + 1 / nb)),
                 np.full(a.shape[:-1], float(df)))


def upper_quantile(alpha: float, df) -> np.ndarray:
    """t_{1 - alpha, df}: how many standard errors noise alone exceeds with chance alpha (one-sided)."""
    return scipy_stats.t.isf(alpha, df)


@dataclass(frozen=True)
class Difference:
    """B minus A: the difference of means, its two-sided CI and p-value (None where undefined).

    ``p_adjusted`` is the p-value after Holm's correction over every p-value of its report.
    """

    difference: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    df: float | None
    note: str = ""
    p_adjusted: float | None = None


NO_SPREAD_NOTES = ("no spread over seeds: the difference is exact",
                   "no spread over seeds: at most one test image apart, the data's resolution, so p = 1")


def _difference(test: TTest, confidence: float, resolution: float = RESOLUTION) -> Difference:
    test = replace(test, resolution=resolution)
    diff, se, df = float(test.difference), float(test.se), float(test.df)
    half = float(test.half_width(confidence))
    note = "" if se > 0 else NO_SPREAD_NOTES[bool(abs(diff) >= NO_SPREAD and test.within_one_image)]
    return Difference(diff, diff - half, diff + half, float(test.p_value), df, note)


def difference_of_means(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE,
                        resolution: float = RESOLUTION) -> Difference:
    """mean(b) - mean(a) with a Welch t-interval and two-sided Welch p-value; ``resolution``: one test image."""
    if not a or not b:
        raise ValueError("difference_of_means needs at least one value on each side")
    if len(a) < 2 or len(b) < 2:
        return Difference(math.fsum(b) / len(b) - math.fsum(a) / len(a), None, None, None, None,
                          "needs at least 2 seeds in each study")
    return _difference(welch(a, b), confidence, resolution)


def paired_difference(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE,
                      resolution: float = RESOLUTION) -> Difference | None:
    """Mean per-seed difference b - a over shared seeds (aligned lists), paired t; None below 2 pairs."""
    if len(a) != len(b):
        raise ValueError(f"paired values differ in number ({len(a)} vs {len(b)})")
    return _difference(paired(a, b), confidence, resolution) if len(a) >= 2 else None


@dataclass(frozen=True)
class Ratio:
    """B over A of a positive measure (seconds per epoch, images per second): the ratio of the geometric
    means over seeds and its two-sided confidence interval (None below 2 seeds a side)."""

    ratio: float
    ci_low: float | None
    ci_high: float | None

    @property
    def measurable(self) -> bool:
        """The interval excludes 1. Without an interval nothing is measured: one seed a side says nothing of
        how much a timing moves with the machine's load."""
        return self.ci_low is not None and self.ci_high is not None and (self.ci_low > 1 or self.ci_high < 1)


def ratio_of_geometric_means(a: Sequence[float], b: Sequence[float],
                             confidence: float = CONFIDENCE) -> Ratio | None:
    """exp(mean log b - mean log a), and exp of a Welch t-interval of that difference over seeds.

    Logs because timings are positive and their noise multiplies (a loaded machine is some factor slower),
    so the log of a timing is nearer normal and a ratio's interval is symmetric in log space: x 2 and x 0.5
    are equally far from 1. Welch's standard error because two machines' timings need not spread alike, with
    Hsu's conservative df, min(n_a, n_b) - 1, instead of Welch-Satterthwaite's: with 2 seeds against 10
    from one log-normal, Satterthwaite's interval held 1 only 89-90 % of the time, so load noise would read
    as a speed difference; Hsu's holds it at least 95 % of the time for any spreads (tests/test_compare_speed.py).
    A log spread below ``NO_SPREAD`` (0.005 % of the timing) counts as none, as ``welch`` does. None without
    a positive, finite value on each side (an estimator has no epochs).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not a.size or not b.size or not (np.all(np.isfinite(a) & (a > 0)) and np.all(np.isfinite(b) & (b > 0))):
        return None
    log_a, log_b = np.log(a), np.log(b)
    ratio = math.exp(float(log_b.mean() - log_a.mean()))
    if a.size < 2 or b.size < 2:
        return Ratio(ratio, None, None)
    test = replace(welch(log_a, log_b), df=np.asarray(min(a.size, b.size) - 1.0))
    difference, half = float(test.difference), float(test.half_width(confidence))
    return Ratio(ratio, math.exp(difference - half), math.exp(difference + half))


def leave_one_out(reference, new) -> tuple[np.ndarray, np.ndarray, int]:
    """For each new seed: mean and std of every *other* seed of the model, reference and new alike.

    Under "nothing changed" all seeds are alike, so a new seed minus the mean of the N - 1 others, over
    that std times sqrt(1 + 1/(N - 1)), is Student-t with N - 2 df (a prediction interval). Returns
    (means, stds) shaped like ``new`` and the df.
    """
    reference, new = np.asarray(reference, dtype=float), np.asarray(new, dtype=float)
    values = np.concatenate([reference, new], axis=-1)
    n = values.shape[-1]
    center = values.mean(axis=-1, keepdims=True)  # centred first: sums of squares of 0.75s lose digits
    x, y = values - center, new - center
    others = x.sum(axis=-1, keepdims=True) - y
    squares = (x**2).sum(axis=-1, keepdims=True) - y**2
    ss = np.maximum(squares - others**2 / (n - 1), 0.0)
    ss = np.where(ss < NO_SPREAD**2 * max(n - 2, 1), 0.0, ss)
    return others / (n - 1) + center, np.sqrt(ss / max(n - 2, 1)), n - 2


@dataclass(frozen=True)
class McNemar:
    """Two trained models (one seed each) on the same images: ``only_a`` right only for A, ``only_b`` only for B."""

    seed: int
    only_a: int
    only_b: int
    n_images: int
    p_value: float
    p_adjusted: float | None = None


def mcnemar_from_counts(only_a: int, only_b: int) -> float:
    """Exact (binomial) two-sided McNemar p-value. Not mid-p: its real size is 5.6-6.5 % at a nominal 5 %."""
    discordant = only_a + only_b
    if discordant == 0:
        return 1.0
    return min(1.0, 2 * float(scipy_stats.binom.cdf(min(only_a, only_b), discordant, 0.5)))


def mcnemar(seed: int, correct_a: np.ndarray, correct_b: np.ndarray) -> McNemar:
    """McNemar for one shared seed: per-image correctness (booleans) of A's and B's model of that seed."""
    only_a, only_b = int(np.sum(correct_a & ~correct_b)), int(np.sum(~correct_a & correct_b))
    return McNemar(seed, only_a, only_b, len(correct_a), mcnemar_from_counts(only_a, only_b))


def churn(predicted_a: Sequence[int], predicted_b: Sequence[int]) -> float:
    """Fraction of test images whose predicted class differs between two runs on the same test set."""
    a, b = np.asarray(predicted_a), np.asarray(predicted_b)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"predictions differ in length ({a.size} vs {b.size}); not the same test set")
    return float(np.mean(a != b))


def holm(p_values: Sequence[float], alpha: float = ALPHA) -> list[float]:
    """Holm's step-down adjusted p-values (statsmodels): family-wise error at most ``alpha`` when < alpha."""
    if not p_values:
        return []
    return [float(p) for p in multipletests(list(p_values), alpha=alpha, method="holm")[1]]


def drop_power(drop: float, std: float, n_ref: int, n_new: int, alpha: float | None, floor: float) -> float:
    """Chance that the gate fails a true drop ``drop`` if the seed std is ``std`` (normal seeds).

    The gate fails when mean(ref) - mean(new) > max(floor, t_{1-alpha} * s * c), s the std pooled over
    both sides (df = n_ref + n_new - 2), c = sqrt(1/n_ref + 1/n_new); ``alpha`` None: ``floor`` alone.
    Exact: an integral over the observed drop x of P(t * s * c < x), a chi-square probability.
    """
    c, df = math.sqrt(1 / n_ref + 1 / n_new), n_ref + n_new - 2
    sd = std * c
    if std < NO_SPREAD:
        return 1.0 if drop > floor else 0.0
    if alpha is None or df == 0:
        return float(scipy_stats.norm.sf((floor - drop) / sd))
    scale = float(upper_quantile(alpha, df)) * sd

    def density(x: float) -> float:  # scipy.special, not scipy.stats: quad calls it a few hundred times
        return math.exp(-0.5 * ((x - drop) / sd) ** 2) / (sd * math.sqrt(2 * math.pi)) * special.chdtr(
            df, df * (x / scale) ** 2)

    low = max(floor, 0.0)
    return float(integrate.quad(density, low, max(low, drop) + 12 * sd, limit=200)[0])


def welch_power(n: int, std: float, difference: float, alpha: float = ALPHA) -> float:
    """Power of compare's two-sided Welch test with n seeds a study and the same seed std in both.

    With equal n and std the two sample variances split into their sum (which makes the statistic a
    noncentral t with 2n - 2 df) and their share R ~ Beta((n-1)/2, (n-1)/2), which alone sets Welch's
    df; so the power is a 1-D average over R (Gauss-Jacobi), exact up to quadrature. Past 100 seeds
    Welch's df is 2n - 2 to the digits shown and Student's power (statsmodels) is used.
    """
    if n > 100:
        return float(TTestIndPower().power(difference / std, n, alpha, ratio=1.0, alternative="two-sided"))
    shape = (n - 1) / 2 - 1
    x, w = special.roots_jacobi(32, shape, shape)
    share = (1 + x) / 2
    quantile = upper_quantile(alpha / 2, (n - 1) / (share**2 + (1 - share) ** 2))
    shift = difference / (std * math.sqrt(2 / n))
    # Lower tail as the upper tail of -T: scipy's nct.cdf returns NaN far in the tail (shift 40, df 60).
    reject = scipy_stats.nct.sf(quantile, 2 * n - 2, shift) + scipy_stats.nct.sf(quantile, 2 * n - 2, -shift)
    return float(np.sum(w * reject) / np.sum(w))


def seeds_needed(std: float, difference: float, power: float = POWER, alpha: float = ALPHA,
                 limit: int = SEEDS_LIMIT) -> int | None:
    """Seeds per study for compare's Welch test to detect ``difference`` at ``power``; None beyond ``limit``."""
    if difference <= 0:
        raise ValueError("the difference to detect must be positive")
    if std < NO_SPREAD:
        return 2
    z = float(scipy_stats.norm.isf(alpha / 2) + scipy_stats.norm.ppf(power))
    n = max(2, math.ceil(2 * (z * std / difference) ** 2))  # the normal approximation: a lower bound
    while n <= limit:
        if welch_power(n, std, difference, alpha) >= power:
            return n
        n += 1
    return None


def std_interval(std, df, confidence: float = 0.80) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided chi-square confidence interval of a normal std estimated with ``df`` degrees of freedom."""
    low = std * np.sqrt(df / scipy_stats.chi2.isf((1 - confidence) / 2, df))
    high = std * np.sqrt(df / scipy_stats.chi2.ppf((1 - confidence) / 2, df))
    return low, high


@dataclass(frozen=True)
class SeedAdvice:
    """Seeds per study to detect ``difference``: at the measured std, and at the ends of its 80 % interval."""

    std: float
    std_low: float
    std_high: float
    df: int
    seeds: int | None
    seeds_low: int | None
    seeds_high: int | None
    alpha: float


def seed_advice(a: Sequence[float], b: Sequence[float], difference: float, alpha: float = ALPHA,
                confidence: float = 0.80) -> SeedAdvice | None:
    """How many seeds compare's Welch test needs, and how unsure that is; None without any spread estimate.

    The std is pooled over both studies (the advice assumes they spread alike). From 2 + 2 seeds it has
    2 df and its 80 % interval spans 0.66-3.1 times the estimate, so the seeds range spans about 20-fold.
    """
    df = len(a) + len(b) - 2
    if df < 1 or min(len(a), len(b)) < 1:
        return None
    std = math.sqrt(float(sum_of_squares(np.asarray(a)) + sum_of_squares(np.asarray(b))) / df)
    low, high = (float(v) for v in std_interval(std, df, confidence))
    seeds = [seeds_needed(s, difference, alpha=alpha) for s in (std, low, high)]
    return SeedAdvice(std, low, high, df, *seeds, alpha)
