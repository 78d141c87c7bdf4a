"""Training and scoring a scikit-learn estimator on a split, with the same outputs as a network.

Estimators see flattened pixels scaled to [0, 1] (float32), the reference's preprocessing; loss
is the log loss of their predicted probabilities (the networks' sparse cross-entropy).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss

from bench.data import N_CLASSES, Split
from bench.results import Metrics, SplitMetrics
from bench.train.training import TestOutcome, test_outcome

LABELS = list(range(N_CLASSES))


def features(x: np.ndarray) -> np.ndarray:
    """Flattened pixels in [0, 1]."""
    return x.reshape(len(x), -1).astype(np.float32) / np.float32(255)


def seeded(estimator, seed: int):
    """The run's seed as the estimator's ``random_state``, where it has one."""
    if "random_state" in estimator.get_params():
        estimator.set_params(random_state=seed)
    return estimator


def probabilities(estimator, x: np.ndarray) -> np.ndarray:
    """Class probabilities over all ten classes (a class missing from training gets zero)."""
    if hasattr(estimator, "predict_proba"):
        probs = estimator.predict_proba(x)
        full = np.zeros((len(x), N_CLASSES))
        full[:, np.asarray(estimator.classes_, dtype=int)] = probs
        return full
    full = np.zeros((len(x), N_CLASSES))  # no probabilities: the predicted class gets all the mass
    full[np.arange(len(x)), np.asarray(estimator.predict(x), dtype=int)] = 1.0
    return full


def _scores(estimator, x: np.ndarray, y: np.ndarray) -> SplitMetrics:
    probs = probabilities(estimator, x)
    accuracy = float(np.mean(probs.argmax(axis=1) == y))
    return SplitMetrics(accuracy=accuracy, loss=float(log_loss(y, probs, labels=LABELS)))


@dataclass
class EstimatorOutcome:
    metrics: Metrics
    test: TestOutcome
    fit_seconds: float
    notes: list[str]  # warnings the fit raised (lbfgs stopping at max_iter, say), one line each


def fit_estimator(estimator, split: Split) -> EstimatorOutcome:
    """Fit on the training part; score train, validation and test as the networks are scored."""
    x_train = features(split.x_train)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        estimator.fit(x_train, split.y_train)
    fit_seconds = time.perf_counter() - start
    notes = list(dict.fromkeys(f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught))
    x_test = features(split.x_test)
    start = time.perf_counter()
    probs = probabilities(estimator, x_test)
    test = test_outcome(probs, split, time.perf_counter() - start)
    right = np.asarray(test.predictions.predicted) == np.asarray(test.predictions.true)
    loss = float(log_loss(split.y_test, probs, labels=LABELS))
    metrics = Metrics(train=_scores(estimator, x_train, split.y_train),
                      validation=_scores(estimator, features(split.x_val), split.y_val),
                      test=SplitMetrics(accuracy=float(right.mean()), loss=loss))
    return EstimatorOutcome(metrics, test, fit_seconds, notes)
