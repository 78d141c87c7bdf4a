"""Staged grid search for any tunable model: the reference's six stages over a scikeras
KerasClassifier for the MLP, a model's own stages for the others. What a stage fits is the model's
family's ``search_estimator`` (a KerasClassifier for a Keras model, an estimator itself).

Each stage searches its own parameters with every earlier stage's winners fixed,
and keeps scikit-learn's full ``cv_results_`` (per-fold scores, mean/std, ranks, fit
times), so a report can show every candidate and not only the winner.

Two searches: "exhaustive" is the reference's GridSearchCV (every candidate, every fold,
all the data, one fit after another). "halving" is scikit-learn's successive halving
over training samples (HalvingGridSearchCV, factor 3): every candidate is scored on a
small sample, the best third goes on to three times the data, until the last round
uses all of it. Its ``cv_results_`` add ``iter`` and ``n_resources``; its best score comes from the
full-data round.

Either search fits one candidate and fold after another in this process, or, on a Dask cluster
(``parallel``), hands its candidates x folds to the cluster through joblib's Dask backend. Each
fit is seeded by the search's seed, so the order fits run in does not change any score.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench.models import FAST, CompileOptions, ModelSetup
from bench.profiles import Profile
from bench.progress import Progress, epoch_callback
from bench.results import Stage, to_jsonable


def plain_name(param: str) -> str:
    """Our name for a parameter of the Keras family's search estimator (scikeras routes ``model__x``)."""
    return param.removeprefix("model__")


def cv_results_record(cv_results: dict[str, Any]) -> dict[str, list]:
    """cv_results_ as JSON lists; ``param_*`` masked arrays are dropped (``params`` holds them)."""
    kept = {k: v for k, v in cv_results.items() if not k.startswith("param_")}
    kept["params"] = [{plain_name(k): v for k, v in p.items()} for p in cv_results["params"]]
    return to_jsonable(kept)


HALVING_FACTOR = 3


def make_search(search: str, estimator, grid: dict[str, list], n_folds: int, seed: int, parallel: bool = False):
    """GridSearchCV ("exhaustive") or HalvingGridSearchCV over samples ("halving"), same folds and scoring;
    ``parallel``: every fit goes to the active joblib backend (fmbench sets Dask's)."""
    # Imported here, not at the top: sklearn.model_selection takes 1.9 s to import, and bench.study.plan
    # (imported by every `fmbench run` check) reads HALVING_FACTOR from this module.
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    # return_train_score off for both (HalvingGridSearchCV defaults it on): the same record, no extra scoring.
    common = dict(scoring="accuracy", refit=False, error_score="raise", return_train_score=False,
                  cv=StratifiedKFold(n_folds, shuffle=True, random_state=seed), n_jobs=-1 if parallel else None)
    if search == "exhaustive":
        return GridSearchCV(estimator, grid, **common)
    if search != "halving":
        raise ValueError(f"unknown search {search!r}")
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401  (registers the class)
    from sklearn.model_selection import HalvingGridSearchCV

    return HalvingGridSearchCV(estimator, grid, factor=HALVING_FACTOR, resource="n_samples",
                               min_resources="exhaust", random_state=seed, **common)


def _stage_bar(setup: ModelSetup, index: int, search: str, grid: dict, fixed: dict, folds: int, progress: Progress,
               parallel: bool):
    """An epoch bar for an exhaustive Keras stage; a one-step bar where fits run elsewhere or have no epochs."""
    name, params = setup.stages[index]
    n_candidates = int(np.prod([len(v) for v in grid.values()]))
    label = f"{setup.name} stage {index + 1}/{len(setup.stages)} {name}"
    if search == "exhaustive" and setup.spec.family.epochs and not parallel:
        epochs_each = [fixed["epochs"]] if "epochs" not in params else setup.grids["epochs"]
        total_epochs = sum(epochs_each) * n_candidates * folds // len(epochs_each)
        bar = progress.bar(total_epochs, f"{label} ({n_candidates * folds} fits)", "epoch")
        return bar, [epoch_callback(bar)]
    # A halving search's fits run on subsets of several sizes; a cluster's run elsewhere.
    return progress.bar(1, f"{label} ({n_candidates} candidates, {search})", "stage"), []


def run_stage(setup: ModelSetup, index: int, x: np.ndarray, y: np.ndarray, fixed: dict[str, Any], profile: Profile,
              seed: int, progress: Progress, options: CompileOptions = FAST, search_kind: str | None = None,
              parallel: bool = False) -> Stage:
    """One stage; ``search_kind`` overrides the profile's search (``fmbench perf`` times both); ``parallel``:
    its fits go to the cluster (the caller holds joblib's Dask backend)."""
    name, params = setup.stages[index]
    search_name = search_kind or profile.search
    family = setup.spec.family
    grid = {family.search_param(p): list(setup.grids[p]) for p in params}
    bar, callbacks = _stage_bar(setup, index, search_name, grid, fixed, profile.cv_folds, progress, parallel)
    estimator = family.search_estimator(setup, fixed, seed, options, callbacks)
    search = make_search(search_name, estimator, grid, profile.cv_folds, seed, parallel)
    start = time.perf_counter()
    search.fit(x, y)
    bar.update(bar.total - bar.n)
    bar.close()
    best = {plain_name(k): to_jsonable(v) for k, v in search.best_params_.items()}
    return Stage(index=index + 1, name=name, param_grid={plain_name(k): to_jsonable(v) for k, v in grid.items()},
                 fixed=to_jsonable(fixed), cv_results=cv_results_record(search.cv_results_), best_params=best,
                 best_score=float(search.best_score_), n_folds=profile.cv_folds,
                 wall_s=time.perf_counter() - start)
