"""The reference's six sequential grid-search stages over a scikeras KerasClassifier.

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

import os
import time
from typing import Any

import numpy as np
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from bench.models import FAST, CompileOptions, build_tunable
from bench.profiles import STAGES, Profile
from bench.progress import Progress, epoch_callback
from bench.results import Stage, Tuning, to_jsonable

FIT_PARAMS = ("epochs", "batch_size")  # KerasClassifier's own; the rest go to the model builder
PREDICT_BATCH = 1000  # scoring a fold: predictions do not depend on the batch size, the time does


def search_name(param: str) -> str:
    """The scikeras parameter name for one of our hyperparameters."""
    return param if param in FIT_PARAMS else f"model__{param}"


def plain_name(param: str) -> str:
    return param.removeprefix("model__")


def make_classifier(params: dict[str, Any], seed: int, options: CompileOptions, callbacks: list):
    from bench.classifier import FashionClassifier

    model_args = {search_name(k): v for k, v in params.items() if k not in FIT_PARAMS}
    return FashionClassifier(
        model=build_tunable, epochs=params["epochs"], batch_size=params["batch_size"],
        predict__batch_size=PREDICT_BATCH,
        model__options=options, random_state=seed, verbose=0, callbacks=callbacks, **model_args,
    )


def cv_results_record(cv_results: dict[str, Any]) -> dict[str, list]:
    """cv_results_ as JSON lists; ``param_*`` masked arrays are dropped (``params`` holds them)."""
    kept = {k: v for k, v in cv_results.items() if not k.startswith("param_")}
    kept["params"] = [{plain_name(k): v for k, v in p.items()} for p in cv_results["params"]]
    return to_jsonable(kept)


HALVING_FACTOR = 3
WORKER_THREADS_ENV = "FMBENCH_WORKER_THREADS"  # TensorFlow threads per grid-search worker (bench.classifier)


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


def run_stage(index: int, x: np.ndarray, y: np.ndarray, fixed: dict[str, Any], profile: Profile, seed: int,
              progress: Progress, options: CompileOptions = FAST, search_kind: str | None = None) -> Stage:
    """One stage; ``search_kind`` overrides the profile's search (``fmbench perf`` times both)."""
    name, params = STAGES[index]
    kind = search_kind or profile.search
    grid = {search_name(p): list(profile.grids[p]) for p in params}
    n_candidates = int(np.prod([len(v) for v in grid.values()]))
    n_fits = n_candidates * profile.cv_folds
    epochs_each = [fixed["epochs"]] if "epochs" not in params else profile.grids["epochs"]
    total_epochs = sum(epochs_each) * n_fits // len(epochs_each)
    if kind == "exhaustive":
        bar = progress.bar(total_epochs, f"stage {index + 1}/6 {name} ({n_fits} fits)", "epoch")
        callbacks = [epoch_callback(bar)]
    else:  # fits run in worker processes, which cannot move this process's bar
        bar = progress.bar(1, f"stage {index + 1}/6 {name} ({n_candidates} candidates, halving, "
                              f"{parallel_workers(profile.cv_folds)} workers)", "stage")
        callbacks = []
    search = make_search(kind, make_classifier(fixed, seed, options, callbacks), grid, profile.cv_folds, seed)
    start = time.perf_counter()
    search.fit(x, y)
    bar.update(bar.total - bar.n)
    bar.close()
    best = {plain_name(k): to_jsonable(v) for k, v in search.best_params_.items()}
    return Stage(index=index + 1, name=name, param_grid={plain_name(k): to_jsonable(v) for k, v in grid.items()},
                 fixed=to_jsonable(fixed), cv_results=cv_results_record(search.cv_results_), best_params=best,
                 best_score=float(search.best_score_), n_folds=profile.cv_folds,
                 wall_s=time.perf_counter() - start)


def tune(x: np.ndarray, y: np.ndarray, profile: Profile, seed: int, progress: Progress,
         options: CompileOptions = FAST) -> Tuning:
    """Run the six stages in order with the profile's search; each stage's winners are fixed for the next."""
    start = time.perf_counter()
    fixed = dict(profile.tuned_defaults)
    stages = []
    for index in range(len(STAGES)):
        stage = run_stage(index, x, y, fixed, profile, seed, progress, options)
        fixed.update(stage.best_params)
        stages.append(stage)
        progress.say(f"  stage {stage.index} {stage.name}: best {stage.best_params} "
                     f"(CV accuracy {stage.best_score:.4f}, {stage.wall_s:.0f} s)")
    return Tuning(seed=seed, search=profile.search, n_train=len(y), stages=stages,
                  best_params=to_jsonable(fixed), wall_s=time.perf_counter() - start)
