"""Is a speed ratio's verdict honest? Monte Carlo through compare's own code, fixed RNG seeds.

Timings are simulated log-normal (a loaded machine is some factor slower), per seed, as compare reads them
from the runs: ``ratio_of_geometric_means`` makes the ratio and its interval, and the verdict's
``speed_clause`` words it, so what is counted is the text a person reads.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.analysis.compare_verdict import NO_DIFFERENCE, speed_clause
from bench.analysis.significance import ratio_of_geometric_means

SIMS = 2000
MARGIN = 0.01  # 2000 draws of a 95 % event: its std is 0.5 points


def words(a: np.ndarray, b: np.ndarray, name: str = "seconds per epoch", above: str = "slower",
          below: str = "faster") -> str:
    return speed_clause(name, ratio_of_geometric_means(a, b), above, below, "B", str)


@pytest.mark.parametrize(("n_a", "n_b"), [(2, 2), (3, 3), (5, 5), (3, 5), (2, 10)])
def test_one_distribution_is_no_measurable_difference_at_least_95_percent_of_the_time(n_a, n_b):
    """Issue 18, point 1: two studies timed on one machine under the same load are "no measurable difference"
    in at least 95 % of comparisons. With 2 seeds against 10 Welch-Satterthwaite's df managed 89-90 %."""
    rng = np.random.default_rng(1800 + 10 * n_a + n_b)
    spread = 0.25  # log std: a seed's timing 25 % off, as under a shared machine's load
    said = [words(np.exp(rng.normal(np.log(0.3), spread, n_a)), np.exp(rng.normal(np.log(0.3), spread, n_b)))
            for _ in range(SIMS)]
    quiet = np.mean([text.endswith(NO_DIFFERENCE) for text in said])
    assert quiet >= 0.95 - MARGIN, quiet
    assert all(text.endswith((NO_DIFFERENCE, "slower in B", "faster in B")) for text in said)


def test_a_real_twofold_slowdown_with_small_spread_is_called_and_covered():
    """Seconds per epoch doubled, images per second halved, 5 % spread, 3 seeds a side: both called, each in
    its direction, and the interval holds the true ratio at least 95 % of the time."""
    rng = np.random.default_rng(18)
    spread, called, covered = 0.05, [], []
    for _ in range(SIMS):
        epoch_a, epoch_b = np.exp(rng.normal(np.log(0.3), spread, 3)), np.exp(rng.normal(np.log(0.6), spread, 3))
        rate_a, rate_b = 300 / epoch_a, 300 / epoch_b  # images per second: the same runs, the other way up
        called.append(words(epoch_a, epoch_b).endswith("): slower in B")
                      and words(rate_a, rate_b, "images per second", "faster", "slower").endswith("): slower in B"))
        ratio = ratio_of_geometric_means(epoch_a, epoch_b)
        covered.append(ratio.ci_low <= 2 <= ratio.ci_high)
    assert np.mean(called) >= 0.99, np.mean(called)
    assert np.mean(covered) >= 0.95 - MARGIN, np.mean(covered)


def test_one_seed_a_side_is_never_a_difference():
    assert words(np.array([0.3]), np.array([0.9, 0.91])) == (
        f"seconds per epoch × 3.02: {NO_DIFFERENCE} (an interval needs 2 seeds in each study)")
    assert ratio_of_geometric_means([0.3, 0.0], [0.6, 0.6]) is None  # a timing of 0 has no logarithm
