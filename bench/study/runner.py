"""A study: for each seed, train and evaluate each model; write one result file per run.

Tuning runs once per study (seeded by the first seed) unless ``tune_per_seed``; the
tuned configuration is then trained for every seed. A run that fails is recorded
with status "failed" and its error; the study goes on.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import data as data_mod
from bench import environment
from bench.errors import BenchError
from bench.models import CompileOptions, ModelSetup
from bench.models.keras_base import describe_architecture
from bench.progress import Progress, epoch_callback, format_duration
from bench.results import (
    DataRecord,
    Environment,
    Gaps,
    ImageSet,
    Manifest,
    RunResult,
    SplitRecord,
    Timings,
    Tuning,
    save,
)
from bench.study.plan import StudyConfig, plan
from bench.train import estimator, training
from bench.train.tuning import tune


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def options_for(config: StudyConfig, setup: ModelSetup) -> CompileOptions:
    """The model's own fast-path options (XLA or not), unless the study sets them for every model."""
    return config.options or setup.spec.options


@dataclass
class RunContext:
    """What every run of a study shares."""

    config: StudyConfig
    dataset: data_mod.Dataset
    environment: Environment
    progress: Progress


def split_record(split: data_mod.Split, seed: int, validation_fraction: float) -> SplitRecord:
    return SplitRecord(seed=seed, method=data_mod.SPLIT_METHOD, n_pool=split.n_pool,
                       validation_fraction=validation_fraction,
                       train_indices_sha256=data_mod.indices_digest(split.train_indices),
                       validation_indices_sha256=data_mod.indices_digest(split.val_indices))


def _run_record(ctx: RunContext, setup: ModelSetup, seed: int, params: dict[str, Any], split) -> dict[str, Any]:
    """The fields every run has, ok or failed: who, what, on which data and split."""
    p, d, spec = ctx.config.profile, ctx.dataset, setup.spec
    options = options_for(ctx.config, setup).as_dict() if spec.kind == "keras" else {}
    return dict(
        study=ctx.config.name, profile=p.name, model=setup.name, seed=seed, hyperparameters=params,
        model_kind=spec.kind, factory=spec.factory, source_sha256=spec.source_sha256,
        compile_options=options, environment=ctx.environment, started=_now(),
        data=DataRecord(digest=d.digest, location=d.location, source=d.source, n_train=len(split.y_train),
                        n_validation=len(split.y_val), n_test=len(split.y_test),
                        test_labels_sha256=data_mod.labels_digest(split.y_test)),
        split=split_record(split, seed, p.validation_fraction),
    )


def train_one(ctx: RunContext, setup: ModelSetup, seed: int, params: dict[str, Any]) -> RunResult:
    """Train and evaluate one (model, seed); return its result record (ok or failed)."""
    p = ctx.config.profile
    split = data_mod.make_split(ctx.dataset, seed, p.validation_fraction, p.n_train, p.n_test)
    record = _run_record(ctx, setup, seed, params, split)
    train = _train_keras if setup.spec.kind == "keras" else _train_estimator
    try:
        return RunResult(status="ok", **train(ctx, setup, seed, params, split), **record, finished=_now())
    except Exception as exc:  # a run that fails is recorded, the study goes on
        ctx.progress.say(traceback.format_exc())
        return RunResult(status="failed", error=f"{type(exc).__name__}: {exc}", finished=_now(), **record)


def _outcome_fields(metrics, test, fit_s: float, epoch_s: float | None, n_test: int) -> dict[str, Any]:
    return dict(
        metrics=metrics, per_class=test.per_class, confusion_matrix=test.confusion, predictions=test.predictions,
        mistakes=test.mistakes,
        gaps=Gaps(train_minus_test=metrics.train.accuracy - metrics.test.accuracy,
                  train_minus_validation=metrics.train.accuracy - metrics.validation.accuracy),
        timings=Timings(fit_s=fit_s, epoch_s_mean=epoch_s, inference_s=test.inference_seconds,
                        images_per_s=n_test / test.inference_seconds),
    )


def _train_keras(ctx: RunContext, setup: ModelSetup, seed: int, params: dict[str, Any], split) -> dict[str, Any]:
    bar = ctx.progress.bar(params["epochs"], f"{setup.name} seed {seed}", "epoch")
    shape = setup.spec.input_shape
    try:
        training.seed_everything(seed)
        model = setup.spec.build(setup.spec.builder_params(params), options_for(ctx.config, setup))
        outcome = training.fit(model, split, params["epochs"], params["batch_size"], epoch_callback(bar), shape)
    finally:
        bar.close()
    test = training.predict_test(model, split, shape)
    metrics = training.score_splits(model, split, test.predictions, shape)
    fields: dict[str, Any] = {}
    if ctx.config.save_models:
        fields["saved_model"] = training.save_model(model, ctx.config.out / f"{setup.name}-seed{seed}.keras")
    layers, flops = describe_architecture(model)
    seconds = outcome.history.epoch_seconds
    return {**fields, **_outcome_fields(metrics, test, outcome.fit_seconds, sum(seconds) / len(seconds),
                                        len(split.y_test)),
            "architecture": layers, "total_params": model.count_params(), "flops_per_image": flops,
            "history": outcome.history}


def _train_estimator(ctx: RunContext, setup: ModelSetup, seed: int, params: dict[str, Any], split) -> dict[str, Any]:
    training.seed_everything(seed)  # NumPy's global stream too, for estimators that read it
    model = estimator.seeded(setup.spec.build(setup.spec.builder_params(params)), seed)
    ctx.progress.say(f"  fitting {setup.name} seed {seed} on {len(split.y_train)} images")
    outcome = estimator.fit_estimator(model, split)
    for note in outcome.notes:
        ctx.progress.say(f"  {setup.name} seed {seed}: {note}")
    return {**_outcome_fields(outcome.metrics, outcome.test, outcome.fit_seconds, None, len(split.y_test)),
            "estimator": repr(model)}


def _samples(x, y, count: int = 25) -> ImageSet:
    return ImageSet.from_arrays(x[:count], y[:count], range(min(count, len(y))))


def check_out_folder(out: Path) -> None:
    """Never overwrite a study already on disk."""
    if (out / "study.json").exists() or any(out.glob("*-seed*.json")):
        raise BenchError(f"results folder {out} already holds a study",
                         fix="choose another --out, or move the old results away first")


def _new_manifest(ctx: RunContext, started: str, estimate_s: float) -> Manifest:
    config, dataset, p = ctx.config, ctx.dataset, ctx.config.profile
    first_split = data_mod.make_split(dataset, config.seeds[0], p.validation_fraction, p.n_train, p.n_test)
    return Manifest(
        study=config.name, profile=p.name, seeds=config.seeds, models=config.models, config=p.as_dict(),
        search=p.search, tuning=[], runs=[], dataset=data_mod.summarize(dataset),
        train_samples=_samples(dataset.x_train, dataset.y_train),
        test_samples=_samples(first_split.x_test, first_split.y_test),
        environment=ctx.environment, started=started, finished=started, estimate_s=estimate_s,
        wall_s=0.0, command=config.command, data_load_s=dataset.load_seconds,
        test_labels_sha256=data_mod.labels_digest(first_split.y_test),
        model_specs={setup.name: setup.record() for setup in config.setups},
    )


def run_study(config: StudyConfig, progress: Progress,
              dataset: data_mod.Dataset | None = None) -> tuple[Manifest, list[str]]:
    """Run every (seed, model); write each result as it finishes and the manifest after each.

    Returns the manifest and the file names of failed runs. Wall time counts from
    ``config.started_at`` (the process's start, so start-up is in it) when given. ``dataset``
    is the data if the caller loaded it already.
    """
    check_out_folder(config.out)
    started, start = _now(), config.started_at or time.perf_counter()
    dataset = dataset or data_mod.load_dataset(config.data_dir)
    training.seed_everything(config.seeds[0])
    the_plan = plan(config, len(dataset.y_train))
    progress.say(the_plan.describe(config))
    ctx = RunContext(config, dataset, environment.collect(), progress)
    manifest = _new_manifest(ctx, started, the_plan.estimate_s)
    tunings: dict[str, Tuning] = {}
    failed: list[str] = []
    seed_bar = progress.bar(len(config.seeds), "seeds", "seed", leave=True)
    for seed in config.seeds:
        for setup in config.setups:
            if setup.tuned and (setup.name not in tunings or config.tune_per_seed):
                tunings[setup.name] = _tune(ctx, setup, seed)
                manifest.tuning.append(tunings[setup.name])
            params = dict(tunings[setup.name].best_params) if setup.tuned else dict(setup.params)
            result = train_one(ctx, setup, seed, params)
            save(result, config.out)
            manifest.runs.append(result.file_name)
            if result.status == "failed":
                failed.append(result.file_name)
            manifest.finished, manifest.wall_s = _now(), time.perf_counter() - start
            save(manifest, config.out)
            _report_run(progress, result)
        seed_bar.update(1)
    seed_bar.close()
    progress.say(f"done in {format_duration(manifest.wall_s)} (estimated {format_duration(manifest.estimate_s)}); "
                 f"results in {config.out}")
    return manifest, failed


def _tune(ctx: RunContext, setup: ModelSetup, seed: int) -> Tuning:
    p = ctx.config.profile
    split = data_mod.make_split(ctx.dataset, seed, p.validation_fraction, p.n_train, p.n_test)
    ctx.progress.say(f"tuning {setup.name} on {len(split.y_train)} training images, seed {seed}, "
                     f"{p.cv_folds}-fold CV")
    training.seed_everything(seed)
    keras_model = setup.spec.kind == "keras"
    x = training.reshape(split.x_train, setup.spec.input_shape) if keras_model else estimator.features(split.x_train)
    return tune(setup, x, split.y_train, p, seed, ctx.progress, options_for(ctx.config, setup))


def _report_run(progress: Progress, result: RunResult) -> None:
    if result.status == "ok" and result.metrics:
        m = result.metrics
        progress.say(f"  {result.model} seed {result.seed}: train {m.train.accuracy:.4f} "
                     f"val {m.validation.accuracy:.4f} test {m.test.accuracy:.4f}")
    else:
        progress.say(f"  {result.model} seed {result.seed}: FAILED ({result.error})")
