"""Staged grid search for any tunable model: the reference's six stages over a scikeras
KerasClassifier for the MLP, a model's own stages for the others (an estimator is searched directly).

Each stage searches its own parameters with every earlier stage's winners fixed,
and keeps scikit-learn's full ``cv_results_`` (per-fold scores, mean/std, ranks, fit
times), so a report can show every candidate and not only the winner.

Two searches: "exhaustive" is the reference's GridSearchCV (every candidate, every fold,
all the data, one fit after another). "halving" is scikit-learn's successive halving
over training samples (HalvingGridSearchCV, factor 3): every candidate is scored on a
small sample, the best third goes on to three times the data, until the last round
uses all of it; its folds run in parallel worker processes. Its ``cv_results_`` add
``iter`` and ``n_resources``; its best score comes from the full-data round.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any

import numpy as np
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from bench.models import FAST, FIT_PARAMS, CompileOptions, ModelSetup
from bench.profiles import Profile
from bench.progress import Progress, epoch_callback
from bench.results import Stage, Tuning, to_jsonable

PREDICT_BATCH = 1000  # scoring a fold: predictions do not depend on the batch size, the time does


def search_name(param: str) -> str:
    """The scikeras parameter name for one of our hyperparameters."""
    return param if param in FIT_PARAMS else f"model__{param}"


def plain_name(param: str) -> str:
    return param.removeprefix("model__")


def build_from_spec(name: str, factory: str, user: bool, options: CompileOptions, **params):
    """scikeras' ``model`` for a registered or user model. Bound with functools.partial, which scikeras
    accepts and pickles by name, so the halving search's worker processes can build it too."""
    from bench.models import builtins
    from bench.models.keras_base import prepare
    from bench.models.user import load_factory

    for routed in ("meta", "compile_kwargs", "params"):  # scikeras passes these to callables taking **kwargs
        params.pop(routed, None)
    if user:
        return prepare(load_factory(factory, f"model {name!r}")(params), params, options)
    return builtins()[name].build(params, options)


def make_estimator(setup: ModelSetup, params: dict[str, Any], seed: int, options: CompileOptions, callbacks: list):
    """What a stage searches: a KerasClassifier around the model's builder, or the estimator itself."""
    if setup.spec.kind == "sklearn":
        from bench.train.estimator import seeded

        return seeded(setup.spec.build(setup.spec.builder_params(params)), seed)
    from bench.train.classifier import FashionClassifier

    model_args = {search_name(k): v for k, v in params.items() if k not in FIT_PARAMS}
    build = functools.partial(build_from_spec, setup.name, setup.spec.factory, setup.spec.user, options)
    return FashionClassifier(
        model=build, epochs=params["epochs"], batch_size=params["batch_size"],
        predict__batch_size=PREDICT_BATCH, random_state=seed, verbose=0, callbacks=callbacks, **model_args,
    )


def cv_results_record(cv_results: dict[str, Any]) -> dict[str, list]:
    """cv_results_ as JSON lists; ``param_*`` masked arrays are dropped (``params`` holds them)."""
    kept = {k: v for k, v in cv_results.items() if not k.startswith("param_")}
    kept["params"] = [{plain_name(k): v for k, v in p.items()} for p in cv_results["params"]]
    return to_jsonable(kept)


HALVING_FACTOR = 3
WORKER_THREADS_ENV = "FMBENCH_WORKER_THREADS"  # TensorFlow threads per grid-search worker (bench.train.classifier)


def parallel_workers(n_folds: int) -> int:
    """Worker processes for the halving search's fits: one per fold, at most one per core."""
    return max(1, min(n_folds, os.cpu_count() or 1))


def make_search(kind: str, estimator, grid: dict[str, list], n_folds: int, seed: int):
    """GridSearchCV ("exhaustive") or HalvingGridSearchCV over samples ("halving"), same folds and scoring."""
    # return_train_score off for both (HalvingGridSearchCV defaults it on): the same record, no extra scoring.
    common = dict(scoring="accuracy", refit=False, error_score="raise", return_train_score=False,
                  cv=StratifiedKFold(n_folds, shuffle=True, random_state=seed))
    if kind == "exhaustive":
        return GridSearchCV(estimator, grid, **common)
    if kind != "halving":
        raise ValueError(f"unknown search {kind!r}")
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401  (registers the class)
    from sklearn.model_selection import HalvingGridSearchCV

    # Read by each worker process as it starts (they inherit this process's environment).
    os.environ.setdefault(WORKER_THREADS_ENV, str(max(1, (os.cpu_count() or 1) // parallel_workers(n_folds))))

    return HalvingGridSearchCV(estimator, grid, factor=HALVING_FACTOR, resource="n_samples",
                               min_resources="exhaust", random_state=seed, n_jobs=parallel_workers(n_folds),
                               **common)


def _stage_bar(setup: ModelSetup, index: int, kind: str, grid: dict, fixed: dict, folds: int, progress: Progress):
    """An epoch bar for an exhaustive Keras stage; a one-step bar where fits run elsewhere or have no epochs."""
    name, params = setup.stages[index]
    n_candidates = int(np.prod([len(v) for v in grid.values()]))
    label = f"{setup.name} stage {index + 1}/{len(setup.stages)} {name}"
    if kind == "exhaustive" and setup.spec.kind == "keras":
        epochs_each = [fixed["epochs"]] if "epochs" not in params else setup.grids["epochs"]
        total_epochs = sum(epochs_each) * n_candidates * folds // len(epochs_each)
        bar = progress.bar(total_epochs, f"{label} ({n_candidates * folds} fits)", "epoch")
        return bar, [epoch_callback(bar)]
    # Halving fits run in worker processes, which cannot move this process's bar.
    return progress.bar(1, f"{label} ({n_candidates} candidates, {kind})", "stage"), []


def run_stage(setup: ModelSetup, index: int, x: np.ndarray, y: np.ndarray, fixed: dict[str, Any], profile: Profile,
              seed: int, progress: Progress, options: CompileOptions = FAST, search_kind: str | None = None) -> Stage:
    """One stage; ``search_kind`` overrides the profile's search (``fmbench perf`` times both)."""
    name, params = setup.stages[index]
    kind = search_kind or profile.search
    keras_model = setup.spec.kind == "keras"
    grid = {search_name(p) if keras_model else p: list(setup.grids[p]) for p in params}
    bar, callbacks = _stage_bar(setup, index, kind, grid, fixed, profile.cv_folds, progress)
    estimator = make_estimator(setup, fixed, seed, options, callbacks)
    search = make_search(kind, estimator, grid, profile.cv_folds, seed)
    start = time.perf_counter()
    search.fit(x, y)
    bar.update(bar.total - bar.n)
    bar.close()
    best = {plain_name(k): to_jsonable(v) for k, v in search.best_params_.items()}
    return Stage(index=index + 1, name=name, param_grid={plain_name(k): to_jsonable(v) for k, v in grid.items()},
                 fixed=to_jsonable(fixed), cv_results=cv_results_record(search.cv_results_), best_params=best,
                 best_score=float(search.best_score_), n_folds=profile.cv_folds,
                 wall_s=time.perf_counter() - start)


def tune(setup: ModelSetup, x: np.ndarray, y: np.ndarray, profile: Profile, seed: int, progress: Progress,
         options: CompileOptions = FAST) -> Tuning:
    """Run the model's stages in order with the profile's search; each stage's winners are fixed for the next."""
    start = time.perf_counter()
    fixed = dict(setup.params)
    stages = []
    for index in range(len(setup.stages)):
        stage = run_stage(setup, index, x, y, fixed, profile, seed, progress, options)
        fixed.update(stage.best_params)
        stages.append(stage)
        progress.say(f"  stage {stage.index} {stage.name}: best {stage.best_params} "
                     f"(CV accuracy {stage.best_score:.4f}, {stage.wall_s:.0f} s)")
    return Tuning(model=setup.name, seed=seed, search=profile.search, n_train=len(y), stages=stages,
                  best_params=to_jsonable(fixed), wall_s=time.perf_counter() - start)
