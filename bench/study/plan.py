"""A study's configuration and its plan: what it will do (runs, fits, epochs) and how long that takes.

The estimate is a cost model fitted to fresh-process studies on a 2-core CPU (AMD EPYC, the fast
path), start-up and first compiles included. Measured there: smoke, 2 seeds: 41.5 s, model 41.8 s;
quick, 3 seeds: 464 s (with other work on the machine), model 411 s. Per fit it charges a fixed
cost (build, trace, CV scoring), an XLA compile when the fit is long enough to compile, and
training time of images x epochs x the model's own seconds per image-epoch (``ModelSpec.cost``),
slower at small batches; per run it adds the per-epoch validation pass and the final evaluation
and prediction. A staged search is costed stage by stage, assuming each stage's likely winner.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean

from bench.epochloop import JIT_MIN_STEPS
from bench.models import CompileOptions, ModelSetup
from bench.profiles import Profile
from bench.progress import format_duration
from bench.train.tuning import HALVING_FACTOR

START_UP_S = 6.0  # import TensorFlow, read and check the data, collect the environment
SECONDS_PER_FIT = 0.8  # build, trace, score the held-out fold: smoke fits of 1,600 images take 0.6-0.9 s
SECONDS_PER_RUN = 0.5  # a run's own bookkeeping: mistakes, per-class scores, writing its file
SECONDS_PER_XLA_COMPILE = 0.6  # quick stage 1: 2.83 s at 5 epochs, 4.49 s at 10 -> 1.17 s fixed per fit
INFERENCE_SHARE = 1 / 3  # a forward pass is about a third of a training step
HALVING_PARALLEL_SPEEDUP = 1.9  # the halving search's fold workers on two cores


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

    def describe(self, config: StudyConfig) -> str:
        return (f"{config.name}: profile {config.profile.name}, {len(config.seeds)} seed(s) {config.seeds} x "
                f"models {config.models} = {self.runs} runs; {self.tuning_searches} {config.profile.search} tuning "
                f"search(es); "
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
    keras_model = spec.kind == "keras"
    compiles = keras_model and spec.options.jit_compile is True and not params.get("dropout", 0)
    return Fit(images, params.get("epochs", 1) if keras_model else 1, params.get("batch_size", 32) if keras_model
               else 32, spec.cost(params), compiles)


def run_seconds(fit: Fit, n_validation: int, n_test: int) -> float:
    """A run: its fit, validation every epoch, then evaluating train / validation / test and predicting."""
    inferred = n_validation * fit.epochs + fit.images + n_validation + 2 * n_test
    return SECONDS_PER_RUN + fit.seconds() + inferred * fit.per_image * INFERENCE_SHARE


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
        epochs += round(kept * p.cv_folds * fmean(f.epochs for f in each)) if setup.spec.kind == "keras" else 0
        seconds += kept * p.cv_folds * fmean(f.seconds() for f in each)
    if p.search == "halving":
        seconds /= HALVING_PARALLEL_SPEEDUP
    return fits, epochs, seconds


def tuning_cost(setup: ModelSetup, p: Profile, n_fit: int) -> tuple[int, int, float, dict]:
    """Fits, epochs, seconds of one staged search, and the parameters it is assumed to end with."""
    fold_n = int(n_fit * (p.cv_folds - 1) / p.cv_folds)
    params = dict(setup.params)
    fits = epochs = 0
    seconds = 0.0
    for _, names in setup.stages:
        stage = stage_cost(setup, p, names, fold_n, params)
        fits, epochs, seconds = fits + stage[0], epochs + stage[1], seconds + stage[2]
        params.update({name: assumed_winner(setup, name, setup.grids[name]) for name in names})
    return fits, epochs, seconds, params


def plan(config: StudyConfig, n_available: int = 60000) -> Plan:
    """Count runs, fits and epochs, and estimate wall time (start-up included) before anything starts."""
    p = config.profile
    n_pool = p.n_train or n_available
    n_fit = int(n_pool * (1 - p.validation_fraction))
    n_val, n_test = n_pool - n_fit, p.n_test or 10000
    seeds = len(config.seeds)
    fits, epochs, seconds, searches = seeds * len(config.setups), 0, START_UP_S, 0
    for setup in config.setups:
        params = setup.params
        if setup.tuned:
            per_study = seeds if config.tune_per_seed else 1
            searches = max(searches, per_study)
            search_fits, search_epochs, search_seconds, params = tuning_cost(setup, p, n_fit)
            fits, epochs = fits + per_study * search_fits, epochs + per_study * search_epochs
            seconds += per_study * search_seconds
        fit = fit_of(setup, params, n_fit)
        epochs += round(fit.epochs) * seeds if setup.spec.kind == "keras" else 0
        seconds += seeds * run_seconds(fit, n_val, n_test)
    return Plan(runs=seeds * len(config.setups), tuning_searches=searches, fits=fits, epochs=epochs,
                estimate_s=seconds)
