"""The gate's checks: each decides on arrays of seeds and says its result in one sentence.

A check's decision (``fails_on``) takes reference and new values with seeds on the last axis and any
leading axes, so the calibration tests run the very checks ``fmbench check`` runs on 10,000 simulated
studies at once; ``evaluate`` applies it to the check's own seeds and writes the sentence.

How much worse a metric may get is a *rule*:
  * ``exact_floor``: the seeds reproduce (one machine and stack, every shared seed identical: ``gate.same_setup``
    and ``gate.reproduces``), so the means over the shared seeds are compared and only the floor (0.005) is
    allowed;
  * ``OneSidedT``: seeds land elsewhere (another CPU or numerics path): the drop of the mean must stay
    within max(floor, t_{1 - alpha, df} * se), se and df from this model's own seeds on both sides
    (Student's t: on unchanged code both sides are one recipe with one spread; pooling the two sides
    gives n_ref + n_new - 2 df, 2 at 2 + 2 seeds, where Welch's would be 1-2, and a t-quantile at the
    gate's per-check level of up to 190 instead of 17);
  * ``Fixed``: ``--max-drop``, used exactly (and no false-alarm promise).

The power a check prints is its chance of catching a drop at a *conservative* seed std, the top of the
measured std's 80 % chi-square interval (``conservative_std``): a lower bound that holds 90 % of the time.
At the measured std itself it was optimistic: at 2 seeds a side and a 1-point drop the printed value had
median 11.1 % and mean 20.2 % against a real 8.4 % (issue 17; tests/test_gate_calibration.py measures both).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bench.analysis.significance import (
    drop_power,
    leave_one_out,
    pooled,
    std_interval,
    sum_of_squares,
    upper_quantile,
)
from bench.analysis.stats import summarize
from bench.format import metric, noun, percent, plural, points
from bench.results import Record, RunResult

FLOOR = 0.005  # half a point: smaller drops never fail, whatever the statistics say
DETECT = (0.005, 0.01)  # the drops whose chance of being caught every check prints
TIE = 1e-12  # float round-off must not fail an exact tie
POWER_CONFIDENCE = 0.80  # the power is printed at the top of the std's 80 % interval: a 90 % lower bound


class SeedValues(Record):
    """One metric of one model: the value of every seed (mean and std stored for people reading the file)."""

    seeds: list[int]
    values: list[float]
    mean: float
    std: float

    @classmethod
    def of(cls, seeds: list[int], values: list[float]) -> SeedValues:
        summary = summarize(values)
        return cls(seeds=seeds, values=values, mean=summary.mean, std=summary.std)

    def by_seed(self) -> dict[int, float]:
        return dict(zip(self.seeds, self.values, strict=True))


def measured_std(*sides) -> tuple[float, int] | None:
    """The seed std pooled within the sides given (each its own mean), and its df; None without a df."""
    sides = [np.asarray(side, dtype=float) for side in sides if np.size(side)]
    df = sum(side.shape[-1] for side in sides) - len(sides)
    if df < 1:
        return None
    return math.sqrt(float(sum(sum_of_squares(side) for side in sides)) / df), df


def conservative_std(*sides) -> float | None:
    """The seed std pooled within the sides given, at the top of its 80 % chi-square interval: the truth is
    below it 90 % of the time, so a power computed from it is a lower bound as often. None without a df."""
    measured = measured_std(*sides)
    return None if measured is None else float(std_interval(*measured, POWER_CONFIDENCE)[1])


@dataclass(frozen=True)
class Fixed:
    """A fixed allowance: ``--max-drop``, used exactly, or the floor when the seeds reproduce.

    ``paired``: the seeds reproduce, so the means over the shared seeds are compared and there is no
    noise: a drop is caught exactly when it exceeds the allowance.
    """

    max_drop: float
    paired: bool = False
    reason: str = "--max-drop"
    alpha = None

    def allowed(self, ref, new) -> np.ndarray:
        return np.full(np.shape(ref)[:-1], self.max_drop)

    def text(self, ref, new) -> str:
        return self.reason

    def unbounded(self, ref, new) -> str:
        """Why this rule's false alarms are not bounded ("" if they are): paired seeds reproduce, so unchanged
        code never moves them; otherwise the allowance ignores how far the seeds spread."""
        return "" if self.paired else f"the allowed drop is fixed by {self.reason}, whatever the seeds spread"

    def power_at(self, drop: float, std: float, n_ref: int, n_new: int) -> float:
        if self.paired:
            return 1.0 if drop > self.max_drop + TIE else 0.0
        return drop_power(drop, std, n_ref, n_new, None, self.max_drop)

    def power(self, drop: float, ref, new) -> float | None:
        std = conservative_std(ref, new)
        return None if std is None and not self.paired else self.power_at(drop, std or 0.0, len(ref), len(new))


def exact_floor(floor: float = FLOOR) -> Fixed:
    """The seeds reproduce: the means over the shared seeds, allowed only the floor."""
    return Fixed(floor, True, f"floor {points(floor, signed=False)}, seeds reproduce")


@dataclass(frozen=True)
class OneSidedT:
    """max(floor, t_{1 - alpha, df} * se) with this model's spread pooled over its two sides."""

    alpha: float
    floor: float = FLOOR
    paired = False

    def allowed(self, ref, new) -> np.ndarray:
        test = pooled(ref, new)
        df = int(test.df.flat[0]) if test.df.size else 0
        margin = upper_quantile(self.alpha, df) * test.se if df > 0 else np.zeros(test.se.shape)
        return np.maximum(self.floor, margin)

    def text(self, ref, new) -> str:
        df = len(ref) + len(new) - 2
        if df == 0:
            return f"floor {points(self.floor, signed=False)}: one seed a side has no spread, false alarms not bounded"
        if float(self.allowed(ref, new)) <= self.floor:
            return f"floor {points(self.floor, signed=False)} (t margin below it)"
        return f"one-sided t {percent(1 - self.alpha)}, {df} df"

    def unbounded(self, ref, new) -> str:
        return "one seed a side has no spread" if len(ref) + len(new) - 2 == 0 else ""

    def power_at(self, drop: float, std: float, n_ref: int, n_new: int) -> float:
        return drop_power(drop, std, n_ref, n_new, self.alpha, self.floor)

    def power(self, drop: float, ref, new) -> float | None:
        std = conservative_std(ref, new)
        return None if std is None else self.power_at(drop, std, len(ref), len(new))


Rule = Fixed | OneSidedT


@dataclass(frozen=True)
class Outcome:
    """A check's result: the numbers, one sentence a person can act on, and what the check can see.

    ``alpha`` is the check's share of the gate's false-alarm budget (None: not a statistical check);
    ``power`` its chance of catching a drop of each of ``DETECT`` at a conservative spread (a lower bound,
    90 % of the time: ``conservative_std``). ``unbounded``: why its false alarms are not bounded ("" when they
    are), so that no output promises a rate it cannot keep. ``reference_is``: what ``reference`` is when it is
    not the reference's mean (a worst seed is held against the mean of the model's other seeds).
    """

    name: str
    model: str
    metric: str
    reference: float | None
    observed: float | None
    allowed: float | None
    rule: str
    passed: bool
    sentence: str
    alpha: float | None = None
    power: tuple[float | None, ...] | None = None
    unbounded: str = ""
    reference_is: str = ""

    @property
    def change(self) -> float | None:
        return None if self.reference is None or self.observed is None else self.observed - self.reference


def shared_seeds(reference: SeedValues, observed: SeedValues) -> list[int]:
    return sorted(set(reference.seeds) & set(observed.seeds))


@dataclass(frozen=True)
class MetricCheck:
    """The mean of a metric must not get worse than the reference's by more than its rule allows."""

    model: str
    metric: str
    label: str
    higher_is_better: bool
    reference: SeedValues
    observed: SeedValues
    rule: Rule

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """This check's seeds: the shared ones, in pairs, when the rule compares pairs; else all."""
        if not self.rule.paired:
            return np.asarray(self.reference.values), np.asarray(self.observed.values)
        ref, new = self.reference.by_seed(), self.observed.by_seed()
        shared = shared_seeds(self.reference, self.observed)
        return np.asarray([ref[s] for s in shared]), np.asarray([new[s] for s in shared])

    def worse_by(self, ref, new) -> np.ndarray:
        drop = np.mean(ref, axis=-1) - np.mean(new, axis=-1)
        return drop if self.higher_is_better else -drop

    def fails_on(self, ref, new) -> np.ndarray:
        return self.worse_by(ref, new) > self.rule.allowed(ref, new) + TIE

    def evaluate(self) -> Outcome:
        ref, new = self.arrays()
        ref_mean, new_mean = float(np.mean(ref)), float(np.mean(new))
        allowed, rule = float(self.rule.allowed(ref, new)), self.rule.text(ref, new)
        passed = not bool(self.fails_on(ref, new))
        verb = ("fell" if new_mean < ref_mean else "rose") if not passed else "went"
        sentence = (f"{self.model} {self.label} {verb} from {metric(self.metric, ref_mean)} to "
                    f"{metric(self.metric, new_mean)} ({points(new_mean - ref_mean)}), ")
        sentence += (f"within the allowed {points(allowed, signed=False)} ({rule})" if passed
                     else f"worse by more than the allowed {points(allowed, signed=False)} ({rule})")
        power = tuple(self.rule.power(drop, ref, new) for drop in DETECT)
        return Outcome(f"{self.model}.{self.metric}", self.model, self.metric, ref_mean, new_mean, allowed, rule,
                       passed, sentence, self.rule.alpha, power, self.rule.unbounded(ref, new))


@dataclass(frozen=True)
class WorstSeed:
    """No new seed may fall out of the model's seed spread, nor collapse.

    Statistical part: each new seed against the mean of every other seed of the model (reference and
    new), allowed max(floor, t * std * sqrt(1 + 1/(N-1))) below it, t at ``alpha`` split over the new
    seeds (Bonferroni): a t prediction bound with N - 2 df, exact for normal seeds on unchanged code.
    Collapse line: halfway from chance to the reference's lowest seed. It is not a test and spends no
    false-alarm budget: from 2 + 2 seeds no test at 0.1 % can tell a seed at chance from noise (the
    prediction bound has 2 df), yet a recipe that lands at chance on some seed is broken, as a crash is.
    """

    model: str
    reference: SeedValues
    observed: SeedValues
    alpha: float
    chance: float
    floor: float = FLOOR
    metric = "worst_seed"

    def limits(self, ref, new) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per new seed: the others' mean, the allowed drop below it (t bound or floor), the collapse line."""
        ref, new = np.asarray(ref, dtype=float), np.asarray(new, dtype=float)
        center, std, df = leave_one_out(ref, new)
        n = ref.shape[-1] + new.shape[-1]
        if df >= 1:
            t = upper_quantile(self.alpha / new.shape[-1], df)
            allowed = np.maximum(self.floor, t * std * math.sqrt(1 + 1 / (n - 1)))
        else:
            allowed = np.full(new.shape, np.inf)
        collapse = self.chance + (ref.min(axis=-1, keepdims=True) - self.chance) / 2
        return center, allowed, collapse

    def fails_on(self, ref, new) -> np.ndarray:
        center, allowed, collapse = self.limits(ref, new)
        return np.any((center - np.asarray(new) > allowed + TIE) | (np.asarray(new) <= collapse), axis=-1)

    def rule_text(self, df: int, n_new: int) -> str:
        if df < 1:
            return "collapse line only: 3 seeds are needed for a prediction bound"
        return f"t prediction bound {percent(1 - self.alpha / n_new)}, {df} df"

    def evaluate(self) -> Outcome:
        ref, new = np.asarray(self.reference.values), np.asarray(self.observed.values)
        center, allowed, collapse = self.limits(ref, new)
        collapse = float(collapse[0])
        allowed = np.minimum(allowed, center - collapse)  # the collapse line, as an allowed drop
        fails = (center - new > allowed + TIE) | (new <= collapse)
        failing = [s for s, f in zip(self.observed.seeds, fails, strict=True) if f]
        # Named: the failing seed furthest past its allowance, else the lowest seed.
        worst = int(np.argmax(np.where(fails, center - new - allowed, -np.inf))) if failing else int(np.argmin(new))
        rule = self.rule_text(len(ref) + len(new) - 2, len(new))
        sentence = self.sentence(worst, float(center[worst]), float(allowed[worst]), collapse, rule, failing)
        # The reference column holds the mean the seed is held against, not the reference's mean: say so.
        others = f"mean of {plural(len(ref) + len(new) - 1, 'other seed')}, reference and new"
        return Outcome(f"{self.model}.worst_seed", self.model, "worst_seed", float(center[worst]), float(new[worst]),
                       float(allowed[worst]), rule, not failing, sentence, self.alpha, reference_is=others)

    def sentence(self, worst: int, center: float, allowed: float, collapse: float, rule: str,
                 failing: list[int]) -> str:
        seed, value = self.observed.seeds[worst], self.observed.values[worst]
        text = (f"{self.model} seed {seed} test accuracy {percent(value)} lies {points(value - center)} from the "
                f"mean of the model's other seeds ({percent(center)}), ")
        if value <= collapse:
            return text + (f"at or below the collapse line {percent(collapse)}, halfway from chance "
                           f"({percent(self.chance)}) to the reference's lowest seed: the seed collapsed"
                           + _others(failing, seed))
        allowance = points(allowed, signed=False)
        if failing:
            return text + f"more than the allowed {allowance} ({rule})" + _others(failing, seed)
        return text + f"within the allowed {allowance} ({rule}; collapse line {percent(collapse)})"


def _others(failing: list[int], worst: int) -> str:
    others = [str(s) for s in failing if s != worst]
    return f"; {noun(len(others), 'seed')} {', '.join(others)} also failed" if others else ""


@dataclass(frozen=True)
class RunsSucceeded:
    """Every run of a model the reference covers must have finished: a crash is the worst regression."""

    model: str
    runs: list[RunResult]

    def evaluate(self) -> Outcome:
        failed = [r for r in self.runs if r.status != "ok"]
        passed = bool(self.runs) and not failed
        sentence = f"{self.model}: {len(self.runs) - len(failed)} of {plural(len(self.runs), 'run')} succeeded"
        if failed:
            sentence += f"; seed {failed[0].seed} failed: {failed[0].error}"
        return Outcome(f"{self.model}.runs", self.model, "runs", None, None, None, "all must succeed", passed,
                       sentence)


Check = RunsSucceeded | MetricCheck | WorstSeed
