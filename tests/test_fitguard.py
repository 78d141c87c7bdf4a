"""The fast tier's guard (tests/fitguard.py, armed by tests/conftest.py for every test not marked slow):
every way the harness fits a model is refused before it trains, in this process and in one it starts.

These tests are not slow, so the guard is armed while they run; each takes back what it refused, so the
refusals it provokes do not fail it.
"""

from __future__ import annotations

import os
import subprocess
import sys

import fitguard
import numpy as np
import pytest

from bench.data import Split

RNG = np.random.default_rng(0)
X, Y = RNG.random((60, 4)).astype(np.float32), np.tile(np.arange(3), 20)


def refused(fit) -> list[str]:
    """What the guard refused while ``fit`` ran (it must refuse something, and raise)."""
    with pytest.raises(fitguard.FitWhileGuarded, match="is not marked slow, and fits a model"):
        fit()
    taken = fitguard.take()
    assert taken, "the guard raised but kept no record"
    return taken


def test_scikit_learn_searches_and_estimators_are_refused_before_they_fit():
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, HalvingGridSearchCV

    for search in (GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2),
                   HalvingGridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2)):
        assert refused(lambda s=search: s.fit(X, Y)) == ["a scikit-learn estimator's or search's fit"]
        assert not hasattr(search, "cv_results_")
    estimator = LogisticRegression()
    assert refused(lambda: estimator.fit(X, Y)) == ["a scikit-learn estimator's or search's fit"]
    assert not hasattr(estimator, "coef_")


def test_the_harness_and_each_familys_fit_are_refused():
    from sklearn.linear_model import LogisticRegression

    from bench.models import KERAS, SKLEARN, builtins
    from bench.train import training

    images = RNG.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    labels = np.tile(np.arange(10), 3)
    split = Split(images, labels, images, labels, images, labels, np.arange(30), np.arange(30), 30)
    model = LogisticRegression()
    assert refused(lambda: training.fit(model, SKLEARN, split, builtins()["logreg"], {}, None)) == [
        "bench.train.training.fit"]
    assert refused(lambda: SKLEARN.fit(model, X, Y, None, {}, None)) == ["the scikit-learn family's fit"]
    assert refused(lambda: KERAS.fit(None, X, Y, (X, Y), {"epochs": 1, "batch_size": 8}, None)) == [
        "the Keras family's fit"]
    assert not hasattr(model, "coef_")


def test_keras_the_epoch_loop_the_harness_and_scikeras_are_refused_before_a_step():
    import keras

    from bench.models import FAST, KERAS, PLAIN, builtins
    from bench.models.classifier import FashionClassifier
    from bench.models.mlp import build_baseline
    from bench.progress import Progress, epoch_callback
    from bench.train import training

    images, labels = RNG.integers(0, 256, (64, 28, 28), dtype=np.uint8), np.tile(np.arange(10), 7)[:64]
    inputs = keras.Input((4,))
    plain = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    plain.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = [w.copy() for w in plain.get_weights()]
    assert refused(lambda: plain.fit(X, Y, epochs=1, verbose=0)) == ["keras.Model.fit"]
    assert refused(lambda: plain.train_on_batch(X, Y)) == ["keras.Model.make_train_function"]
    assert all(np.array_equal(a, b) for a, b in zip(before, plain.get_weights(), strict=True))
    assert int(plain.optimizer.iterations.numpy()) == 0
    looped = build_baseline(FAST)  # the epoch loop's model class
    assert refused(lambda: looped.fit(images, labels, epochs=1, verbose=0)) == [
        "the epoch loop (bench.epochloop.fit_in_epochs)"]
    assert refused(lambda: build_baseline(PLAIN).fit(images, labels, epochs=1, verbose=0)) == ["keras.Model.fit"]
    split = Split(images, labels, images, labels, images, labels, np.arange(64), np.arange(64), 64)
    bar = Progress(quiet=True).bar(1, "", "")
    baseline = builtins()["baseline"]
    assert refused(lambda: training.fit(looped, KERAS, split, baseline, {"epochs": 1, "batch_size": 32},
                                        epoch_callback(bar))) == ["bench.train.training.fit"]
    wrapper = FashionClassifier(model=lambda: build_baseline(FAST), epochs=1, verbose=0)
    assert refused(lambda: wrapper.fit(images, labels)) == ["scikeras' fit"]
    assert not hasattr(wrapper, "model_")


def test_a_fit_in_a_process_the_test_starts_is_refused_and_reported_back():
    fit = ("from sklearn.linear_model import LogisticRegression\n"
           "LogisticRegression().fit([[0.0], [1.0]], [0, 1])\n")
    done = subprocess.run([sys.executable, "-c", fit], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1 and "FitWhileGuarded" in done.stderr, done.stderr
    (reported,) = fitguard.take()
    assert reported.startswith("in a process it started (pid ") and reported.endswith(
        "a scikit-learn estimator's or search's fit")
    quiet = subprocess.run([sys.executable, "-c", "import bench.epochloop"], capture_output=True, text=True,
                           timeout=120, check=False)
    assert quiet.returncode == 0 and fitguard.take() == []  # importing a patched module is not fitting
    assert os.environ[fitguard.LOG_ENV] and fitguard.SITE in os.environ["PYTHONPATH"].split(os.pathsep)


@pytest.mark.slow
def test_a_slow_test_runs_unguarded(tmp_path):
    from sklearn.linear_model import LogisticRegression

    assert LogisticRegression().fit(X, Y).coef_.shape == (3, 4)
    assert fitguard.LOG_ENV not in os.environ
