"""The fast path (bench.epochloop via bench.models options) and the halving grid search, on real data."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from bench import data, models, profiles
from bench.models import FAST, KERAS, CompileOptions, mlp
from bench.models.mlp import build_baseline, build_tunable
from bench.progress import Progress, epoch_callback
from bench.results import Stage
from bench.train import training, tuning

OFF = CompileOptions(steps_per_execution=1, jit_compile=False, epoch_loop=False)


@pytest.fixture(scope="module")
def split(data_dir):
    return data.make_split(data.load_dataset(data_dir), 0, 0.2, 1500, 300)


def _fit(model, split, epochs=2, batch_size=32):
    clock = epoch_callback(Progress(quiet=True).bar(epochs, "", ""))
    settings = {"epochs": epochs, "batch_size": batch_size}
    return training.fit(model, KERAS, split, models.builtins()["baseline"], settings, clock).fitted


def _weights(model):
    return [np.asarray(w) for w in model.get_weights()]


@pytest.mark.slow
def test_fast_path_with_its_options_off_is_exactly_keras_fit(split):
    import keras

    training.seed_everything(5)
    ours = build_baseline(OFF)
    history = _fit(ours, split).history
    training.seed_everything(5)
    theirs = build_baseline(OFF)
    keras_logs = keras.Model.fit(theirs, split.x_train, split.y_train, validation_data=(split.x_val, split.y_val),
                                 epochs=2, batch_size=32, verbose=0).history
    assert history.loss == keras_logs["loss"] and history.val_accuracy == keras_logs["val_accuracy"]
    assert all(np.array_equal(a, b) for a, b in zip(_weights(ours), _weights(theirs), strict=True))


@pytest.mark.slow
def test_epoch_loop_is_deterministic_per_seed_and_trains_like_keras(split):
    runs = []
    for _ in range(2):
        training.seed_everything(11)
        model = build_baseline(FAST)
        runs.append((_fit(model, split, epochs=3).history, _weights(model)))
    (first, weights), (second, weights2) = runs
    assert first.model_dump(exclude={"epoch_seconds"}) == second.model_dump(exclude={"epoch_seconds"})
    assert all(np.array_equal(a, b) for a, b in zip(weights, weights2, strict=True))
    training.seed_everything(11)
    plain = _fit(build_baseline(OFF), split, epochs=3).history
    assert first.loss[2] < first.loss[0]
    assert abs(first.val_accuracy[-1] - plain.val_accuracy[-1]) < 0.05  # same model, another shuffle stream


@pytest.mark.slow
def test_epoch_loop_takes_keras_steps_including_the_partial_last_batch(split):
    training.seed_everything(0)
    model = build_tunable(dropout=0.2, options=FAST)
    x, y = split.x_train[:1000], split.y_train[:1000]
    logs = model.fit(x, y, batch_size=64, epochs=2, verbose=0).history
    assert int(model.optimizer.iterations.numpy()) == 2 * math.ceil(1000 / 64)
    assert sorted(logs) == ["accuracy", "loss"] and len(logs["loss"]) == 2


@pytest.mark.slow
def test_epoch_loop_honours_early_stopping_and_falls_back_for_validation_split(split):
    import keras

    training.seed_everything(0)
    model = build_baseline(FAST)
    stop = keras.callbacks.EarlyStopping(monitor="loss", min_delta=10.0, patience=0)
    logs = model.fit(split.x_train, split.y_train, batch_size=32, epochs=5, verbose=0, callbacks=[stop]).history
    assert len(logs["loss"]) == 2
    logs = build_baseline(FAST).fit(split.x_train, split.y_train, batch_size=32, epochs=1, verbose=0,
                                    validation_split=0.25).history  # Keras' own fit does this one
    assert "val_accuracy" in logs


@pytest.mark.slow
def test_halving_stage_keeps_cv_results_with_rounds_and_resources(split):
    profile = dataclasses.replace(profiles.resolve("smoke"), search="halving",
                                  models={"tuned": {"grids": {"learning_rate": [0.0003, 0.001, 0.003]}}})
    fixed = dict(mlp.TUNED_DEFAULTS, epochs=1)
    (setup,) = models.resolve(["tuned"], profile)
    stage = tuning.run_stage(setup, 2, split.x_train, split.y_train, fixed, profile, 0, Progress(quiet=True))
    Stage.model_validate(stage.model_dump())
    assert "mean_train_score" not in stage.cv_results  # the same record shape as the exhaustive search
    rounds, resources = stage.cv_results["iter"], stage.cv_results["n_resources"]
    assert sorted(set(rounds)) == [0, 1] and rounds.count(0) == 3 and rounds.count(1) == 1
    assert max(resources) == len(split.y_train) and min(resources) < max(resources)
    last = rounds.index(1)
    assert stage.best_params == stage.cv_results["params"][last]
    assert stage.best_score == pytest.approx(stage.cv_results["mean_test_score"][last])


def test_run_rejects_an_unknown_search(cli):
    done = cli("run", "--search", "random", "--out", "unused")
    assert done.returncode == 2 and "invalid choice: 'random'" in done.stderr


@pytest.mark.slow
def test_a_fit_missing_a_class_keeps_every_label_its_own(split):
    """A halving round's small sample can lack a class; labels above the gap must not shift."""
    keep = split.y_train != 3
    (setup,) = models.resolve(["tuned"], profiles.resolve("smoke"))
    classifier = setup.spec.family.search_estimator(setup, dict(mlp.TUNED_DEFAULTS, epochs=3), 0, FAST, [])
    classifier.fit(split.x_train[keep], split.y_train[keep])
    assert classifier.classes_.tolist() == list(range(10))
    predicted = classifier.predict(split.x_test)
    others = split.y_test != 3
    assert 3 not in predicted and (predicted[others] == split.y_test[others]).mean() > 0.6


@pytest.mark.slow
def test_a_models_own_fit_callbacks_join_every_fit(split):
    import keras

    seen = []

    class Seen(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append((epoch, self.params["epochs"]))

    model = build_baseline(FAST)
    model.fit_callbacks = [Seen()]
    _fit(model, split, epochs=2)
    assert seen == [(0, 2), (1, 2)]
