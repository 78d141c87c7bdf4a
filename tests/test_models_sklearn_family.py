"""bench.models.sklearn_family: a scikit-learn estimator fed, trained and scored on a split through the
harness's one path (bench.train.training), as the networks are."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.metrics import log_loss

from bench import data
from bench.models import SKLEARN, builtins
from bench.models import sklearn_family as estimator
from bench.train import training


def fit_estimator(model, split):
    """The harness's path for one run: fit, timed test inference, scores."""
    outcome = training.fit(model, SKLEARN, split, builtins()["logreg"], {}, None)
    test = training.predict_test(model, SKLEARN, split, None)
    metrics = training.score_splits(model, SKLEARN, split, test.predictions, None)
    return outcome, test, metrics


def test_features_are_flat_float32_pixels_in_0_1():
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    flat = estimator.features(images)
    assert flat.dtype == np.float32 and flat.shape == (1, 4)
    assert flat.tolist() == [[0.0, 1.0, np.float32(51) / np.float32(255), np.float32(102) / np.float32(255)]]


def test_seeded_sets_random_state_only_where_there_is_one():
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    model = LogisticRegression(C=0.5)
    assert estimator.seeded(model, 7) is model and model.get_params()["random_state"] == 7
    assert model.get_params()["C"] == 0.5
    neighbours = KNeighborsClassifier(n_neighbors=3)
    before = neighbours.get_params()
    assert estimator.seeded(neighbours, 7) is neighbours and neighbours.get_params() == before


@pytest.fixture(scope="module")
def small_split(data_dir) -> data.Split:
    """600 images (480 to train on), 300 test images: an estimator fits in well under a second."""
    return data.make_split(data.load_dataset(data_dir), 0, 0.2, 600, 300)


@pytest.mark.slow
def test_fit_estimator_scores_the_fitted_model_and_keeps_its_warnings(small_split):
    from sklearn.linear_model import LogisticRegression

    model = estimator.seeded(LogisticRegression(max_iter=5), 0)
    outcome, test, metrics = fit_estimator(model, small_split)
    x_test = estimator.features(small_split.x_test)
    predicted = model.predict(x_test)
    assert test.predictions.predicted == predicted.tolist()
    assert test.predictions.true == small_split.y_test.tolist()
    assert metrics.test.accuracy == pytest.approx(float(np.mean(predicted == small_split.y_test)))
    assert metrics.test.loss == pytest.approx(log_loss(small_split.y_test, model.predict_proba(x_test)))
    train = estimator.features(small_split.x_train)
    assert metrics.train.accuracy == pytest.approx(model.score(train, small_split.y_train))
    assert metrics.validation.accuracy == pytest.approx(
        model.score(estimator.features(small_split.x_val), small_split.y_val))
    assert 0.5 < metrics.test.accuracy < 1.0
    notes = outcome.fitted.notes
    assert len(notes) == 1 and notes[0].startswith("ConvergenceWarning: lbfgs failed to converge")
    assert outcome.fitted.history is None and outcome.fit_seconds > 0 and test.inference_seconds > 0
    assert sum(test.per_class.support) == 300 and np.array(test.confusion).sum() == 300
    _, again_test, again = fit_estimator(estimator.seeded(LogisticRegression(max_iter=5), 0), small_split)
    assert again == metrics and again_test.predictions == test.predictions


@pytest.mark.slow
def test_a_class_missing_from_training_gets_zero_probability_and_keeps_its_label(small_split):
    from sklearn.linear_model import LogisticRegression

    keep = small_split.y_train != 3
    without_3 = dataclasses.replace(small_split, x_train=small_split.x_train[keep], y_train=small_split.y_train[keep])
    model = LogisticRegression(max_iter=50)
    _, test, _ = fit_estimator(model, without_3)
    probs = estimator.probabilities(model, estimator.features(small_split.x_test))
    assert probs.shape == (300, 10) and np.all(probs[:, 3] == 0) and np.allclose(probs.sum(axis=1), 1)
    assert 3 not in test.predictions.predicted
    others = small_split.y_test != 3
    right = np.array(test.predictions.predicted)[others] == small_split.y_test[others]
    assert right.mean() > 0.6  # labels above the gap are not shifted down


@pytest.mark.slow
def test_an_estimator_without_probabilities_puts_all_mass_on_its_prediction(small_split):
    from sklearn.linear_model import RidgeClassifier

    model = RidgeClassifier()
    outcome, test, _ = fit_estimator(model, small_split)
    x_test = estimator.features(small_split.x_test)
    probs = estimator.probabilities(model, x_test)
    assert set(np.unique(probs)) == {0.0, 1.0} and np.all(probs.sum(axis=1) == 1)
    assert probs.argmax(axis=1).tolist() == model.predict(x_test).tolist() == test.predictions.predicted
    assert outcome.fitted.notes == []


def test_the_family_says_how_estimators_are_fed_searched_and_recorded():
    from sklearn.linear_model import LogisticRegression

    spec = builtins()["logreg"]
    assert (SKLEARN.name, SKLEARN.epochs, SKLEARN.perf_paths) == ("sklearn", False, False)
    assert (spec.family, spec.kind) == (SKLEARN, "sklearn")
    assert SKLEARN.accepts(LogisticRegression()) and not SKLEARN.accepts(object())
    assert SKLEARN.fit_settings({"max_iter": 5}) == (1, 32) and not SKLEARN.compiles(spec, {})
    assert SKLEARN.search_param("C") == "C" and SKLEARN.compile_record(None) == {}
    searched = SKLEARN.search_estimator(_setup("logreg"), {"C": 0.5, "max_iter": 7, "tol": 1e-4}, 3, None, [])
    assert searched.get_params()["random_state"] == 3 and searched.get_params()["C"] == 0.5
    assert SKLEARN.describe(searched) == {"estimator": repr(searched)} and SKLEARN.save(searched) is None


def _setup(name):
    from bench import models, profiles

    (setup,) = models.resolve([name], profiles.resolve("smoke"))
    return setup


@pytest.mark.slow
def test_scores_raise_no_warning_about_probabilities_that_do_not_sum_to_one(small_split):
    """logreg's float32 rows summed to 1 +- 1e-7, and log_loss printed a UserWarning three times a run."""
    import warnings

    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(estimator.features(small_split.x_train), small_split.y_train)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for x, y in ((small_split.x_train, small_split.y_train), (small_split.x_test, small_split.y_test)):
            scores = SKLEARN.evaluate(model, estimator.features(x), y)
            assert scores.loss == pytest.approx(log_loss(y, model.predict_proba(estimator.features(x))), rel=1e-6)
    probs = estimator.probabilities(model, estimator.features(small_split.x_test))
    assert np.allclose(probs.sum(axis=1), 1.0, rtol=0, atol=1e-12)
