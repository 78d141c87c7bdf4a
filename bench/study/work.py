"""What a unit does once it runs: train and score one (model, seed), or search one tuning stage."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bench import data as data_mod
from bench.models import CompileOptions, ModelSetup
from bench.models.keras_base import describe_architecture
from bench.progress import Progress, epoch_callback
from bench.results import DataRecord, Environment, Gaps, SplitRecord, Stage, Timings
from bench.train import estimator, training
from bench.train.tuning import run_stage


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def split_for(profile, dataset: data_mod.Dataset, seed: int) -> data_mod.Split:
    """A seed's split under the study's profile (its subset, validation share and test subset)."""
    return data_mod.make_split(dataset, seed, profile.validation_fraction, profile.n_train, profile.n_test)


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
    options = options_for(env, setup).as_dict() if spec.kind == "keras" else {}
    return dict(
        study=env.study, profile=p.name, model=setup.name, seed=unit.seed, hyperparameters=unit.params,
        model_kind=spec.kind, factory=spec.factory, source_sha256=spec.source_sha256,
        compile_options=options, environment=environment, host=where[0], worker=where[1], started=now(),
        data=DataRecord(digest=d.digest, location=d.location, source=d.source, n_train=len(split.y_train),
                        n_validation=len(split.y_val), n_test=len(split.y_test),
                        test_labels_sha256=data_mod.labels_digest(split.y_test)),
        split=split_record(split, unit.seed, p.validation_fraction),
    )


def train(env, setup: ModelSetup, unit, split, progress: Progress) -> dict[str, Any]:
    """An ok run's measured fields."""
    if setup.spec.kind == "keras":
        return _train_keras(env, setup, unit.seed, unit.params, split, progress)
    return _train_estimator(setup, unit.seed, unit.params, split, progress)


def _outcome_fields(metrics, test, fit_s: float, epoch_s: float | None, n_test: int) -> dict[str, Any]:
    return dict(
        metrics=metrics, per_class=test.per_class, confusion_matrix=test.confusion, predictions=test.predictions,
        mistakes=test.mistakes,
        gaps=Gaps(train_minus_test=metrics.train.accuracy - metrics.test.accuracy,
                  train_minus_validation=metrics.train.accuracy - metrics.validation.accuracy),
        timings=Timings(fit_s=fit_s, epoch_s_mean=epoch_s, inference_s=test.inference_seconds,
                        images_per_s=n_test / test.inference_seconds),
    )


def _train_keras(env, setup: ModelSetup, seed: int, params: dict[str, Any], split, progress) -> dict[str, Any]:
    bar = progress.bar(params["epochs"], f"{setup.name} seed {seed}", "epoch")
    shape = setup.spec.input_shape
    try:
        training.seed_everything(seed)
        model = setup.spec.build(setup.spec.builder_params(params), options_for(env, setup))
        outcome = training.fit(model, split, params["epochs"], params["batch_size"], epoch_callback(bar), shape)
    finally:
        bar.close()
    test = training.predict_test(model, split, shape)
    metrics = training.score_splits(model, split, test.predictions, shape)
    fields: dict[str, Any] = {}
    if env.save_models:
        fields["saved_model"] = training.save_model(model, env.out / f"{setup.name}-seed{seed}.keras")
    layers, flops = describe_architecture(model)
    seconds = outcome.history.epoch_seconds
    return {**fields, **_outcome_fields(metrics, test, outcome.fit_seconds, sum(seconds) / len(seconds),
                                        len(split.y_test)),
            "architecture": layers, "total_params": model.count_params(), "flops_per_image": flops,
            "history": outcome.history}


def _train_estimator(setup: ModelSetup, seed: int, params: dict[str, Any], split, progress) -> dict[str, Any]:
    training.seed_everything(seed)  # NumPy's global stream too, for estimators that read it
    model = estimator.seeded(setup.spec.build(setup.spec.builder_params(params)), seed)
    progress.say(f"  fitting {setup.name} seed {seed} on {len(split.y_train)} images")
    outcome = estimator.fit_estimator(model, split)
    for note in outcome.notes:
        progress.say(f"  {setup.name} seed {seed}: {note}")
    return {**_outcome_fields(outcome.metrics, outcome.test, outcome.fit_seconds, None, len(split.y_test)),
            "estimator": repr(model)}


def stage(env, dataset: data_mod.Dataset, setup: ModelSetup, unit, progress: Progress, parallel: bool) -> Stage:
    """One stage of a staged search, on the tuning seed's training split, earlier winners fixed."""
    p = env.profile
    split = split_for(p, dataset, unit.tune_seed)
    if unit.index == 0:
        progress.say(f"tuning {setup.name} on {len(split.y_train)} training images, seed {unit.tune_seed}, "
                     f"{p.cv_folds}-fold CV")
    training.seed_everything(unit.tune_seed)
    keras_model = setup.spec.kind == "keras"
    x = training.reshape(split.x_train, setup.spec.input_shape) if keras_model else estimator.features(split.x_train)
    result = run_stage(setup, unit.index, x, split.y_train, dict(unit.fixed), p, unit.tune_seed, progress,
                       options_for(env, setup), parallel=parallel)
    progress.say(f"  {setup.name} stage {result.index} {result.name}: best {result.best_params} "
                 f"(CV accuracy {result.best_score:.4f}, {result.wall_s:.0f} s)")
    return result
