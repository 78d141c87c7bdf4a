"""What a unit does once it runs: train and score one (model, seed), or search one tuning stage."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bench import data as data_mod
from bench.models import CompileOptions, ModelSetup
from bench.progress import Progress, epoch_callback
from bench.results import DataRecord, Environment, Gaps, SplitRecord, Stage, Timings
from bench.train import training
from bench.train.tuning import run_stage


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


_LAST_SPLIT: dict[tuple, data_mod.Split] = {}


def split_for(profile, dataset: data_mod.Dataset, seed: int) -> data_mod.Split:
    """A seed's split under the study's profile (its subset, validation share and test subset).

    The last one is kept: drawing it takes about 0.14 s on the full set (measured, 2 busy cores), and a
    search's stages, the driver's count of their images and a failed run's record ask for the same one
    again. One only: each split copies its images (37 MB for 48,000)."""
    key = (dataset.digest, seed, profile.validation_fraction, profile.n_train, profile.n_test)
    if key not in _LAST_SPLIT:
        _LAST_SPLIT.clear()
        _LAST_SPLIT[key] = data_mod.make_split(dataset, seed, profile.validation_fraction, profile.n_train,
                                               profile.n_test)
    return _LAST_SPLIT[key]


def options_for(env, setup: ModelSetup) -> CompileOptions:
    """The model's own fast-path options (XLA or not), unless the study sets them for every model."""
    return env.options or setup.spec.options


def split_record(split: data_mod.Split, seed: int, validation_fraction: float) -> SplitRecord:
    return SplitRecord(seed=seed, method=data_mod.SPLIT_METHOD, n_pool=split.n_pool,
                       validation_fraction=validation_fraction,
                       train_indices_sha256=data_mod.indices_digest(split.train_indices),
                       validation_indices_sha256=data_mod.indices_digest(split.val_indices))


def run_record(env, d: data_mod.Dataset, setup: ModelSetup, unit, split, environment: Environment,
               where: tuple[str, str]) -> dict[str, Any]:
    """The fields every run has, ok or failed: who, what, where, on which data and split."""
    p, spec = env.profile, setup.spec
    return dict(
        study=env.study, profile=p.name, model=setup.name, seed=unit.seed, hyperparameters=unit.params,
        model_kind=spec.kind, factory=spec.factory, source_sha256=spec.source_sha256,
        compile_options=spec.family.compile_record(options_for(env, setup)), environment=environment,
        host=where[0], worker=where[1], started=now(),
        data=DataRecord(digest=d.digest, location=d.location, source=d.source, n_train=len(split.y_train),
                        n_validation=len(split.y_val), n_test=len(split.y_test),
                        test_labels_sha256=data_mod.labels_digest(split.y_test)),
        split=split_record(split, unit.seed, p.validation_fraction),
    )


def train(env, setup: ModelSetup, unit, split, progress: Progress) -> dict[str, Any]:
    """An ok run's measured fields: the model built, fitted, timed and scored as its family does it."""
    spec, family, seed, params = setup.spec, setup.spec.family, unit.seed, unit.params
    training.seed_everything(seed)  # NumPy's global stream too, for estimators that read it
    model = family.build(spec, params, seed, options_for(env, setup))
    # Read from the built model: a user's factory may have compiled it, and then no parameter names its optimizer.
    compiled = {**family.compile_record(options_for(env, setup)), **family.compiled_with(model)}
    if family.epochs:
        bar = progress.bar(params["epochs"], f"{setup.name} seed {seed}", "epoch")
    else:
        bar = progress.bar(1, f"{setup.name} seed {seed} on {len(split.y_train)} images", "fit")
    try:
        outcome = training.fit(model, family, split, spec, params, epoch_callback(bar))
    finally:
        bar.close()
    for note in outcome.fitted.notes:
        progress.say(f"  {setup.name} seed {seed}: {note}")
    test = training.predict_test(model, family, split, spec)
    metrics = training.score_splits(model, family, split, test.predictions, spec)
    saved = training.save_model(model, family, env.out / f"{setup.name}-seed{seed}") if env.save_models else None
    history = outcome.fitted.history
    epoch_s = sum(history.epoch_seconds) / len(history.epoch_seconds) if history else None
    fields = _outcome_fields(metrics, test, outcome.fit_seconds, epoch_s, len(split.y_test))
    return {**fields, **family.describe(model), "compile_options": compiled,
            **({"saved_model": saved} if saved else {}), **({"history": history} if history else {})}


def _outcome_fields(metrics, test, fit_s: float, epoch_s: float | None, n_test: int) -> dict[str, Any]:
    return dict(
        metrics=metrics, per_class=test.per_class, confusion_matrix=test.confusion, predictions=test.predictions,
        mistakes=test.mistakes,
        gaps=Gaps(train_minus_test=metrics.train.accuracy - metrics.test.accuracy,
                  train_minus_validation=metrics.train.accuracy - metrics.validation.accuracy),
        timings=Timings(fit_s=fit_s, epoch_s_mean=epoch_s, inference_s=test.inference_seconds,
                        images_per_s=n_test / test.inference_seconds, inference_repeats_s=test.inference_repeats),
    )


def stage(env, dataset: data_mod.Dataset, setup: ModelSetup, unit, progress: Progress, parallel: bool) -> Stage:
    """One stage of a staged search, on the tuning seed's training split, earlier winners fixed."""
    p = env.profile
    split = split_for(p, dataset, unit.tune_seed)
    if unit.index == 0:
        progress.say(f"tuning {setup.name} on {len(split.y_train)} training images, seed {unit.tune_seed}, "
                     f"{p.cv_folds}-fold CV")
    training.seed_everything(unit.tune_seed)
    x = setup.spec.family.features(split.x_train, setup.spec)
    result = run_stage(setup, unit.index, x, split.y_train, dict(unit.fixed), p, unit.tune_seed, progress,
                       options_for(env, setup), parallel=parallel)
    progress.say(f"  {setup.name} stage {result.index} {result.name}: best {result.best_params} "
                 f"(CV accuracy {result.best_score:.4f}, {result.wall_s:.0f} s)")
    return result
