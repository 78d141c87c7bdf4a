"""Does the gate keep its promise? Monte Carlo through the checks `fmbench check` builds.

The checks come from the real ``build_checks`` (a reference and a study shaped like the case: models,
seeds); each check's own ``fails_on`` then judges 10,000 simulated studies at once, so what is measured is
the gate's code, not a copy of its formulas (``test_simulation_decides_as_run_checks_does`` confirms the
two paths agree). Fixed RNG seeds: the figures are the same on every run, and the README quotes them.

"Unchanged code" is simulated as: per model, every seed of reference and new study alike drawn from one
normal distribution with that model's own std; test accuracy and overfitting gap independent (the worst
case for Bonferroni; in real runs test accuracy enters both, which only lowers the joint rate).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats
from test_gate import make_reference, make_study

from bench.analysis.checks import MetricCheck, OneSidedT, WorstSeed
from bench.analysis.gate import DESIGN_ALPHA, GATE_ALPHA, build_checks, run_checks
from bench.analysis.significance import drop_power

SIMULATIONS = 10_000
SEEDS = (2, 3, 5, 10)
MEAN = {"test_accuracy": 0.75, "gap_train_test": 0.02}
# Seed stds in accuracy (0.0028 is 0.28 points): the committed smoke reference's baseline and tuned
# models differ 12-fold; one model is simulated at each, three models alike and 12-fold apart.
SPREADS = {
    "1 model, std 0.28 points": (0.0028,),
    "1 model, std 3.44 points": (0.0344,),
    "3 models, 0.3 points each": (0.003, 0.003, 0.003),
    "3 models, 0.28 / 0.98 / 3.44 points": (0.0028, 0.0098, 0.0344),
}


def gate_for(n_models: int, n_seeds: int, per_class: bool = False) -> list:
    """The checks build_checks makes for this many models and seeds (new seeds other than the reference's)."""
    rng = np.random.default_rng(0)
    accuracy = {f"m{i}": list(0.75 + 0.003 * rng.standard_normal(n_seeds)) for i in range(n_models)}
    new = {m: list(0.75 + 0.003 * rng.standard_normal(n_seeds)) for m in accuracy}
    gaps = {m: list(0.02 + 0.003 * rng.standard_normal(n_seeds)) for m in accuracy}
    checks = [c for c in build_checks(make_reference(accuracy), make_study(new, gaps, first_seed=100),
                                      per_class=per_class) if isinstance(c, MetricCheck | WorstSeed)]
    assert all(isinstance(c.rule, OneSidedT) for c in checks if isinstance(c, MetricCheck))
    return checks


def draw(rng: np.random.Generator, shape: tuple[int, int], tails: int | None) -> np.ndarray:
    """Unit-variance noise: normal, or Student-t with ``tails`` df (heavier tails, same std)."""
    if tails is None:
        return rng.standard_normal(shape)
    return rng.standard_t(tails, shape) / np.sqrt(tails / (tails - 2))


def simulate(checks: list, spreads: tuple[float, ...], n_seeds: int, seed: int, drop: float = 0.0,
             collapse: bool = False, new_scale: float = 1.0, tails: int | None = None) -> dict[str, np.ndarray]:
    """Per model: does any of its checks fail, for each simulated study. Model m0 loses ``drop`` of
    test accuracy on every new seed; with ``collapse`` its first new seed lands at chance (0.10).
    ``new_scale`` and ``tails`` depart from the assumptions: a wider new spread, heavier tails."""
    rng = np.random.default_rng(seed)
    shape = (SIMULATIONS, n_seeds)
    failed = {}
    for i, std in enumerate(spreads):
        model, data = f"m{i}", {}
        for metric in [*MEAN, *(c.metric for c in checks if c.metric.startswith("f1["))]:
            mean = MEAN.get(metric, 0.75)
            data[metric] = (mean + std * draw(rng, shape, tails), mean + new_scale * std * draw(rng, shape, tails))
        ref, new = data["test_accuracy"]
        new = new - (drop if i == 0 else 0.0)
        if collapse and i == 0:
            new[:, 0] = 0.10
        data["test_accuracy"] = data["worst_seed"] = (ref, new)
        failed[model] = np.zeros(SIMULATIONS, dtype=bool)
        for check in (c for c in checks if c.model == model):
            failed[model] |= check.fails_on(*data[check.metric])
    return failed


@cache
def false_alarm_rate(spreads: str, n_seeds: int, per_class: bool = False) -> float:
    stds = SPREADS[spreads]
    failed = simulate(gate_for(len(stds), n_seeds, per_class), stds, n_seeds, seed=n_seeds)
    return float(np.mean(np.any(list(failed.values()), axis=0)))


DEPARTURES = {"new seeds spread twice as wide": {"new_scale": 2.0}, "heavy tails (t, 5 df)": {"tails": 5}}


@cache
def departure_rate(departure: str, n_seeds: int) -> float:
    """The whole gate's false alarms, two models (std 0.28 and 3.44 points), when an assumption fails."""
    stds = (0.0028, 0.0344)
    failed = simulate(gate_for(2, n_seeds), stds, n_seeds, seed=500 + n_seeds, **DEPARTURES[departure])
    return float(np.mean(np.any(list(failed.values()), axis=0)))


@cache
def detection_rate(n_models: int, n_seeds: int, drop: float) -> float:
    """Chance that the 3-point-or-other drop of one model (std 0.3 points) fails its checks."""
    failed = simulate(gate_for(n_models, n_seeds), (0.003,) * n_models, n_seeds, seed=1000 + n_seeds, drop=drop)
    return float(np.mean(failed["m0"]))


@pytest.mark.parametrize("n_seeds", SEEDS)
@pytest.mark.parametrize("spreads", list(SPREADS))
def test_the_whole_gate_false_alarms_at_most_one_percent(spreads, n_seeds):
    """Issue 9, points 1 and 4: every model and metric together, at 1 % (1.5 % allows for 10,000 draws)."""
    assert false_alarm_rate(spreads, n_seeds) <= 0.015


@pytest.mark.parametrize("n_seeds", [2, 10])
def test_per_class_checks_stay_inside_the_same_budget(n_seeds):
    assert false_alarm_rate("3 models, 0.28 / 0.98 / 3.44 points", n_seeds, per_class=True) <= 0.015


@pytest.mark.parametrize("n_seeds", SEEDS)
@pytest.mark.parametrize("departure", list(DEPARTURES))
def test_departures_from_the_assumptions_are_measured(departure, n_seeds):
    """Not a promise: what the README says happens when seeds are not normal with one spread. The worst-
    seed check is an outlier test, so wider or heavier-tailed new seeds raise its rate with the seeds."""
    assert departure_rate(departure, n_seeds) <= 0.05


@pytest.mark.parametrize("n_models", [1, 3])
def test_a_three_point_drop_is_caught_at_five_seeds_a_side(n_models):
    assert detection_rate(n_models, 5, 0.03) >= 0.95
    assert detection_rate(n_models, 10, 0.03) >= 0.95


def test_two_seeds_a_side_catch_what_a_per_model_test_can():
    """At 2 + 2 seeds one model's t has 2 df (t = 17 at its share of 1 %): a 3-point drop of a 0.3-point
    model is caught about half the time alone, a fifth of the time beside two others."""
    assert 0.4 < detection_rate(1, 2, 0.03) < 0.6
    assert 0.1 < detection_rate(3, 2, 0.03) < 0.3


@pytest.mark.parametrize("n_seeds", SEEDS)
@pytest.mark.parametrize("spreads", list(SPREADS))
def test_a_single_collapsed_seed_always_fails(spreads, n_seeds):
    """Issue 9, point 2: one new seed at chance fails the gate, whatever the seeds and spreads."""
    stds = SPREADS[spreads]
    checks = gate_for(len(stds), n_seeds)
    failed = simulate(checks, stds, n_seeds, seed=7, collapse=True)
    assert failed["m0"].all()
    worst = next(c for c in checks if isinstance(c, WorstSeed) and c.model == "m0")
    ref = 0.75 + stds[0] * np.random.default_rng(1).standard_normal((100, n_seeds))
    new = ref.copy()
    new[:, 0] = 0.10
    assert worst.fails_on(ref, new).all()


@pytest.mark.parametrize("n_seeds", [2, 5])
def test_the_printed_power_is_the_simulated_detection_rate(n_seeds):
    """"It catches a drop of D points with the power it prints": the power function, at the true std,
    against the mean check's simulated detection rate."""
    check = next(c for c in gate_for(1, n_seeds) if c.metric == "test_accuracy")
    rng = np.random.default_rng(42)
    for drop in (0.005, 0.01, 0.02):
        ref = 0.75 + 0.003 * rng.standard_normal((SIMULATIONS, n_seeds))
        new = 0.75 - drop + 0.003 * rng.standard_normal((SIMULATIONS, n_seeds))
        simulated = np.mean(check.fails_on(ref, new))
        printed = drop_power(drop, 0.003, n_seeds, n_seeds, check.rule.alpha, check.rule.floor)
        assert simulated == pytest.approx(printed, abs=0.015)


WIDEST = 0.036  # one model at 3.6 points: its t margins always above the floor, so it spends its whole share
MARGIN_SIMS = 200_000


@cache
def widest_false_alarms(n_seeds: int) -> tuple[int, int]:
    """Whole-gate false alarms (failures, simulated runs) of one model at the widest spread, unchanged code."""
    rng = np.random.default_rng(17 + n_seeds)
    data = {m: tuple(MEAN[m] + WIDEST * rng.standard_normal((MARGIN_SIMS, n_seeds)) for _ in "rn") for m in MEAN}
    data["worst_seed"] = data["test_accuracy"]
    failed = np.zeros(MARGIN_SIMS, dtype=bool)
    for check in gate_for(1, n_seeds):
        failed |= check.fails_on(*data[check.metric])
    return int(failed.sum()), MARGIN_SIMS


@pytest.mark.parametrize("n_seeds", SEEDS)
def test_the_widest_spread_keeps_a_margin_below_one_percent(n_seeds):
    """Issue 17: designed at 1 %, one model at 3.6 points spent exactly 1.00 % [0.99, 1.01] (4 million runs).
    Designed at 0.9 %: 0.92 / 0.92 / 0.90 / 0.92 % at 2 / 3 / 5 / 10 seeds a side, 95 % Clopper-Pearson
    upper bounds 0.955 / 0.954 / 0.931 / 0.959 %, all below the promised 1 %."""
    failures, sims = widest_false_alarms(n_seeds)
    assert scipy_stats.beta.ppf(0.95, failures + 1, sims - failures) < GATE_ALPHA
    assert failures / sims > 0.85 * DESIGN_ALPHA  # the design is spent, so the margin is what keeps it below


def test_the_printed_power_is_not_optimistic():
    """Issue 17: at 2 seeds a side, a 1-point drop, a seed std of 0.3 points, the power printed from the
    measured std had median 10.5 % and mean 18.5 % (10-90 %: 3.5-46 %) against a true 6.9 % (the mean check's
    simulated rate, 200,000 runs). Printed at the top of the std's 80 % interval: median 1.7 %, mean 3.6 %,
    above the true rate in 9.5 % of runs: a lower bound 90 % of the time, as it says."""
    check = next(c for c in gate_for(1, 2) if c.metric == "test_accuracy")
    rng = np.random.default_rng(42)
    ref, new = 0.75 + 0.003 * rng.standard_normal((2, 200_000, 2))
    true = float(np.mean(check.fails_on(ref, new - 0.01)))
    printed = np.array([check.rule.power(0.01, ref[i], new[i] - 0.01) for i in range(2_000)])
    assert np.median(printed) <= true
    assert np.mean(printed > true) <= 0.12  # 10 % by construction, and Monte Carlo error


def test_simulation_decides_as_run_checks_does():
    """The vectorised decisions are the ones `fmbench check` reports, study by study."""
    rng = np.random.default_rng(3)
    checks = gate_for(2, 3)
    for _ in range(100):
        ref, new, ref_gap, new_gap = ({m: list(mean + 0.01 * rng.standard_normal(3)) for m in ("m0", "m1")}
                                      for mean in (0.75, 0.74, 0.02, 0.03))
        new["m1"][1] = 0.1 if rng.random() < 0.2 else new["m1"][1]
        outcomes = run_checks(build_checks(make_reference(ref, ref_gap), make_study(new, new_gap, first_seed=100)))
        reported = {o.name: o.passed for o in outcomes}
        for check in checks:
            sides = (ref_gap, new_gap) if check.metric == "gap_train_test" else (ref, new)
            decided = check.fails_on(*(np.asarray(side[check.model]) for side in sides))
            assert reported[f"{check.model}.{check.metric}"] == (not decided)


def percent(rate: float) -> str:
    return f"{rate * 100:.1f} %"


def readme_tables() -> list[str]:
    """The README's tables ("Regression gate"), line by line, from the simulations above."""
    lines = ["| seeds a side | " + " | ".join(SPREADS) + " |", "|---" * (len(SPREADS) + 1) + "|"]
    lines += [f"| {n} | " + " | ".join(percent(false_alarm_rate(s, n)) for s in SPREADS) + " |" for n in SEEDS]
    drops = [(m, d) for m in (1, 3) for d in (0.005, 0.01, 0.03)]
    lines += ["| seeds a side | " + " | ".join(f"{d * 100:g} pt, {m} model{'s' if m > 1 else ''}" for m, d in drops)
              + " |", "|---" * (len(drops) + 1) + "|"]
    lines += [f"| {n} | " + " | ".join(percent(detection_rate(m, n, d)) for m, d in drops) + " |" for n in SEEDS]
    lines += ["| seeds a side | " + " | ".join(DEPARTURES) + " |", "|---" * (len(DEPARTURES) + 1) + "|"]
    lines += [f"| {n} | " + " | ".join(percent(departure_rate(d, n)) for d in DEPARTURES) + " |" for n in SEEDS]
    return lines


def test_readme_quotes_these_figures():
    """Issue 9, point 7: the README's gate tables are these simulations' figures, not hopes."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Regression gate", 1)[1].split("\n## ", 1)[0]
    missing = [line for line in readme_tables() if line not in section.splitlines()]
    assert not missing, "README 'Regression gate' lacks:\n" + "\n".join(missing)
    assert "with nothing to pool, Welch" not in readme
