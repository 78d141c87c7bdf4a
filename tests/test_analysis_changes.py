"""Change detection over a per-commit series: does it keep its false-alarm promise, and what does it find?

The rates are simulated through the real ``detect_changes`` (``false_alarm_rate`` and ``detection_rate``
call it once per simulated series), fixed RNG seeds, so the figures are the same on every run; the
README's table ("Change detection across commits") is ``readme_table()`` below, checked line by line.
Print it with ``python tests/test_analysis_changes.py``.

Unchanged code is simulated as: every seed of every commit drawn from one normal distribution (std 0.3
points, a realistic seed spread: the smoke baseline's is 0.28), rounded to whole images of 10,000.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from bench.analysis import changes
from bench.analysis.changes import Point, detect_changes, detection_rate, false_alarm_rate, seed_noise, simulate_series
from bench.errors import BenchError

STD = 0.003
STEPS = (0.5, 1, 2, 3)
SEEDS = (2, 3)
FALSE_ALARM_SIMS = {2: 2000, 3: 1000}  # 2 seeds carries the promise: 2,000 series keep its bound below it
DETECTION_SIMS = 200


@cache
def unchanged(seeds: int):
    return false_alarm_rate(100, seeds, STD, FALSE_ALARM_SIMS[seeds], rng=100 + seeds)


@cache
def step(points: float, seeds: int):
    return detection_rate(-points, 100, seeds, STD, DETECTION_SIMS, rng=200 + seeds)


def test_unchanged_series_keep_the_promise_with_margin():
    """2,000 unchanged series of 100 commits x 2 seeds: the rate's 95 % upper bound is below the promise."""
    result = unchanged(2)
    assert result.series * result.n_commits == 200_000
    assert result.upper_per_100_commits(0.95) < changes.PROMISED_RATE, result
    assert result.series_with_change / result.series < 1.5 * changes.series_alpha(100), result


def test_three_seeds_keep_the_promise():
    result = unchanged(3)
    assert result.upper_per_100_commits(0.95) < changes.PROMISED_RATE, result


def test_a_3_point_step_is_found_at_its_commit():
    for seeds in SEEDS:
        result = step(3, seeds)
        assert result.interval()[0] >= 0.95, (seeds, result)


def test_detection_rises_with_the_step_and_the_seeds():
    """At 0.3 points of seed std a 1-point step is found at its commit most of the time, 0.5 points often
    off by a commit or two; a third seed helps most there."""
    rates = {(d, s): step(d, s) for d in STEPS for s in SEEDS}
    for seeds in SEEDS:
        exact = [rates[d, seeds].rate for d in STEPS]
        assert exact == sorted(exact), (seeds, exact)
        assert rates[1, seeds].rate >= 0.85 and rates[2, seeds].rate == 1.0
        assert rates[0.5, seeds].near >= rates[0.5, seeds].exact
    assert rates[0.5, 3].rate > rates[0.5, 2].rate and rates[0.5, 2].near / DETECTION_SIMS >= 0.8


def test_the_change_is_named_by_its_commits_and_measured():
    rng = np.random.default_rng(1)
    series = [Point(f"{i:03d}abc", p.accuracies, p.n_test)
              for i, p in enumerate(simulate_series(rng, 80, 2, STD, steps={40: -3}))]
    (change,) = detect_changes(series)
    assert (change.index, change.before, change.after) == (40, "039abc", "040abc")
    assert change.size == pytest.approx(-3, abs=0.15)
    assert change.ci_low < -3 < change.ci_high and change.ci_high - change.ci_low < 0.3
    assert change.size == pytest.approx(100 * (change.mean_after - change.mean_before))
    assert (change.seeds_before, change.seeds_after) == (80, 80)
    assert change.p_value < 0.001 and change.statistic > 20
    assert change.describe().startswith("between 039abc and 040abc: -3.0")


def test_two_steps_are_both_found_even_close_together():
    rng = np.random.default_rng(2)
    found = detect_changes(simulate_series(rng, 100, 2, STD, steps={30: -2, 70: 1.5}))
    assert [c.index for c in found] == [30, 70]
    assert [c.size for c in found] == pytest.approx([-2, 1.5], abs=0.15)
    # A dip of 3 commits: the first split's window spans both steps; pruning leaves exactly the two.
    found = detect_changes(simulate_series(rng, 100, 2, STD, steps={50: -2, 53: 2}))
    assert [c.index for c in found] == [50, 53]


def test_one_seed_a_commit_takes_the_noise_from_across_commits():
    rng = np.random.default_rng(3)
    series = simulate_series(rng, 100, 1, STD, steps={60: 2})
    noise = seed_noise(series)
    assert noise.source == "commits" and noise.std == pytest.approx(STD, rel=0.25)
    assert noise.df == pytest.approx(0.30 * 99)
    assert [(c.index, round(c.size)) for c in detect_changes(series)] == [(60, 2)]
    assert seed_noise(simulate_series(rng, 100, 2, STD)).source == "seeds"


def test_seeds_per_commit_may_differ():
    rng = np.random.default_rng(4)
    series = [Point(f"c{i}", tuple(0.85 - 0.02 * (i >= 40) + STD * rng.standard_normal(1 + i % 3)), 10_000)
              for i in range(60)]
    noise = seed_noise(series)
    assert noise.source == "seeds" and noise.df == 60
    assert [(c.before, c.after, round(c.size)) for c in detect_changes(series)] == [("c39", "c40", -2)]


def test_too_short_a_series_has_no_change():
    big = [("a", [0.85, 0.851], 10_000), ("b", [0.85, 0.852], 10_000), ("c", [0.70, 0.701], 10_000)]
    assert detect_changes([]) == []
    assert detect_changes(big[:1]) == [] and detect_changes(big[:2]) == []
    assert detect_changes(big) == []  # 3 commits of 2 seeds: 3 df, below MIN_DF
    one_seed = [(f"c{i}", [0.85 if i < 7 else 0.70], 10_000) for i in range(14)]
    assert seed_noise(one_seed) is None and detect_changes(one_seed) == []
    drop = [(f"c{i}", [0.85 + 0.003 * (i % 2), 0.853 - 0.002 * (i % 3)], 10_000) for i in range(8)]
    drop[4:] = [(c, [a - 0.05 for a in acc], n) for c, acc, n in drop[4:]]
    assert [c.index for c in detect_changes(drop)] == [4]  # 8 commits of 2 seeds: a 5-point drop is seen


def test_exact_repeats_make_one_image_a_change():
    """Seeds that do not spread (std below half an image) leave only the resolution: one image is a change."""
    same = [(f"c{i}", [0.8512, 0.8512], 10_000) for i in range(100)]
    assert detect_changes(same) == []
    moved = same[:50] + [(c, [0.8513, 0.8513], n) for c, _, n in same[50:]]
    assert [(c.index, round(c.size, 2)) for c in detect_changes(moved)] == [(50, 0.01)]


@pytest.mark.parametrize(("series", "message"), [
    ([("a", [0.85], 10_000), ("b", [], 10_000)], "commit b: no seed accuracies"),
    ([("a", [0.85, 85.1], 10_000)], "commit a: a test accuracy must be a share between 0 and 1; got 85.1; pass"),
    ([("a", [0.85], 10_000), ("b", [-0.01], 10_000)], "commit b: a test accuracy must be a share"),
    ([("a", [float("nan")], 10_000)], "commit a: a test accuracy must be a share"),
    ([("a", [0.85], 0)], "commit a: n_test must be a positive whole number"),
    ([("", [0.85], 10_000)], "a commit id must be a non-empty string"),
    ([("a", [0.85], 10_000), ("b", [0.85], 1_000)], "a series must use one test set"),
    ([("a", [0.85], 10_000), ("b", [0.85])], "each commit of a series must be (commit, accuracies, n_test)"),
    ([("a", ["high"], 10_000)], "a test accuracy must be a number"),
])
def test_bad_input_is_a_bench_error(series, message):
    with pytest.raises(BenchError, match="^" + re.escape(message)):
        detect_changes(series)
    with pytest.raises(BenchError, match="window"):
        detect_changes([("a", [0.85], 10_000)], window=0)


def test_the_calibration_is_fixed_and_its_p_values_agree_with_its_threshold():
    counts, alpha = (2,) * 100, changes.series_alpha(100)
    calibration = changes.calibrate(counts, changes.WINDOW, alpha)
    changes.calibrate.cache_clear()
    assert changes.calibrate(counts, changes.WINDOW, alpha).threshold == calibration.threshold
    assert calibration.p_value(calibration.threshold) <= alpha < calibration.p_value(calibration.threshold - 0.05)


def readme_table() -> list[str]:
    """The README's table ("Change detection across commits"), line by line, from the simulations above."""
    def cell(d):
        return f"{d.rate:.0%} ({d.near / d.sims:.0%})"

    lines = ["| seeds a commit | false changes per 100 commits (95% bound) | "
             + " | ".join(f"{d} point{'s' * (d != 1)} step" for d in STEPS) + " |", "|---" * 6 + "|"]
    for seeds in SEEDS:
        alarms = unchanged(seeds)
        lines.append(f"| {seeds} | {alarms.per_100_commits:.3f} (≤ {alarms.upper_per_100_commits(0.95):.3f}) | "
                     + " | ".join(cell(step(d, seeds)) for d in STEPS) + " |")
    return [line.replace("%", " %") for line in lines]


def test_readme_quotes_these_figures():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Change detection across commits", 1)[-1].split("\n## ", 1)[0]
    missing = [line for line in readme_table() if line not in section.splitlines()]
    assert not missing, "README 'Change detection across commits' lacks:\n" + "\n".join(missing)


if __name__ == "__main__":
    print("\n".join(readme_table()))
