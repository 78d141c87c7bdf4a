"""bench.study.plan: the up-front plan counts what the study will do and estimates its time."""

from __future__ import annotations

from pathlib import Path

from bench import models, profiles
from bench.progress import format_duration
from bench.study import plan as planning


def _config(names, seeds=(0, 1), tune_per_seed=False):
    profile = profiles.resolve("smoke")
    return planning.StudyConfig(profile=profile, seeds=list(seeds), setups=models.resolve(names, profile),
                                out=Path("results/x"), tune_per_seed=tune_per_seed)


def test_plan_counts_runs_fits_and_epochs():
    smoke = profiles.resolve("smoke")
    baseline_only = planning.plan(_config(["baseline"]))
    assert (baseline_only.runs, baseline_only.fits, baseline_only.tuning_searches) == (2, 2, 0)
    assert baseline_only.epochs == 2 * smoke.baseline_epochs
    both = planning.plan(_config(["baseline", "tuned"]))
    # smoke grid: 2 + 2 + 2x1 + 2x1 + 2x1 + 2 = 12 candidates, 3 folds each, plus 4 final runs
    assert both.fits == 12 * 3 + 4 and both.tuning_searches == 1
    per_seed = planning.plan(_config(["baseline", "tuned"], tune_per_seed=True))
    assert per_seed.tuning_searches == 2 and per_seed.fits == 2 * 12 * 3 + 4
    assert per_seed.estimate_s > both.estimate_s > baseline_only.estimate_s > 0


def test_plan_describes_itself():
    config = _config(["baseline"])
    text = planning.plan(config).describe(config)
    assert text.startswith("x: profile smoke, 2 seeds [0, 1] x models ['baseline'] = 2 runs")


def test_format_duration():
    assert [format_duration(s) for s in (4.2, 150, 3725)] == ["4 s", "2.5 min", "1 h 02 min"]
