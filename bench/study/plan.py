"""A study's configuration and its plan: what it will do (runs, fits, epochs) and how long that takes.

The estimate is a cost model fitted to fresh-process studies on a 2-core CPU (AMD EPYC, the fast
path), start-up and first compiles included. Measured there: smoke, 2 seeds: 41.5 s, model 41.8 s;
quick, 3 seeds: 464 s (with other work on the machine), model 408 s. Per fit it charges a fixed
cost (build, trace, CV scoring), an XLA compile when the fit is long enough to compile, and
training time proportional to parameters x images x epochs (dense layers: forward and backward
passes scale with the weights), slower at small batches and without XLA (dropout models); per run
it adds the per-epoch validation pass and the final evaluation and prediction.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean

from bench.epochloop import JIT_MIN_STEPS
from bench.models import BASELINE_PARAMS, FAST, CompileOptions
from bench.profiles import STAGES, Profile
from bench.progress import format_duration
from bench.tuning import HALVING_FACTOR

START_UP_S = 6.0  # import TensorFlow, read and check the data, collect the environment
SECONDS_PER_FIT = 0.8  # build, trace, score the held-out fold: smoke fits of 1,600 images take 0.6-0.9 s
SECONDS_PER_RUN = 0.5  # a run's own bookkeeping: mistakes, per-class scores, writing its file
SECONDS_PER_XLA_COMPILE = 0.6  # quick stage 1: 2.83 s at 5 epochs, 4.49 s at 10 -> 1.17 s fixed per fit
# Training seconds per parameter per image per epoch at batch size 32: 1.17e-5 s per image-epoch
# at 109k parameters, 2.4e-5 at 235k (quick stages 4 and 5).
SECONDS_PER_PARAM_IMAGE = 1.07e-10
INFERENCE_SHARE = 1 / 3  # a forward pass is about a third of a training step
DROPOUT_SLOWDOWN = 3.0  # dropout models run without XLA (bench.epochloop): 15.4 s against 4.6 s per fit
HALVING_PARALLEL_SPEEDUP = 1.9  # the halving search's fold workers on two cores


@dataclass
class StudyConfig:
    profile: Profile
    seeds: list[int]
    models: list[str]
    out: Path
    data_dir: str | None = None
    tune_per_seed: bool = False
    study: str = ""
    command: list[str] = field(default_factory=list)
    options: CompileOptions = FAST
    save_models: bool = False
    started_at: float | None = None  # time.perf_counter() at process start: wall time includes start-up

    @property
    def name(self) -> str:
        return self.study or self.out.name


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


def mlp_params(*widths: int) -> int:
    """Weights and biases of a dense stack from 784 pixels through ``widths`` to 10 logits."""
    sizes = [784, *widths, 10]
    return sum(a * b + b for a, b in itertools.pairwise(sizes))


@dataclass(frozen=True)
class Fit:
    """What a fit's cost depends on: images, epochs, batch size, parameters, dropout."""

    images: float
    epochs: float
    batch_size: int
    params: float
    dropout: bool = False

    def seconds_per_image_epoch(self) -> float:
        batch = 0.4 + 0.6 * 32 / self.batch_size  # quick stage 2: batch 128 takes 0.58 of batch 32's time
        return SECONDS_PER_PARAM_IMAGE * self.params * batch * (DROPOUT_SLOWDOWN if self.dropout else 1.0)

    def seconds(self) -> float:
        compiles = not self.dropout and self.images // self.batch_size * self.epochs >= JIT_MIN_STEPS
        overhead = SECONDS_PER_FIT + (SECONDS_PER_XLA_COMPILE if compiles else 0.0)
        return overhead + self.images * self.epochs * self.seconds_per_image_epoch()


def run_seconds(fit: Fit, n_validation: int, n_test: int) -> float:
    """A run: its fit, validation every epoch, then evaluating train / validation / test and predicting."""
    inferred = n_validation * fit.epochs + fit.images + n_validation + 2 * n_test
    inference = inferred * SECONDS_PER_PARAM_IMAGE * fit.params * INFERENCE_SHARE
    return SECONDS_PER_RUN + fit.seconds() + inference


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


def expected_tuned(p: Profile) -> dict:
    """What the plan assumes the search picks, before it runs: the longest epochs (longer training
    usually wins), the mean model size over the neuron grids, no dropout if the grid allows none
    (on quick, 0.0 won), the profile's batch size; quick, 3 seeds: 256/128 neurons won, so the
    assumed mean under-counts the later stages a little."""
    sizes = [mlp_params(a, b) for a in p.grids["neurons1"] for b in p.grids["neurons2"]]
    return {"epochs": max(p.grids["epochs"]), "batch_size": p.batch_size, "params": fmean(sizes),
            "dropout": min(p.grids["dropout"]) > 0}


def stage_candidates(p: Profile, names: tuple[str, ...], before: dict) -> list[Fit]:
    """One Fit per candidate of a stage, on a whole training fold."""
    grids = [p.grids[name] for name in names]
    fits = []
    for values in itertools.product(*grids):
        chosen = dict(zip(names, values, strict=True))
        widths = (chosen.get("neurons1"), chosen.get("neurons2"))
        params = mlp_params(*widths) if None not in widths else before["params"]
        fits.append(Fit(0, chosen.get("epochs", before["epochs"]), chosen.get("batch_size", before["batch_size"]),
                        params, chosen.get("dropout", 0.0) > 0 if "dropout" in chosen else before["dropout"]))
    return fits


def stage_cost(p: Profile, names: tuple[str, ...], fold_n: int, before: dict) -> tuple[int, int, float]:
    """Fits, epochs and estimated seconds of one grid stage with the profile's search."""
    candidates = stage_candidates(p, names, before)
    fits = epochs = 0
    seconds = 0.0
    for kept, share in search_rounds(p.search, len(candidates)):
        mean_epochs = fmean(c.epochs for c in candidates)
        fits += kept * p.cv_folds
        epochs += round(kept * p.cv_folds * mean_epochs)
        each = fmean(Fit(fold_n * share, c.epochs, c.batch_size, c.params, c.dropout).seconds() for c in candidates)
        seconds += kept * p.cv_folds * each
    if p.search == "halving":
        seconds /= HALVING_PARALLEL_SPEEDUP
    return fits, epochs, seconds


def tuning_cost(p: Profile, n_fit: int) -> tuple[int, int, float]:
    """Fits, epochs and seconds of one six-stage search; before stage 1 the defaults hold."""
    fold_n = int(n_fit * (p.cv_folds - 1) / p.cv_folds)
    d = p.tuned_defaults
    before = {"epochs": d["epochs"], "batch_size": d["batch_size"], "dropout": d["dropout"] > 0,
              "params": mlp_params(d["neurons1"], d["neurons2"])}
    expected = expected_tuned(p)
    fits = epochs = 0
    seconds = 0.0
    for _, names in STAGES:
        stage = stage_cost(p, names, fold_n, before)
        fits, epochs, seconds = fits + stage[0], epochs + stage[1], seconds + stage[2]
        before.update({key: expected[key] for key in _decided(names)})
    return fits, epochs, seconds


def _decided(names: tuple[str, ...]) -> list[str]:
    keys = {"epochs": "epochs", "batch_size": "batch_size", "dropout": "dropout", "neurons1": "params",
            "neurons2": "params"}
    return [keys[name] for name in names if name in keys]


def plan(config: StudyConfig, n_available: int = 60000) -> Plan:
    """Count runs, fits and epochs, and estimate wall time (start-up included) before anything starts."""
    p = config.profile
    n_pool = p.n_train or n_available
    n_fit = int(n_pool * (1 - p.validation_fraction))
    n_val, n_test = n_pool - n_fit, p.n_test or 10000
    seeds = len(config.seeds)
    runs = seeds * len(config.models)
    fits, epochs, seconds = runs, 0, START_UP_S
    if "baseline" in config.models:
        epochs += p.baseline_epochs * seeds
        baseline = Fit(n_fit, p.baseline_epochs, p.batch_size, mlp_params(BASELINE_PARAMS["units"]))
        seconds += seeds * run_seconds(baseline, n_val, n_test)
    searches = 0
    if "tuned" in config.models:
        searches = seeds if config.tune_per_seed else 1
        search_fits, search_epochs, search_seconds = tuning_cost(p, n_fit)
        fits, epochs, seconds = fits + searches * search_fits, epochs + searches * search_epochs, \
            seconds + searches * search_seconds
        expected = expected_tuned(p)
        tuned = Fit(n_fit, expected["epochs"], expected["batch_size"], expected["params"], expected["dropout"])
        epochs += expected["epochs"] * seeds
        seconds += seeds * run_seconds(tuned, n_val, n_test)
    return Plan(runs=runs, tuning_searches=searches, fits=fits, epochs=epochs, estimate_s=seconds)
