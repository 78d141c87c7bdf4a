"""bench.study.plan: the up-front plan counts what the study will do and estimates its time."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from bench import models, profiles
from bench.progress import format_duration
from bench.study import plan as planning
from bench.study import speed


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


def test_on_this_machine_the_estimate_is_the_measured_start_up_plus_the_units_slowed_by_the_load():
    raw = planning.plan(_config(["baseline", "tuned"]))
    busy = raw.at_speed(3.0, started_s=12.5)
    assert busy.estimate_s == pytest.approx(12.5 + 3.0 * (raw.estimate_s - planning.START_UP_S))
    assert busy.costs["tuned"].stage_s == pytest.approx([3.0 * s for s in raw.costs["tuned"].stage_s])
    assert busy.costs["baseline"].run_s == pytest.approx(3.0 * raw.costs["baseline"].run_s)
    assert (busy.runs, busy.fits, busy.epochs) == (raw.runs, raw.fits, raw.epochs)


def test_a_keras_run_pays_for_each_inference_call_and_every_timed_test_pass():
    from bench.train.training import INFERENCE_REPEATS

    fit = planning.Fit(images=2400, epochs=2, batch_size=32, per_image=1e-5)
    calls = 2 + 3 + 1 + INFERENCE_REPEATS  # validation per epoch; train, validation, test; warm-up; timed passes
    images = 600 * 2 + 2400 + 600 + (1 + INFERENCE_REPEATS) * 10000
    per_image = planning.INFERENCE_IMAGE_S + 1e-5 * planning.INFERENCE_SHARE
    assert planning.run_seconds(fit, 600, 10000) == pytest.approx(
        planning.SECONDS_PER_RUN + fit.seconds() + calls * planning.INFERENCE_CALL_S + images * per_image)
    assert planning.run_seconds(fit, 600, 10000, call_s=0.0) == pytest.approx(
        planning.SECONDS_PER_RUN + fit.seconds() + images * per_image)


def test_the_load_is_the_quietest_part_of_a_second_of_other_threads_ready_to_run(monkeypatch):
    counts, naps = iter([3, 3, 2, 2, 4, 2, 2, 3, 9, 9]), []  # a burst at the end does not count
    assert speed.others_running(1.0, samples=10, windows=5, read=lambda: next(counts), sleep=naps.append) == 1.0
    assert naps == [0.1] * 10  # the sampler's own thread is one of the 2 it counts at the quietest
    monkeypatch.setattr(speed.os, "getloadavg", lambda: (1.5, 1.0, 0.5))
    assert speed.others_running(read=lambda: None, sleep=naps.append) == 1.5  # no /proc/stat: the load average


def test_other_threads_cost_little_while_a_core_is_free_and_much_once_every_core_is_taken():
    assert speed.slowdown(0.0, cores=2) == 1.0
    assert speed.slowdown(1.0, cores=2) == 1.0 + speed.ONE_BUSY  # one busy process beside it: measured 1.0-1.66x
    assert speed.slowdown(2.0, cores=2) == 1.0 + speed.ONE_BUSY + speed.CONTENTION  # two: measured 1.95-3.04x
    assert speed.slowdown(9.0, cores=2) == speed.MAX_SLOWDOWN
    assert speed.slowdown(1.0, cores=8) == 1.0 + speed.ONE_BUSY / 7


@pytest.mark.skipif(not speed.PROC_STAT.exists(), reason="Linux's /proc/stat")
def test_the_kernel_count_of_runnable_threads_includes_the_one_asking():
    assert speed._runnable() >= 1


def test_the_last_line_names_the_estimates_the_wall_time_is_compared_with():
    from bench.study.runner import Driver

    start_only = SimpleNamespace(manifest=SimpleNamespace(estimate_s=42.0), bar=SimpleNamespace(refreshed=[]))
    assert Driver._estimated(start_only) == "estimated 42 s at start"
    refreshed = SimpleNamespace(manifest=SimpleNamespace(estimate_s=42.0),
                                bar=SimpleNamespace(refreshed=[(130.0, 1), (84.0, 3)], count=10))
    assert Driver._estimated(refreshed) == "estimated 42 s at start, 84 s after 3 of 10 units"


class _TimedFamily:
    """A family that times a user's model at 1e-4 s per image-epoch (what the Keras family measures)."""

    def __init__(self, seconds):
        self.seconds, self.asked = seconds, []

    def seconds_per_image(self, spec, params):
        self.asked.append(spec.name)
        return self.seconds

    def __getattr__(self, name):  # everything else as the built-in's family
        return getattr(models.builtins()["baseline"].family, name)


def test_a_user_model_is_costed_by_its_own_timed_training_step_and_built_ins_are_not():
    import dataclasses

    profile = profiles.resolve("smoke")
    baseline, tuned = models.resolve(["baseline", "tuned"], profile)
    family = _TimedFamily(1e-4)
    mine = dataclasses.replace(tuned, spec=dataclasses.replace(tuned.spec, name="mine", user=True, family=family))
    config = speed.with_measured_costs(dataclasses.make_dataclass("C", ["setups"])([baseline, mine]))
    assert family.asked == ["mine"]  # the user's model only
    assert config.setups[0] is baseline and config.setups[1].spec.cost({}) == 1e-4
    untimed = dataclasses.replace(mine, spec=dataclasses.replace(mine.spec, family=_TimedFamily(None)))
    (kept,) = speed.with_measured_costs(dataclasses.make_dataclass("C", ["setups"])([untimed])).setups
    assert kept is untimed  # a family that cannot time it leaves the default cost
