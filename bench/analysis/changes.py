"""Step changes in a per-commit series of seed accuracies: where a model's level moved, by how much, how sure.

A series is one model's test accuracy at each commit, in commit order: per commit the accuracy of each
seed (1 or more, any number per commit) on ``n_test`` images. ``detect_changes`` returns where a new level
starts, named by the commits around it ("between abc123 and def456"), its size in accuracy points with a
95 % interval, a family-wise p-value and the two levels. The noise model is the seed spread: the only thing
that moves an unchanged recipe's accuracy from commit to commit is which seeds it drew.

How (``detect_changes``):
  * the seed std is pooled over the whole series, within each commit (100 commits x 2 seeds: 100 df; a
    split's own 2 x 10 commits would give one noisy estimate per split, and spreads across commits
    include every level change inside the window). One seed a commit has no within-commit spread: the
    std then comes from the median of neighbouring commits' differences, which a few steps barely move
    (worth 0.30 df a commit, measured). Below 4 df (3 commits of 2 seeds, 14 of 1) nothing is reported;
  * each split k is scored by a t statistic: the mean of every seed of up to ``WINDOW`` = 10 commits
    after k minus that of up to 10 before, over its standard error from the pooled std. The strongest
    split beating the threshold becomes a change, windows are clipped at changes found, and the search
    repeats; then every change is re-scored against its neighbours and dropped if it no longer beats the
    threshold (a dip of 3 commits otherwise gave a third, spurious change), until nothing moves;
  * the threshold is what the largest |t| of an unchanged series of this exact shape (its seeds per
    commit, the noise estimate simulated as it is made) exceeds with chance ``DESIGN_RATE`` per 100
    commits, 1 % for 100 commits (``calibrate``: Monte Carlo, fixed RNG seed, 20,000 series at 100
    commits, cached per shape; 0.1 s for 100 commits, 0.4 s for 1,000; then 0.4 ms a series). The max
    over every split is what is calibrated, so there is no multiplicity left to correct; per 100 commits
    pro rata, so a trend of 1,000 commits expects 0.1 false changes, not 1;
  * a change smaller than one test image is never reported; seeds that do not spread at all (exact
    repeats) get half an image as their std, so one image is then a change;
  * size and interval use each change's whole segments (change to change), not the windows: 1,000
    series with a step at commit 50 of 100 gave mean sizes -0.505, -1.001, -3.001 for steps of 0.5, 1
    and 3 points among those found (no winner's curse: the test used other data), intervals covering
    the true step 95.9, 95.5, 95.4 % of the time.

The promise (``PROMISED_RATE``): on an unchanged series, at most 0.02 false changes per 100 commits (one
in 5,000), twice the design, leaving room for the calibration's Monte Carlo error and for a false change
that brings another. Measured through ``detect_changes`` (``false_alarm_rate``), seed std 0.3 points:
100 false changes in 10,000 series of 100 commits x 2 seeds (0.010 per 100 commits; 0.94 % of series),
22 in 2,000 of 1 seed (0.011), 120 in 1,000 series of 1,000 commits (0.012; 11.2 % of series against a
design 10 %), 5 in 5,000 of 20 commits (0.005). Assumed: seeds independent and normal, one recipe. Not
promised, measured on 2,000 series of 100 commits x 2 seeds: heavy tails (Student t, 5 df) 0.018; a
commit-level jitter of 0.1 points on top of a 0.3-point seed spread 0.032; the same seeds reproducing at
every commit (one deterministic machine) 0.

Detection (``detection_rate``, README "Change detection across commits"): a step of 3 points at 0.3 of
seed std is found at its exact commit every time, 1 point 94-98 %, 0.5 point 56 % at 2 seeds and 76 % at
3 (88 % and 99 % within 2 commits). The window trades these against resolution: 5, 10 and 20 commits
found a 0.5-point step at 2 seeds exactly 31, 58, 62 % of the time (45, 89, 94 % within 2 commits, 400
series each); 10 keeps most of it while two steps 10 commits apart still do not share a window.

A slow drift is not modelled: 0.2 points a commit shows as a staircase of 1-point changes about 5 commits
apart. A well-kept change-point library (``ruptures``) would pick the splits, but its penalties are not
calibrated to a false-alarm rate and it has no notion of seeds, so the same simulation would still be
needed to state one; the windowed t keeps both in a few lines of numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from scipy import stats as scipy_stats

from bench import format as fmt
from bench.errors import BenchError

WINDOW = 10  # points each side of a candidate split
DESIGN_RATE = 0.01  # false changes per 100 unchanged commits the threshold is calibrated for
PROMISED_RATE = 0.02  # what is promised: twice the design, a margin for Monte Carlo error and repeats
CALIBRATION_SEED = 20260  # fixed: a series of one shape always gets the same threshold
# Null series expected above the threshold. At 50 (5,000 series for 1 %) the threshold let 1.2 % of 40,000
# fresh unchanged series through; at 200, with the 95 % order statistic below, 0.98 % of 200,000.
CALIBRATION_HITS = 200
MIN_CALIBRATION_SIMS = 4_000
SIMS_PER_CHUNK = 2_000_000  # null series x points per block: ~16 MB arrays whatever the series length
# The std from the median of neighbours' differences is worth 0.30 df per commit: 20,000 unchanged
# 1-seed series gave var(s^2) = 2 / df with df 0.30 x (commits - 1) at 50-1,000 commits (0.36 at 10).
ACROSS_DF_PER_COMMIT = 0.30
# Below 4 df the std's 95 % interval spans more than 4.8-fold (0.60-2.87 times it at 4 df, 6.6-fold at 3):
# no change is reported from so little (4 commits of 2 seeds; 15 commits of 1 seed).
MIN_DF = 4
MAD_SCALE = float(scipy_stats.norm.ppf(0.75))  # median |Z| of a standard normal: 0.6745
CONFIDENCE = 0.95


class Point(NamedTuple):
    """One commit of a series: its id, the test accuracy (a share) of each seed, and the test images.

    A named tuple, not a dataclass: a plain triple is one too, and building 100,000 of them for the
    simulations costs 4 times less (a frozen dataclass sets each field through ``object.__setattr__``).
    """

    commit: str
    accuracies: tuple[float, ...]
    n_test: int


@dataclass(frozen=True)
class Noise:
    """The per-seed std of the series (a share), its degrees of freedom and where it comes from.

    ``source`` is ``"seeds"`` (pooled over the seeds within each commit) or ``"commits"`` (from the
    differences of neighbouring commits' means: one seed a commit gives no within-commit spread).
    """

    std: float
    df: float
    source: str


@dataclass(frozen=True)
class Change:
    """A new level starting at point ``index``: the change happened between ``before`` and ``after``.

    ``size`` and its interval are in accuracy points (after minus before, x100); the means are shares,
    each over every seed of its segment (from the previous change, or the series start, to the next).
    ``p_value`` is family-wise: the chance that an unchanged series of this shape has a split this strong.
    """

    index: int
    before: str
    after: str
    size: float
    ci_low: float
    ci_high: float
    statistic: float
    p_value: float
    mean_before: float
    mean_after: float
    seeds_before: int
    seeds_after: int

    def describe(self) -> str:
        interval = fmt.span(fmt.points(self.ci_low / 100), fmt.points(self.ci_high / 100))
        return (f"between {self.before} and {self.after}: {fmt.points(self.size / 100)} "
                f"({fmt.percent(self.mean_before)} to {fmt.percent(self.mean_after)}; "
                f"{fmt.percent(CONFIDENCE, 0)} interval {interval}; p {fmt.p_value(self.p_value)})")


class _Series(NamedTuple):
    """A checked series: commit ids, every seed's accuracy in commit order, seeds per commit, test images."""

    commits: list[str]
    values: np.ndarray
    counts: np.ndarray
    n_test: int


def _bad(what: str, commit: str, value: object, fix: str = "") -> BenchError:
    return BenchError(f"commit {commit}: {what}" if commit else what, value=value, fix=fix)


def _read(series: Sequence) -> _Series:
    """Points or ``(commit, accuracies, n_test)`` triples, checked in bulk (a Python test per seed would
    cost more than the search itself: 0.33 of 0.76 ms for 100 commits x 2 seeds)."""
    try:
        commits, accuracies, sizes = ([], [], []) if not series else (list(c) for c in zip(*series, strict=True))
        counts = np.fromiter(map(len, accuracies), dtype=int, count=len(accuracies))
    except (TypeError, ValueError):
        raise BenchError("each commit of a series must be (commit, accuracies, n_test)",
                         value=next((p for p in series if not isinstance(p, Sequence) or len(p) != 3), None),
                         fix="pass Points or triples such as ('abc123', [0.8512, 0.8498], 10000)") from None
    for commit in commits:
        if not isinstance(commit, str) or not commit:
            raise _bad("a commit id must be a non-empty string", "", commit)
    if counts.size and counts.min() == 0:
        empty = int(np.argmin(counts))
        raise _bad("no seed accuracies", commits[empty], list(accuracies[empty]),
                   "give at least one seed's test accuracy per commit")
    try:
        values = np.array([a for seeds in accuracies for a in seeds], dtype=float)
    except (TypeError, ValueError) as exc:
        raise BenchError("a test accuracy must be a number", value=str(exc)) from None
    bad = np.flatnonzero(~((values >= 0.0) & (values <= 1.0)))  # NaN too: every comparison with it is False
    if bad.size:
        commit = commits[int(np.searchsorted(np.cumsum(counts), bad[0], side="right"))]
        raise _bad("a test accuracy must be a share between 0 and 1", commit, float(values[bad[0]]),
                   "pass accuracies as fractions (0.8512), not percentages (85.12)")
    return _Series(commits, values, counts, _test_size(commits, sizes))


def _test_size(commits: list[str], sizes: list) -> int:
    """The one test-set size of the series (0 when it is empty)."""
    for commit, n in zip(commits, sizes, strict=True):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise _bad("n_test must be a positive whole number of test images", commit, n)
    if len(set(sizes)) > 1:
        raise BenchError("a series must use one test set, but its commits were tested on different numbers "
                         "of images", value=sorted(set(sizes)), fix="split the series by test set")
    return int(sizes[0]) if sizes else 0


def _source(counts: tuple[int, ...]) -> tuple[str, float]:
    """Which std estimate has more information: within commits (df = seeds - commits) or across them."""
    within, across = sum(counts) - len(counts), ACROSS_DF_PER_COMMIT * (len(counts) - 1)
    return ("seeds", float(within)) if within >= across else ("commits", across)


def _across_std(means: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Std from neighbours' differences, each scaled to one seed: robust to a few steps (a median)."""
    d = np.diff(means, axis=-1) / np.sqrt(1 / counts[:-1] + 1 / counts[1:])
    return np.median(np.abs(d), axis=-1) / MAD_SCALE


def _noise(values: np.ndarray, counts: np.ndarray) -> Noise | None:
    source, df = _source(tuple(counts.tolist()))
    if df < MIN_DF:
        return None
    means = np.add.reduceat(values, np.cumsum(counts) - counts) / counts
    if source == "seeds":
        return Noise(math.sqrt(float(np.sum((values - np.repeat(means, counts)) ** 2)) / df), df, source)
    return Noise(float(_across_std(means, counts)), df, source)


def seed_noise(points: Sequence) -> Noise | None:
    """The series' per-seed std, pooled over it; None below ``MIN_DF`` degrees of freedom."""
    read = _read(points)
    return _noise(read.values, read.counts) if read.commits else None


def _contrast(sums: np.ndarray, seeds: np.ndarray, k: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Seed-weighted mean of points [k, hi) minus that of [lo, k), and its standard error per unit seed std.

    ``sums`` are prefix sums of seed accuracies by point (any leading axes: one series or many null
    series), ``seeds`` the prefix seed counts.
    """
    n_before, n_after = seeds[k] - seeds[lo], seeds[hi] - seeds[k]
    diff = (sums[..., hi] - sums[..., k]) / n_after - (sums[..., k] - sums[..., lo]) / n_before
    return diff, np.sqrt(1 / n_before + 1 / n_after)


def _splits(sums: np.ndarray, seeds: np.ndarray, bounds: np.ndarray, window: int):
    """Every candidate split k (not a boundary), compared over up to ``window`` points each side, clipped at
    the boundaries around it (sorted: 0, each change found, the length)."""
    free = np.ones(len(seeds), dtype=bool)
    free[bounds] = False
    k = np.flatnonzero(free)
    at = np.searchsorted(bounds, k)
    lo, hi = np.maximum(bounds[at - 1], k - window), np.minimum(bounds[at], k + window)
    return k, *_contrast(sums, seeds, k, lo, hi)


def _kept(sums: np.ndarray, seeds: np.ndarray, cuts: np.ndarray, window: int):
    """Each change in ``cuts`` (the interior ones) compared over its windows, clipped at its neighbours."""
    k = cuts[1:-1]
    return _contrast(sums, seeds, k, np.maximum(cuts[:-2], k - window), np.minimum(cuts[2:], k + window))


def _null_block(rng: np.random.Generator, counts: np.ndarray, sims: int, window: int, source: str,
                df: float) -> np.ndarray:
    """The largest |t| over every split of ``sims`` unchanged series of this shape (unit seed std)."""
    means = rng.standard_normal((sims, len(counts))) / np.sqrt(counts)
    std = np.sqrt(rng.chisquare(df, sims) / df) if source == "seeds" else _across_std(means, counts)
    sums = np.concatenate([np.zeros((sims, 1)), np.cumsum(means * counts, axis=-1)], axis=-1)
    seeds = np.concatenate([[0], np.cumsum(counts)])
    _, diff, se = _splits(sums, seeds, np.array([0, len(counts)]), window)
    return np.max(np.abs(diff) / se, axis=-1) / std


@dataclass(frozen=True)
class Calibration:
    """Sorted max |t| of simulated unchanged series of one shape, and the threshold taken from them."""

    maxima: np.ndarray
    threshold: float

    def p_value(self, t: float) -> float:
        """Family-wise: the share of unchanged series with a split at least this strong (Monte Carlo)."""
        return (1 + len(self.maxima) - int(np.searchsorted(self.maxima, t))) / (len(self.maxima) + 1)


@lru_cache(maxsize=32)
def calibrate(counts: tuple[int, ...], window: int, alpha: float) -> Calibration:
    """Simulate unchanged series with these seeds per commit; the threshold that at most ``alpha`` exceed.

    Enough series that ``CALIBRATION_HITS`` are expected above the ``1 - alpha`` quantile; the noise
    estimate is simulated as the real one is made (a chi-square for seeds, the median for commits). The
    threshold is the order statistic that lies at or above the true quantile with 95 % confidence, so the
    Monte Carlo error can only lower the false-alarm rate.
    """
    source, df = _source(counts)
    sims = max(MIN_CALIBRATION_SIMS, math.ceil(CALIBRATION_HITS / alpha))
    chunk = max(1, SIMS_PER_CHUNK // len(counts))
    rng, shape = np.random.default_rng(CALIBRATION_SEED), np.array(counts, dtype=float)
    blocks = [_null_block(rng, shape, min(chunk, sims - done), window, source, df) for done in range(0, sims, chunk)]
    maxima = np.sort(np.concatenate(blocks))
    above = int(scipy_stats.binom.ppf(0.05, sims, alpha))  # the true quantile has at least this many above
    return Calibration(maxima, float(maxima[sims - 1 - above]))


def series_alpha(n_commits: int, rate: float = DESIGN_RATE) -> float:
    """Chance of any false change allowed in an unchanged series: ``rate`` per 100 commits, pro rata."""
    return min(0.5, rate * n_commits / 100)


def _change(commits: list[str], values: np.ndarray, seeds: np.ndarray, cuts: np.ndarray, i: int, t: float,
            calibration: Calibration, noise: Noise) -> Change:
    """The change at boundary ``cuts[i]``: its segments run from the boundary before to the one after."""
    lo, at, hi = seeds[cuts[i - 1]], seeds[cuts[i]], seeds[cuts[i + 1]]
    before, after = float(np.mean(values[lo:at])), float(np.mean(values[at:hi]))
    quantile = float(scipy_stats.t.ppf(0.5 + CONFIDENCE / 2, noise.df))
    size, half = after - before, quantile * noise.std * math.sqrt(1 / (at - lo) + 1 / (hi - at))
    return Change(int(cuts[i]), commits[cuts[i] - 1], commits[cuts[i]], 100 * size,
                  100 * (size - half), 100 * (size + half), t, calibration.p_value(t), before, after,
                  int(at - lo), int(hi - at))


@dataclass(frozen=True)
class _Scan:
    """One series prepared for the search: prefix sums and seed counts by point, and the scoring rule."""

    sums: np.ndarray
    seeds: np.ndarray
    window: int
    std: float
    least: float  # one test image: a smaller mean difference is never a change
    threshold: float

    def score(self, diff: np.ndarray, se: np.ndarray) -> np.ndarray:
        return np.where(np.abs(diff) >= self.least, np.abs(diff) / (se * self.std), 0.0)

    def grow(self, cuts: np.ndarray) -> np.ndarray:
        """Greedy: the strongest split becomes a boundary while its |t| beats the threshold."""
        while True:
            k, diff, se = _splits(self.sums, self.seeds, cuts, self.window)
            t = self.score(diff, se)
            if k.size == 0 or t.max() <= self.threshold:
                return cuts
            cuts = np.sort(np.append(cuts, k[np.argmax(t)]))

    def prune(self, cuts: np.ndarray) -> np.ndarray:
        """Drop the weakest change while, against its neighbours, it no longer beats the threshold.

        Two steps 3 commits apart (-2 then +2 points) first gave a third, spurious change a commit early
        (-0.15 points, found while the window still spanned both steps); against its neighbours it is noise.
        """
        while len(cuts) > 2:
            t = self.score(*_kept(self.sums, self.seeds, cuts, self.window))
            if t.min() > self.threshold:
                break
            cuts = np.delete(cuts, 1 + int(np.argmin(t)))
        return cuts

    def search(self, rounds: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """Grow and prune until neither changes anything: every change beats the threshold against its
        neighbours and no other split does. Returns the boundaries and each change's |t|."""
        cuts = np.array([0, len(self.seeds) - 1])
        for _ in range(rounds):
            before, cuts = cuts, self.prune(self.grow(cuts))
            if np.array_equal(before, cuts):
                break
        return cuts, self.score(*_kept(self.sums, self.seeds, cuts, self.window))


def detect_changes(series: Sequence, window: int = WINDOW, rate: float = DESIGN_RATE) -> list[Change]:
    """Step changes in a series of commits (in commit order), each named by the commits around it.

    ``series``: Points or ``(commit, accuracies, n_test)`` triples. Greedy: the split with the largest
    |t| (seed-level means of up to ``window`` commits each side, the series' pooled seed std) becomes a
    boundary while it beats the threshold calibrated for ``rate`` false changes per 100 commits; windows
    never cross a boundary. A split smaller than one test image is never a change. Too short a series to
    estimate the seed std (below ``MIN_DF``: 3 commits of 2 seeds, 14 of 1 seed): no change.
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise BenchError("the window must be a whole number of commits, at least 1", value=window)
    if not rate > 0:  # NaN too
        raise BenchError("the false-change rate per 100 commits must be above 0", value=rate)
    commits, values, counts, n_test = _read(series)
    noise = _noise(values, counts) if len(commits) >= 2 else None
    if noise is None:
        return []
    calibration = calibrate(tuple(counts.tolist()), window, series_alpha(len(commits), rate))
    seeds = np.concatenate([[0], np.cumsum(counts)])
    sums = np.concatenate([[0.0], np.cumsum(values - values.mean())])[seeds]
    # Exact repeats (one deterministic machine) have no spread: half an image stands in for it.
    std = max(noise.std, 0.5 / n_test)
    cuts, t = _Scan(sums, seeds, window, std, (1 - 1e-6) / n_test, calibration.threshold).search()
    return [_change(commits, values, seeds, cuts, i, float(t[i - 1]), calibration, noise)
            for i in range(1, len(cuts) - 1)]


@dataclass(frozen=True)
class FalseAlarms:
    """Changes found in ``series`` simulated unchanged series of ``n_commits`` commits each."""

    changes: int
    series: int
    n_commits: int
    series_with_change: int

    @property
    def per_100_commits(self) -> float:
        return 100 * self.changes / (self.series * self.n_commits)

    def upper_per_100_commits(self, confidence: float = CONFIDENCE) -> float:
        """One-sided exact (Garwood) upper bound of the rate: the count of changes as a Poisson count."""
        return 100 * float(scipy_stats.chi2.ppf(confidence, 2 * (self.changes + 1))) / 2 / (
            self.series * self.n_commits)


@dataclass(frozen=True)
class Detections:
    """Of ``sims`` series with one step: how often a change started at the step's commit, or within 2."""

    exact: int
    near: int
    sims: int

    @property
    def rate(self) -> float:
        return self.exact / self.sims

    def interval(self, confidence: float = CONFIDENCE) -> tuple[float, float]:
        """Clopper-Pearson interval of ``rate``."""
        tail = (1 - confidence) / 2
        low = float(scipy_stats.beta.ppf(tail, self.exact, self.sims - self.exact + 1)) if self.exact else 0.0
        high = 1.0 if self.exact == self.sims else float(
            scipy_stats.beta.ppf(1 - tail, self.exact + 1, self.sims - self.exact))
        return low, high


def simulate_series(rng: np.random.Generator, n_commits: int, seeds_per_commit: int, std: float,
                    n_test: int = 10_000, steps: dict[int, float] | None = None, level: float = 0.85) -> list[Point]:
    """A series whose level moves by ``steps[i]`` points at commit i; seeds normal with ``std`` (a share),
    each accuracy rounded to whole test images, as a real one is."""
    shift = np.zeros(n_commits)
    for index, size in (steps or {}).items():
        shift[index:] += size / 100
    values = level + shift[:, None] + std * rng.standard_normal((n_commits, seeds_per_commit))
    values = np.clip(np.round(values * n_test), 0, n_test) / n_test
    return list(map(Point, _commit_ids(n_commits), map(tuple, values.tolist()), [n_test] * n_commits))


@lru_cache(maxsize=8)
def _commit_ids(n: int) -> tuple[str, ...]:
    return tuple(f"c{i:04d}" for i in range(n))


def false_alarm_rate(n_commits: int = 100, seeds_per_commit: int = 2, std: float = 0.003, sims: int = 200,
                     rng: np.random.Generator | int = 0, n_test: int = 10_000, window: int = WINDOW) -> FalseAlarms:
    """Changes ``detect_changes`` reports on ``sims`` unchanged simulated series: every one is false."""
    rng = np.random.default_rng(rng)
    found = [len(detect_changes(simulate_series(rng, n_commits, seeds_per_commit, std, n_test), window))
             for _ in range(sims)]
    return FalseAlarms(sum(found), sims, n_commits, sum(1 for f in found if f))


def detection_rate(step_points: float, n_commits: int = 100, seeds_per_commit: int = 2, std: float = 0.003,
                   sims: int = 200, rng: np.random.Generator | int = 0, n_test: int = 10_000,
                   at: int | None = None, window: int = WINDOW) -> Detections:
    """How often ``detect_changes`` finds a step of ``step_points`` at commit ``at`` (the middle by default)."""
    rng, at = np.random.default_rng(rng), n_commits // 2 if at is None else at
    exact = near = 0
    for _ in range(sims):
        starts = [c.index for c in detect_changes(
            simulate_series(rng, n_commits, seeds_per_commit, std, n_test, {at: step_points}), window)]
        exact += at in starts
        near += any(abs(s - at) <= 2 for s in starts)
    return Detections(exact, near, sims)
