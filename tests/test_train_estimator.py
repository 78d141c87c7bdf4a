"""bench.train.estimator: a scikit-learn estimator trained and scored on a split, as the networks are."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.metrics import log_loss

from bench import data
from bench.train import estimator


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
    outcome = estimator.fit_estimator(model, small_split)
    x_test = estimator.features(small_split.x_test)
    predicted = model.predict(x_test)
    assert outcome.test.predictions.predicted == predicted.tolist()
    assert outcome.test.predictions.true == small_split.y_test.tolist()
    assert outcome.metrics.test.accuracy == pytest.approx(float(np.mean(predicted == small_split.y_test)))
    assert outcome.metrics.test.loss == pytest.approx(log_loss(small_split.y_test, model.predict_proba(x_test)))
    train = estimator.features(small_split.x_train)
    assert outcome.metrics.train.accuracy == pytest.approx(model.score(train, small_split.y_train))
    assert outcome.metrics.validation.accuracy == pytest.approx(
        model.score(estimator.features(small_split.x_val), small_split.y_val))
    assert 0.5 < outcome.metrics.test.accuracy < 1.0
    assert len(outcome.notes) == 1 and outcome.notes[0].startswith("ConvergenceWarning: lbfgs failed to converge")
    assert outcome.fit_seconds > 0 and outcome.test.inference_seconds > 0
    assert sum(outcome.test.per_class.support) == 300 and np.array(outcome.test.confusion).sum() == 300
    again = estimator.fit_estimator(estimator.seeded(LogisticRegression(max_iter=5), 0), small_split)
    assert again.metrics == outcome.metrics and again.test.predictions == outcome.test.predictions


@pytest.mark.slow
def test_a_class_missing_from_training_gets_zero_probability_and_keeps_its_label(small_split):
    from sklearn.linear_model import LogisticRegression

    keep = small_split.y_train != 3
    without_3 = dataclasses.replace(small_split, x_train=small_split.x_train[keep], y_train=small_split.y_train[keep])
    model = LogisticRegression(max_iter=50)
    outcome = estimator.fit_estimator(model, without_3)
    probs = estimator.probabilities(model, estimator.features(small_split.x_test))
    assert probs.shape == (300, 10) and np.all(probs[:, 3] == 0) and np.allclose(probs.sum(axis=1), 1)
    assert 3 not in outcome.test.predictions.predicted
    others = small_split.y_test != 3
    right = np.array(outcome.test.predictions.predicted)[others] == small_split.y_test[others]
    assert right.mean() > 0.6  # labels above the gap are not shifted down


@pytest.mark.slow
def test_an_estimator_without_probabilities_puts_all_mass_on_its_prediction(small_split):
    from sklearn.linear_model import RidgeClassifier

    model = RidgeClassifier()
    outcome = estimator.fit_estimator(model, small_split)
    x_test = estimator.features(small_split.x_test)
    probs = estimator.probabilities(model, x_test)
    assert set(np.unique(probs)) == {0.0, 1.0} and np.all(probs.sum(axis=1) == 1)
    assert probs.argmax(axis=1).tolist() == model.predict(x_test).tolist() == outcome.test.predictions.predicted
    assert outcome.notes == []
