"""A study's configuration and its plan: what it will do (runs, fits, epochs) and how long that takes.

The estimate is a cost model fitted to fresh-process studies on a 2-core CPU (AMD EPYC, the fast
path) with nothing else running, first compiles included. Per fit it charges a fixed cost (build,
trace, CV scoring), an XLA compile when the fit is long enough to compile, and training time of
images x epochs x the model's own seconds per image-epoch (``ModelSpec.cost``), slower at small
batches; per run it adds the per-epoch validation pass, the final evaluation and the timed test
passes, each inference call at its own fixed cost. A staged search is costed stage by stage,
assuming each stage's likely winner. The driver then puts the start-up as it went in place of
START_UP_S and slows the units by the machine's load (``Plan.at_speed``, ``bench.study.speed``).
Smoke x 2 seeds, measured there: 60-68 s alone (estimated 64-65 s), 65-69 s beside one CPU-bound process
(estimated 73-74 s).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean

from bench.epochloop import JIT_MIN_STEPS
from bench.format import noun, plural
from bench.models import CompileOptions, ModelSetup
from bench.profiles import Profile
from bench.progress import format_duration
from bench.train.tuning import HALVING_FACTOR

START_UP_S = 6.0  # import TensorFlow, read and check the data, collect the environment (measured: at_speed)
# Build, trace, and score the held-out fold (a run's fit validates instead). Smoke stages of 6 fits of 1,600
# images took 6.8-7.6 s on an idle machine (2 cores, Keras 3.15), 0.04-0.07 s of each fit training.
SECONDS_PER_FIT = 1.1
SECONDS_PER_RUN = 0.5  # a run's own bookkeeping: mistakes, per-class scores, writing its file
# Added to SECONDS_PER_FIT when the epoch loop compiles. Quick stage 1 took 2.83 s at 5 epochs and 4.49 s at
# 10: 1.17 s fixed per fit, SECONDS_PER_FIT included, which leaves 0.37 s for the compile. 0.6 is the value
# the whole-study estimates were checked with (b67ef9f: smoke 41.7 s est. vs 41.5 s, quick 411 s vs 464 s).
SECONDS_PER_XLA_COMPILE = 0.6
INFERENCE_SHARE = 1 / 3  # a forward pass is about a third of a training step
# Inference costs more than its arithmetic: each Keras predict or evaluate call 0.12 s whatever its size, and
# each image about 6e-6 s besides the forward pass (the baseline: 1,000 images in 0.13 s, 10,000 in 0.24 s).
# A smoke run of the baseline took 2.9-3.3 s, 1.2-1.4 s of it fitting; the model said 1.4 s before counting
# its 11 calls (the timed test passes of bench.train.training.INFERENCE_REPEATS among them).
INFERENCE_CALL_S = 0.12
INFERENCE_IMAGE_S = 6e-6
# A unit given fewer TensorFlow threads than the machine has cores runs slower than the in-process
# runs this model was fitted to, by (cores / threads) ** THREAD_EXPONENT. How much slower depends on
# the model's width, which the model does not see: measured at 1 thread on 2 cores, quick tuned runs
# took 2.1x, quick baselines 1.2x, reference baselines 1.1x. With 0.3, studies on --workers 2
# --threads-per-run 1 were estimated at 4.8 min for quick x 4 seeds (took 6.0) and 25.7 min for
# reference x 5 seeds, halving (took 19.8): within a third either way.
THREAD_EXPONENT = 0.3


@dataclass
class StudyConfig:
    profile: Profile
    seeds: list[int]
    setups: list[ModelSetup]
    out: Path
    data_dir: str | None = None
    tune_per_seed: bool = False
    study: str = ""
    command: list[str] = field(default_factory=list)
    options: CompileOptions | None = None  # None: each model's own fast-path options
    save_models: bool = False
    started_at: float | None = None  # time.perf_counter() at process start: wall time includes start-up
    requests: dict[str, str] = field(default_factory=dict)  # model -> its --models entry (default: its name)
    threads_per_run: int | None = None  # TensorFlow's threads in every run (None: its default)
    workers: int | None = None  # --workers: a local Dask cluster of this many processes
    scheduler: str | None = None  # --scheduler: an existing Dask cluster's address
    resume: bool = False

    @property
    def parallel_workers(self) -> int:
        """How many units run at once, as far as the plan knows before starting (an existing cluster counts
        as one until the driver has connected and counted its workers)."""
        return self.workers or 1

    def request(self, name: str) -> str:
        return self.requests.get(name, name)

    @property
    def name(self) -> str:
        return self.study or self.out.name

    @property
    def models(self) -> list[str]:
        return [setup.name for setup in self.setups]


@dataclass
class Plan:
    runs: int
    tuning_searches: int
    fits: int
    epochs: int
    estimate_s: float
    costs: dict[str, ModelCost] = field(default_factory=dict)

    def at_speed(self, slowdown: float, started_s: float) -> Plan:
        """This plan on this machine as it is now: the start-up as it went (``started_s``, measured) instead of
        START_UP_S, and every unit ``slowdown`` times the cost model's seconds (``bench.study.speed``)."""
        costs = {name: ModelCost(c.run_s * slowdown, [s * slowdown for s in c.stage_s])
                 for name, c in self.costs.items()}
        work_s = self.estimate_s - START_UP_S
        return dataclasses.replace(self, estimate_s=started_s + slowdown * work_s, costs=costs)

    def describe(self, config: StudyConfig) -> str:
        return (f"{config.name}: profile {config.profile.name}, {plural(len(config.seeds), 'seed')} {config.seeds} x "
                f"models {config.models} = {self.runs} runs; {self.tuning_searches} {config.profile.search} tuning "
                f"{noun(self.tuning_searches, 'search', 'searches')}; "
                f"{self.fits} fits, {self.epochs} epochs in all; estimated {format_duration(self.estimate_s)}")


@dataclass(frozen=True)
class Fit:
    """What a fit's cost depends on: images, epochs, batch size, the model's seconds per image-epoch."""

    images: float
    epochs: float
    batch_size: int
    per_image: float  # seconds per image per epoch at batch size 32 (ModelSpec.cost)
    compiles: bool = False  # the epoch loop compiles with XLA

    def seconds(self) -> float:
        batch = 0.4 + 0.6 * 32 / self.batch_size  # quick stage 2: batch 128 takes 0.58 of batch 32's time
        steps = self.images // self.batch_size * self.epochs
        overhead = SECONDS_PER_FIT + (SECONDS_PER_XLA_COMPILE if self.compiles and steps >= JIT_MIN_STEPS else 0.0)
        return overhead + self.images * self.epochs * self.per_image * batch


def fit_of(setup: ModelSetup, params: dict, images: float) -> Fit:
    spec = setup.spec
    epochs, batch_size = spec.family.fit_settings(params)
    return Fit(images, epochs, batch_size, spec.cost(params), spec.family.compiles(spec, params))


def run_seconds(fit: Fit, n_validation: int, n_test: int, call_s: float = INFERENCE_CALL_S) -> float:
    """A run: its fit, validation every epoch, evaluating train / validation / test, then predicting the test
    set once to warm up and INFERENCE_REPEATS times timed. ``call_s``: each of those calls' own cost."""
    from bench.train.training import INFERENCE_REPEATS  # here: that module imports scikit-learn's metrics

    calls = fit.epochs + 3 + 1 + INFERENCE_REPEATS
    inferred = n_validation * fit.epochs + fit.images + n_validation + (1 + INFERENCE_REPEATS) * n_test
    per_image = INFERENCE_IMAGE_S + fit.per_image * INFERENCE_SHARE
    return SECONDS_PER_RUN + fit.seconds() + calls * call_s + inferred * per_image


def search_rounds(search: str, candidates: int) -> list[tuple[int, float]]:
    """(candidates fitted, share of the data) per round: one full round, or successive halving."""
    if search != "halving" or candidates == 1:
        return [(candidates, 1.0)]
    n_rounds = 1 + int(math.log(candidates, HALVING_FACTOR) + 1e-9)
    rounds, kept = [], candidates
    for index in range(n_rounds):
        rounds.append((kept, HALVING_FACTOR ** (index - n_rounds + 1)))
        kept = math.ceil(kept / HALVING_FACTOR)
    return rounds


def assumed_winner(setup: ModelSetup, name: str, grid: list):
    """What the plan assumes a stage picks before it runs: the model's own rule (the MLP assumes no
    dropout: on quick, 0.0 won), else the costlier of the two settings that drive time (the longest
    epochs, the smallest batch: on quick, 10 epochs and batch 32 won), else the median of a numeric
    grid, else its first value."""
    if name in setup.spec.assume:
        return setup.spec.assume[name](grid)
    if name in ("epochs", "batch_size"):
        return max(grid) if name == "epochs" else min(grid)
    numbers = sorted(v for v in grid if isinstance(v, (int, float)) and not isinstance(v, bool))
    return numbers[len(numbers) // 2] if len(numbers) == len(grid) else grid[0]


def stage_cost(setup: ModelSetup, p: Profile, names: tuple[str, ...], fold_n: int,
               before: dict) -> tuple[int, int, float]:
    """Fits, epochs and estimated seconds of one grid stage with the profile's search."""
    candidates = [{**before, **dict(zip(names, values, strict=True))}
                  for values in itertools.product(*(setup.grids[name] for name in names))]
    fits = epochs = 0
    seconds = 0.0
    for kept, share in search_rounds(p.search, len(candidates)):
        each = [fit_of(setup, c, fold_n * share) for c in candidates]
        fits += kept * p.cv_folds
        epochs += round(kept * p.cv_folds * fmean(f.epochs for f in each)) if setup.spec.family.epochs else 0
        seconds += kept * p.cv_folds * fmean(f.seconds() for f in each)
    return fits, epochs, seconds


def tuning_cost(setup: ModelSetup, p: Profile, n_fit: int) -> tuple[int, int, list[float], dict]:
    """Fits, epochs, seconds per stage of one staged search, and the parameters it is assumed to end with."""
    fold_n = int(n_fit * (p.cv_folds - 1) / p.cv_folds)
    params = dict(setup.params)
    fits = epochs = 0
    seconds = []
    for _, names in setup.stages:
        stage = stage_cost(setup, p, names, fold_n, params)
        fits, epochs = fits + stage[0], epochs + stage[1]
        seconds.append(stage[2])
        params.update({name: assumed_winner(setup, name, setup.grids[name]) for name in names})
    return fits, epochs, seconds, params


@dataclass
class ModelCost:
    """One model's estimated seconds: each run, and each stage of one search (empty if untuned)."""

    run_s: float
    stage_s: list[float]


def plan(config: StudyConfig, n_available: int = 60000) -> Plan:
    """Count runs, fits and epochs, and estimate wall time (start-up included) before anything starts."""
    p = config.profile
    n_pool = p.n_train or n_available
    n_fit = int(n_pool * (1 - p.validation_fraction))
    n_val, n_test = n_pool - n_fit, p.n_test or 10000
    seeds = len(config.seeds)
    fits, epochs, searches, costs = seeds * len(config.setups), 0, 0, {}
    for setup in config.setups:
        params, stage_s = setup.params, []
        if setup.tuned:
            per_study = seeds if config.tune_per_seed else 1
            searches = max(searches, per_study)
            search_fits, search_epochs, stage_s, params = tuning_cost(setup, p, n_fit)
            fits, epochs = fits + per_study * search_fits, epochs + per_study * search_epochs
        fit = fit_of(setup, params, n_fit)
        epochs += round(fit.epochs) * seeds if setup.spec.family.epochs else 0
        slower = thread_slowdown(config.threads_per_run)
        call_s = INFERENCE_CALL_S if setup.spec.family.epochs else 0.0  # an estimator's predict is a plain call
        costs[setup.name] = ModelCost(slower * run_seconds(fit, n_val, n_test, call_s), [slower * x for x in stage_s])
    return Plan(runs=seeds * len(config.setups), tuning_searches=searches, fits=fits, epochs=epochs,
                estimate_s=START_UP_S + _parallel_seconds(config, costs), costs=costs)


def thread_slowdown(threads: int | None, cores: int | None = None) -> float:
    """How much longer a unit takes at ``threads`` TensorFlow threads than on all of this machine's cores."""
    cores = cores or os.cpu_count() or 1
    return 1.0 if threads is None or threads >= cores else (cores / threads) ** THREAD_EXPONENT


def _parallel_seconds(config: StudyConfig, costs: dict[str, ModelCost]) -> float:
    """Work spread over the workers, but never less than the longest chain: a search's stages one after
    another (a stage's fits spread over every worker), then one run of its tuned model."""
    workers, seeds = config.parallel_workers, len(config.seeds)
    searches = seeds if config.tune_per_seed else 1
    total = sum(seeds * c.run_s + searches * sum(c.stage_s) for c in costs.values())
    chain = max((sum(c.stage_s) / workers + c.run_s for c in costs.values()), default=0.0)
    return max(total / workers, chain)


def tune_seed(config: StudyConfig, seed: int) -> int:
    """The seed a model's search for ``seed`` runs with: the study's first seed, or its own."""
    return seed if config.tune_per_seed else config.seeds[0]


class StudyGraph:
    """The study as units and what each waits for: a model without tuning runs every seed at once; a
    search runs its stages one after another; a tuned model's runs wait for their search."""

    def __init__(self, config: StudyConfig, costs: dict[str, ModelCost], done):
        self.config, self.costs, self.done = config, costs, done
        self.setups = {setup.name: setup for setup in config.setups}

    def searches(self) -> list[tuple[str, int]]:
        """(model, seed) of every search the study runs."""
        seeds = self.config.seeds if self.config.tune_per_seed else self.config.seeds[:1]
        return [(s.name, seed) for s in self.config.setups if s.tuned for seed in seeds]

    def run_order(self) -> list[str]:
        """Run files in the order a report lists them: seed by seed, models in the study's order."""
        return [f"{name}-seed{seed}.json" for seed in self.config.seeds for name in self.setups]

    def first_units(self) -> list:
        """What can start now: the next stage of each unfinished search (first: they are the longest
        chain), then every run whose parameters are known, seed by seed."""
        stages = [self.next_stage(key, self.done.stages.get(key, [])) for key in self.searches()
                  if key not in self.done.tunings]
        runs = [self._run(name, seed, dict(self.setups[name].params)) for seed in self.config.seeds
                for name in self.setups if not self.setups[name].tuned]
        for key, tuning in self.done.tunings.items():
            runs += self.runs_after(key, tuning.best_params)
        return [*stages, *[run for run in runs if run.file_name not in self.done.runs]]

    def next_stage(self, key: tuple[str, int], finished: list):
        from bench.study.units import StageUnit

        setup = self.setups[key[0]]
        fixed = dict(setup.params)
        for stage in finished:
            fixed.update(stage.best_params)
        index = len(finished)
        return StageUnit(key[0], key[1], index, fixed, self.costs[key[0]].stage_s[index])

    def runs_after(self, key: tuple[str, int], params: dict | None) -> list:
        """A finished (or failed) search's runs: every seed, or with --tune-per-seed its own seed only."""
        name, tune_seed = key
        seeds = [tune_seed] if self.config.tune_per_seed else self.config.seeds
        runs = [self._run(name, seed, dict(params or {})) for seed in seeds]
        return [run for run in runs if run.file_name not in self.done.runs]

    def _run(self, name: str, seed: int, params: dict):
        from bench.study.units import RunUnit

        return RunUnit(name, seed, params, self.costs[name].run_s)
