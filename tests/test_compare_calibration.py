"""Do compare's verdicts keep their 5 %, and is its seed advice honest? Monte Carlo, fixed RNG seeds.

Two studies of one recipe are simulated image by image (10,000 test images of fixed difficulty), each
run with its own shift (run-level variance: the seed std lands at 0.27-0.32 points, inside the audit's
0.24-0.34).
Each simulated comparison goes through compare's own ``difference_of_means``, ``paired_difference``,
``adjust`` (Holm) and ``Versus.significant``. McNemar pooled over seeds, the old study-level test, is
measured on the same runs for contrast.
"""

from __future__ import annotations

import gc
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from bench.analysis.compare import Versus, adjust, advise
from bench.analysis.significance import (
    difference_of_means,
    mcnemar_from_counts,
    paired_difference,
    seeds_needed,
    welch,
)

N_IMAGES = 10_000
CHUNK = 250
# (seeds a study, std of a run's shift, simulated comparisons): seed stds of 0.27-0.32 points
CASES = [(2, 0.012, 2000), (3, 0.005, 2000), (3, 0.012, 2000), (5, 0.012, 1500)]


@pytest.fixture(autouse=True)
def _holm_without_a_full_collection(monkeypatch):
    """statsmodels' Holm calls gc.collect() every time (46 ms with pytest's heap): thousands of simulated
    comparisons would take minutes. The arithmetic is untouched."""
    monkeypatch.setattr(gc, "collect", lambda *args: 0)


def row(model: str, a, b) -> Versus:
    """One model's study-level tests, as compare_model makes them from the runs' accuracies."""
    a, b = [float(v) for v in a], [float(v) for v in b]
    return Versus(model, "B vs A", tuple(a), tuple(b), difference_of_means(a, b), paired_difference(a, b), [],
                  None, "", None, None)


def runs(rng: np.random.Generator, easiness: np.ndarray, sims: int, seeds: int, run_std: float) -> np.ndarray:
    """Per-image correctness (sims, seeds, images): easiness + the run's shift + per-image noise > 0."""
    shift = rng.normal(0.0, run_std, (sims, seeds, 1)).astype(np.float32)
    noise = rng.standard_normal((sims, seeds, N_IMAGES), dtype=np.float32) * np.float32(0.7)
    return (easiness + shift + noise) > 0


@cache
def same_recipe(seeds: int, run_std: float, sims: int) -> dict[str, float]:
    """Rates over ``sims`` comparisons of two studies of one recipe on different machines."""
    rng = np.random.default_rng(seeds * 100 + round(run_std * 1000))
    easiness = rng.normal(1.2, 2.0, N_IMAGES).astype(np.float32)  # about 72 % accuracy, 12 % churn
    significant, pooled, stds = [], [], []
    for _ in range(sims // CHUNK):
        a, b = runs(rng, easiness, CHUNK, seeds, run_std), runs(rng, easiness, CHUNK, seeds, run_std)
        acc_a, acc_b = a.mean(axis=-1), b.mean(axis=-1)
        significant += [adjust([row("m", x, y)])[0].significant for x, y in zip(acc_a, acc_b, strict=True)]
        only_a, only_b = (a & ~b).sum(axis=(1, 2)), (~a & b).sum(axis=(1, 2))
        pooled += [mcnemar_from_counts(int(x), int(y)) < 0.05 for x, y in zip(only_a, only_b, strict=True)]
        stds.append(acc_a.std(axis=-1, ddof=1))
    return {"significant": float(np.mean(significant)), "pooled_mcnemar": float(np.mean(pooled)),
            "seed_std": float(np.sqrt(np.mean(np.concatenate(stds) ** 2)))}


@pytest.mark.parametrize(("seeds", "run_std", "sims"), CASES)
def test_study_level_verdict_keeps_its_five_percent_with_run_level_variance(seeds, run_std, sims):
    """Issue 9, point 3: a verdict on seeds stays near 5 %; pooled McNemar did not (printed for contrast)."""
    rates = same_recipe(seeds, run_std, sims)
    assert 0.0024 < rates["seed_std"] < 0.0036  # the audit's realistic 0.24-0.34 points
    assert rates["significant"] <= 0.06
    print(f"{seeds} seeds, seed std {rates['seed_std'] * 100:.2f} points: significant {rates['significant']:.1%}, "
          f"pooled McNemar {rates['pooled_mcnemar']:.1%}")


def test_pooled_mcnemar_would_have_called_one_recipe_different():
    """Why McNemar no longer decides: on the same simulated runs (seed std 0.32 points), pooled over 3
    seeds, it calls one recipe different about 12 % of the time, more than twice the 5 % it claims."""
    assert same_recipe(3, 0.012, 2000)["pooled_mcnemar"] > 0.09


@cache
def any_row_significant(sims: int = 2000) -> float:
    """Two models x two studies against A, all of one recipe (normal seeds, 3 a study): any row shaded."""
    rng = np.random.default_rng(11)
    found = []
    for _ in range(sims):
        a = {m: rng.normal(0.75, 0.003, 3) for m in ("baseline", "tuned")}
        rows = [row(m, a[m], rng.normal(0.75, 0.003, 3)) for m in a for _ in ("B", "C")]
        found.append(any(v.significant for v in adjust(rows)))
    return float(np.mean(found))


def test_holm_keeps_five_percent_over_models_and_studies():
    """Issue 9, point 4: Holm over the eight p-values of a 2 models x 2 studies table."""
    assert any_row_significant() <= 0.06


@cache
def advice_from_two_seeds(sims: int = 400) -> np.ndarray:
    """Seed advice (low, point, high) from 2 + 2 seeds whose true std is 0.3 points, as compare gives it
    (``advise``: at Holm's strictest level over the row's Welch and paired tests, 0.05 / 2)."""
    rng = np.random.default_rng(6)
    found = []
    for _ in range(sims):
        advice = advise([row("m", rng.normal(0.75, 0.003, 2), rng.normal(0.75, 0.003, 2))], 0.005)[0].advice
        assert advice.alpha == 0.025
        found.append((advice.seeds_low, advice.seeds, advice.seeds_high or 10**6))
    return np.array(found)


def right_answer() -> int:
    """The seeds compare's Welch test needs at the true std, at the level compare advises for (0.05 / 2)."""
    return seeds_needed(0.003, 0.005, alpha=0.025)


def test_seed_advice_from_two_seeds_says_how_unsure_it_is():
    """Issue 9, point 6: the point advice from 2 + 2 seeds is too often too low; the range from the std's
    80 % interval contains the right number about 80 % of the time and is entirely too low about 10 % of
    the time. Issue 17: the right number is 9 at the level compare uses, 0.05 / 2 (7 was sized at 0.05)."""
    right = right_answer()
    assert right == 9 and seeds_needed(0.003, 0.005) == 7
    advice = advice_from_two_seeds()
    assert np.mean(advice[:, 1] < right) > 0.45  # why a single number is not enough
    assert np.mean((advice[:, 0] <= right) & (right <= advice[:, 2])) >= 0.76
    assert np.mean(advice[:, 2] < right) <= 0.11


def test_advice_is_sized_for_the_welch_test_compare_runs():
    """At the advised number of seeds, simulated Welch tests detect the difference 80 % of the time."""
    n = seeds_needed(0.003, 0.005)
    rng = np.random.default_rng(8)
    a, b = rng.normal(0.75, 0.003, (20_000, n)), rng.normal(0.755, 0.003, (20_000, n))
    assert np.mean(welch(a, b).p_value < 0.05) == pytest.approx(0.80, abs=0.015)
    a, b = a[:, : n - 1], b[:, : n - 1]
    assert np.mean(welch(a, b).p_value < 0.05) < 0.78



def readme_tables() -> list[str]:
    """The README's tables ("Comparing studies"), line by line, from the simulations above."""
    percent = "{:.1%}".format
    lines = ["| seeds a study | seed std | shaded (Welch and paired t, Holm) | McNemar pooled over seeds (before) |",
             "|---|---|---|---|"]
    for seeds, run_std, sims in CASES:
        rates = same_recipe(seeds, run_std, sims)
        lines.append(f"| {seeds} | {rates['seed_std'] * 100:.2f} points | {percent(rates['significant'])} | "
                     f"{percent(rates['pooled_mcnemar'])} |")
    advice, right = advice_from_two_seeds(), right_answer()
    lines += ["| simulated case | rate |", "|---|---|",
              "| any row shaded, 2 models x 2 studies of one recipe, 3 seeds each | "
              f"{percent(any_row_significant())} |",
              f"| advice from 2 + 2 seeds (true std 0.3 points, right answer {right}): the point advice too low | "
              f"{percent(np.mean(advice[:, 1] < right))} |",
              f"| the same: the range contains the right answer | "
              f"{percent(np.mean((advice[:, 0] <= right) & (right <= advice[:, 2])))} |",
              f"| the same: the whole range too low | {percent(np.mean(advice[:, 2] < right))} |"]
    return [line.replace("%", " %") for line in lines]


def test_readme_quotes_these_figures():
    """Issue 9, point 7: the README's comparison tables are these simulations' figures."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Comparing studies", 1)[1].split("\n## ", 1)[0]
    missing = [line for line in readme_tables() if line not in section.splitlines()]
    assert not missing, "README 'Comparing studies' lacks:\n" + "\n".join(missing)
