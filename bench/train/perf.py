"""``fmbench perf``: how fast this machine trains, and how long a grid stage takes.

In one process and with the same seeds it times (a) Keras' ``model.fit`` as the
reference post calls it (float32 arrays scaled beforehand, default compile), (b) the
harness's fast path (uint8 arrays, ``bench.models.FAST``), and (c) dense float32
matrix products, the machine's attainable FLOP/s. Then it runs one grid stage with
the exhaustive and with the halving search. Raw per-seed figures go to ``perf.json``
(a ``PerfResult``); the table is computed from them when printed.
"""

from __future__ import annotations

import dataclasses
import resource
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench import data as data_mod
from bench import environment, models, profiles
from bench.models import PLAIN, ModelSetup
from bench.models.keras_base import describe_architecture
from bench.models.keras_family import EVAL_BATCH
from bench.progress import Progress, epoch_callback
from bench.results import ModelPerf, PathTiming, PerfResult, SearchPerf, write_json_atomic
from bench.train import training, tuning

PERF_NAME = "perf.json"
MATMUL_SIZE = 2048
SEARCH_STAGE = 2  # "learning rate + dropout": the reference's grid has nine candidates
SEARCHES = ("exhaustive", "halving")


@dataclass
class PerfConfig:
    setups: list[ModelSetup] = field(default_factory=list)
    batch_size: int = 32
    epochs: int = 3
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    n_train: int | None = None  # None: all 60,000 training images
    search_n_train: int = 36000  # images the grid stage splits into folds; 0 skips the stage
    search_epochs: int = 10
    data_dir: str | None = None
    out: Path = Path("results/perf")

    def as_dict(self) -> dict[str, Any]:
        plain = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "setups"}
        return {"models": [s.name for s in self.setups],
                **{k: str(v) if isinstance(v, Path) else v for k, v in plain.items()}}


def peak_rss_gib() -> float:
    """This process's peak resident memory (Linux reports kibibytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def matmul_flops(size: int = MATMUL_SIZE, repeats: int = 5) -> float:
    """Attainable float32 FLOP/s: the best of several square matrix products in TensorFlow."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a = tf.constant(rng.standard_normal((size, size), dtype=np.float32))
    b = tf.constant(rng.standard_normal((size, size), dtype=np.float32))
    product = tf.function(lambda p, q: tf.reduce_sum(tf.matmul(p, q)))
    product(a, b).numpy()  # trace and warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        product(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / best


def plain_model(setup: ModelSetup):
    """The model as a script would write it: the spec's own reference version (the MLPs as the post
    writes them: float32 input scaled beforehand), else the same model with Keras' default compile."""
    params = setup.spec.builder_params(setup.params)
    if setup.spec.reference is not None:
        return setup.spec.reference(params), True
    return setup.spec.build(params, PLAIN), False


def harness_model(setup: ModelSetup):
    return setup.spec.build(setup.spec.builder_params(setup.params), setup.spec.options)


def seed_as_reference(seed: int) -> None:
    """Seeds only, as a script would: without op determinism Keras' "auto" turns XLA on per step."""
    import keras
    from tensorflow.python.framework.config import disable_op_determinism  # not exported under tf.config

    disable_op_determinism()
    keras.utils.set_random_seed(seed)


def _time_path(build, seed_fn, x: np.ndarray, y: np.ndarray, test: tuple[np.ndarray, np.ndarray],
               config: PerfConfig, label: str, progress: Progress) -> tuple[PathTiming, int]:
    """Train a fresh model per seed; per-epoch seconds and test accuracy per seed."""
    epoch_seconds, fit_seconds, accuracy, n_params = [], [], [], 0
    options: dict[str, Any] = {}
    for seed in config.seeds:
        seed_fn(seed)
        model = build()
        n_params = model.count_params()
        bar = progress.bar(config.epochs, f"{label} seed {seed}", "epoch")
        clock = epoch_callback(bar)
        start = time.perf_counter()
        model.fit(x, y, batch_size=config.batch_size, epochs=config.epochs, verbose=0, callbacks=[clock])
        fit_seconds.append(time.perf_counter() - start)
        options = {"steps_per_execution": 1, "jit_compile": bool(model.loop_jit), "epoch_loop": True} \
            if getattr(model, "epoch_loop", False) else {
            "steps_per_execution": model.steps_per_execution, "jit_compile": bool(model.jit_compile)}
        bar.close()
        epoch_seconds.append(list(clock.seconds))
        accuracy.append(float(model.evaluate(*test, batch_size=EVAL_BATCH, verbose=0)[1]))
    return PathTiming(compile_options=options, epoch_seconds=epoch_seconds, fit_seconds=fit_seconds,
                      test_accuracy=accuracy), n_params


def measure_model(setup: ModelSetup, dataset: data_mod.Dataset, config: PerfConfig, progress: Progress) -> ModelPerf:
    """(a) plain ``model.fit`` as a script would call it and (b) the fast path on uint8, same seeds and data."""
    x, y = data_mod.stratified_subset(dataset.x_train, dataset.y_train, config.n_train, 0)
    x = setup.spec.family.features(x, setup.spec)
    x_test = setup.spec.family.features(dataset.x_test, setup.spec)
    # The reference's preprocessing, for models written as the post writes them (float32 input).
    float_input = setup.spec.reference is not None
    plain_x, plain_test = (x.astype(np.float32) / 255, x_test.astype(np.float32) / 255) if float_input else (x, x_test)
    plain, n_params = _time_path(lambda: plain_model(setup)[0], seed_as_reference, plain_x, y,
                                 (plain_test, dataset.y_test), config, f"{setup.name} plain", progress)
    del plain_x
    fast, _ = _time_path(lambda: harness_model(setup), training.seed_everything, x, y,
                         (x_test, dataset.y_test), config, f"{setup.name} fast", progress)
    _, flops = describe_architecture(harness_model(setup))
    # Training: a forward pass and a backward pass of about twice its cost.
    return ModelPerf(model=setup.name, params=n_params, flops_per_epoch=3.0 * flops * len(y), n_images=len(y),
                     epochs=config.epochs, batch_size=config.batch_size, seeds=list(config.seeds), plain=plain,
                     fast=fast, peak_rss_gib=peak_rss_gib())


def measure_search(dataset: data_mod.Dataset, config: PerfConfig, progress: Progress) -> SearchPerf:
    """One stage of the reference profile's grid for the tuned MLP, exhaustive then halving, same folds."""
    profile = dataclasses.replace(profiles.resolve("reference"), batch_size=config.batch_size)
    (setup,) = models.resolve([profiles.PERF_SEARCH_MODEL], profile)
    x, y = data_mod.stratified_subset(dataset.x_train, dataset.y_train, config.search_n_train, 0)
    fixed = dict(setup.params, epochs=config.search_epochs, batch_size=config.batch_size)
    seed = config.seeds[0]
    results = {}
    for kind in SEARCHES:
        training.seed_everything(seed)
        results[kind] = tuning.run_stage(setup, SEARCH_STAGE, x, y, fixed, profile, seed, progress,
                                         search_kind=kind)
        progress.say(f"  {kind}: {results[kind].wall_s:.1f} s, best CV accuracy {results[kind].best_score:.4f} "
                     f"{results[kind].best_params}")
    first = results[SEARCHES[0]]
    return SearchPerf(
        stage=first.name, param_grid=first.param_grid, n_train=len(y), epochs=config.search_epochs,
        n_folds=profile.cv_folds, seconds={k: r.wall_s for k, r in results.items()},
        best_score={k: r.best_score for k, r in results.items()},
        best_params={k: r.best_params for k, r in results.items()},
        n_fits={k: len(r.cv_results["params"]) * r.n_folds for k, r in results.items()},
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_perf(config: PerfConfig, progress: Progress, dataset: data_mod.Dataset | None = None) -> PerfResult:
    """Measure everything, write ``perf.json`` atomically into ``config.out``, return the result.
    ``dataset``: the data if the caller loaded it (the CLI does, to check it before TensorFlow)."""
    started, start = _now(), time.perf_counter()
    dataset = dataset if dataset is not None else data_mod.load_dataset(config.data_dir)
    progress.say("matrix-product microbenchmark ...")
    flops = matmul_flops()
    models = [measure_model(setup, dataset, config, progress) for setup in config.setups]
    search = measure_search(dataset, config, progress) if config.search_n_train else None
    result = PerfResult(config=config.as_dict(), matmul_size=MATMUL_SIZE, matmul_flops=flops, models=models,
                        search=search, environment=environment.collect(), started=started, finished=_now(),
                        wall_s=time.perf_counter() - start)
    write_json_atomic(Path(config.out) / PERF_NAME, result.model_dump(mode="json"))
    return result


def steady_epoch_s(timing: PathTiming) -> float:
    """Median seconds per epoch over seeds, leaving out each fit's first epoch (tracing, compiling)."""
    later = [s for seconds in timing.epoch_seconds for s in (seconds[1:] or seconds)]
    return statistics.median(later)


def model_rows(result: PerfResult) -> list[dict[str, Any]]:
    """Per model and path: s/epoch, images/s, speed-up over plain, share of the FLOP limit, accuracy."""
    rows = []
    for m in result.models:
        plain_s = steady_epoch_s(m.plain)
        for path, timing in (("plain", m.plain), ("fast", m.fast)):
            epoch_s = steady_epoch_s(timing)
            rows.append({
                "model": m.model, "path": path, "epoch_s": epoch_s, "images_per_s": m.n_images / epoch_s,
                "speedup": plain_s / epoch_s, "flop_fraction": m.flops_per_epoch / epoch_s / result.matmul_flops,
                "test_accuracy": statistics.fmean(timing.test_accuracy), "peak_rss_gib": m.peak_rss_gib,
            })
    return rows


def format_perf(result: PerfResult) -> str:
    """The table ``fmbench perf`` prints."""
    env = result.environment
    lines = [f"{env.cpu_model}, {env.cpu_cores} cores; dense float32 {result.matmul_size}x{result.matmul_size} "
             f"matrix products: {result.matmul_flops / 1e9:.1f} GFLOP/s"]
    for m in result.models:
        lines.append(f"{m.model}: {m.params} parameters, {m.n_images} images, batch {m.batch_size}, {m.epochs} "
                     f"epochs x {len(m.seeds)} seeds, {m.flops_per_epoch / 1e9:.1f} GFLOP per epoch")
    lines.append(f"{'model':9s} {'path':6s} {'s/epoch':>8s} {'images/s':>9s} {'speed-up':>8s} {'FLOP use':>8s} "
                 f"{'test acc':>8s} {'peak RSS':>8s}")
    for r in model_rows(result):
        lines.append(f"{r['model']:9s} {r['path']:6s} {r['epoch_s']:8.3f} {r['images_per_s']:9.0f} "
                     f"{r['speedup']:7.2f}x {r['flop_fraction']:8.1%} {r['test_accuracy']:8.4f} "
                     f"{r['peak_rss_gib']:6.2f} GiB")
    if result.search:
        s = result.search
        ratio = s.seconds["exhaustive"] / s.seconds["halving"]
        lines.append(f"grid stage '{s.stage}' ({s.n_train} images, {s.epochs} epochs, {s.n_folds} folds):")
        for kind in SEARCHES:
            lines.append(f"  {kind:10s} {s.seconds[kind]:7.1f} s  {s.n_fits[kind]:3d} fits  best CV accuracy "
                         f"{s.best_score[kind]:.4f}  {s.best_params[kind]}")
        lines.append(f"  halving takes {ratio:.1f}x less time; best CV accuracy differs by "
                     f"{100 * (s.best_score['halving'] - s.best_score['exhaustive']):+.2f} points")
    return "\n".join(lines)

