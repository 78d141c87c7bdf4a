"""Is a difference between two studies real? Tests, intervals and power, each a small pure function.

Seeds are the unit of replication: a study's accuracy is the mean over its seeds, two studies are
compared with Welch's t-test (no equal-variance assumption, since machines and stacks may differ in
spread). When two studies share seeds and the test set, their predictions can also be paired image by
image (McNemar's test) and compared seed by seed (a paired t-interval), which is far more sensitive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

CONFIDENCE = 0.95
POWER = 0.80
ALPHA = 0.05


@dataclass(frozen=True)
class Difference:
    """B minus A: the difference of means, its two-sided CI and Welch's p-value (None where undefined)."""

    difference: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    df: float | None
    note: str = ""


@dataclass(frozen=True)
class McNemar:
    """Per-image correctness of two classifiers on the same images, pooled over shared seeds.

    ``only_a`` counts images A got right and B wrong; ``only_b`` the reverse.
    """

    only_a: int
    only_b: int
    n_images: int
    p_exact: float
    p_mid: float


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def _variance(values: Sequence[float]) -> float:
    mean = _mean(values)
    return math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)


def welch_parts(a: Sequence[float], b: Sequence[float]) -> tuple[float, float] | None:
    """Standard error of mean(b) - mean(a) and its Welch-Satterthwaite df; None below 2 seeds a side."""
    if len(a) < 2 or len(b) < 2:
        return None
    va, vb = _variance(a) / len(a), _variance(b) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return 0.0, float(len(a) + len(b) - 2)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return se, df


def difference_of_means(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> Difference:
    """mean(b) - mean(a) with a Welch t-interval and two-sided Welch p-value."""
    if not a or not b:
        raise ValueError("difference_of_means needs at least one value on each side")
    diff = _mean(b) - _mean(a)
    parts = welch_parts(a, b)
    if parts is None:
        return Difference(diff, None, None, None, None, "needs at least 2 seeds in each study")
    se, df = parts
    if se == 0:
        # Both sides without spread: identical means are indistinguishable, different ones are not noise.
        return Difference(diff, diff, diff, 1.0 if diff == 0 else 0.0, df, "no spread over seeds")
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, df)) * se
    p_value = float(2 * scipy_stats.t.sf(abs(diff) / se, df))
    return Difference(diff, diff - half, diff + half, min(1.0, p_value), df)


def one_sided_margin(se: float, df: float, confidence: float = CONFIDENCE) -> float:
    """How far a mean difference can fall below zero by noise alone: t_{confidence, df} * se."""
    return float(scipy_stats.t.ppf(confidence, df)) * se if se > 0 else 0.0


def welch_margin(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> float | None:
    """One-sided noise margin of mean(b) - mean(a) for independent seeds; None below 2 seeds a side."""
    parts = welch_parts(a, b)
    return None if parts is None else one_sided_margin(*parts, confidence)


def mcnemar_from_counts(only_a: int, only_b: int, n_images: int) -> McNemar:
    """Exact (binomial) two-sided McNemar test and its mid-p variant, which is less conservative."""
    discordant = only_a + only_b
    if discordant == 0:
        return McNemar(only_a, only_b, n_images, 1.0, 1.0)
    k = min(only_a, only_b)
    tail = float(scipy_stats.binom.cdf(k, discordant, 0.5))
    at_k = float(scipy_stats.binom.pmf(k, discordant, 0.5))
    return McNemar(only_a, only_b, n_images, min(1.0, 2 * tail), min(1.0, 2 * tail - at_k))


def mcnemar(pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> McNemar:
    """McNemar over (correct_a, correct_b) boolean arrays, one pair per shared seed, counts pooled."""
    only_a = sum(int(np.sum(a & ~b)) for a, b in pairs)
    only_b = sum(int(np.sum(~a & b)) for a, b in pairs)
    return mcnemar_from_counts(only_a, only_b, sum(len(a) for a, _ in pairs))


def churn(predicted_a: Sequence[int], predicted_b: Sequence[int]) -> float:
    """Fraction of test images whose predicted class differs between two runs on the same test set."""
    a, b = np.asarray(predicted_a), np.asarray(predicted_b)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"predictions differ in length ({a.size} vs {b.size}); not the same test set")
    return float(np.mean(a != b))


def t_test_power(n: int, std: float, difference: float, alpha: float = ALPHA) -> float:
    """Power of a two-sided two-sample t-test with n seeds per study (noncentral t)."""
    df = 2 * n - 2
    noncentrality = difference / (std * math.sqrt(2 / n))
    critical = float(scipy_stats.t.ppf(1 - alpha / 2, df))
    return float(scipy_stats.nct.sf(critical, df, noncentrality) + scipy_stats.nct.cdf(-critical, df, noncentrality))


def seeds_needed(std: float, difference: float, power: float = POWER, alpha: float = ALPHA,
                 limit: int = 100_000) -> int | None:
    """Seeds per study to detect ``difference`` at ``power``, given a per-seed std; None beyond ``limit``."""
    if difference <= 0:
        raise ValueError("the difference to detect must be positive")
    if std <= 0:
        return 2
    z = float(scipy_stats.norm.ppf(1 - alpha / 2) + scipy_stats.norm.ppf(power))
    n = max(2, math.ceil(2 * (z * std / difference) ** 2))  # normal approximation: a lower bound
    while n <= limit:
        if t_test_power(n, std, difference, alpha) >= power:
            return n
        n += 1
    return None


def pooled_spread(groups: Sequence[Sequence[float]]) -> tuple[float, int] | None:
    """Pooled per-seed std of several groups (each about its own mean) and its degrees of freedom.

    None when no group has two values. Pooling buys degrees of freedom: with two seeds a study, one
    group alone gives a t-quantile of 31.8 at 99 %, four pooled groups 3.7.
    """
    parts = [(len(g) - 1, _variance(g)) for g in groups if len(g) >= 2]
    dof = sum(d for d, _ in parts)
    if dof == 0:
        return None
    return math.sqrt(sum(d * v for d, v in parts) / dof), dof


def pooled_std(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Pooled per-seed std of two studies (from whichever sides have 2+ seeds); None if neither has."""
    spread = pooled_spread([a, b])
    return None if spread is None else spread[0]


def unpaired_margin(std: float, dof: int, n_a: int, n_b: int, confidence: float = CONFIDENCE) -> float:
    """One-sided noise margin of a difference of two means of n_a and n_b seeds with a known-dof std."""
    return one_sided_margin(std * math.sqrt(1 / n_a + 1 / n_b), dof, confidence)
