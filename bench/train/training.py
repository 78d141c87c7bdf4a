"""Training and evaluation of one model on one split, whatever its family: seeding, fit, metrics, predictions."""

from __future__ import annotations

import hashlib
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from bench.data import CLASS_NAMES, N_CLASSES, Split
from bench.models import Family, Fitted
from bench.results import (
    ImageSet,
    Metrics,
    PerClass,
    Predictions,
    SavedModel,
    SplitMetrics,
    write_bytes_atomic,
)

N_MISTAKES = 25
# Test-set inference is timed this many times after the warm-up, and the median kept. One pass is short
# (the baseline MLP on 10,000 images: 0.17 to 0.22 s on 2 busy cores), so a single timing is at the
# mercy of whatever else runs: three seeds timed once each read 31,776 ± 28,290 images/s, a 95 % interval
# from 0 to 285,956. A median of 5 passes ignores up to 2 disturbed ones and adds about 0.8 s per run.
INFERENCE_REPEATS = 5


def seed_everything(seed: int) -> None:
    """Python, NumPy and TensorFlow seeds plus deterministic ops: same seed, same numbers."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


@dataclass
class FitOutcome:
    fitted: Fitted
    fit_seconds: float


def fit(model, family: Family, split: Split, spec, params: dict, clock) -> FitOutcome:
    """Train on the split's training part (a family that trains in epochs validates on its validation
    part each epoch); the seconds are the fit's alone, feeding the images is not counted."""
    x_train = family.features(split.x_train, spec)
    validation = (family.features(split.x_val, spec), split.y_val) if family.epochs else None
    start = time.perf_counter()
    fitted = family.fit(model, x_train, split.y_train, validation, params, clock)
    return FitOutcome(fitted, time.perf_counter() - start)


def score_splits(model, family: Family, split: Split, predictions: Predictions, spec) -> Metrics:
    """Loss and accuracy of the trained model on train, validation and test (as the reference does).

    Test accuracy is the share of the stored test predictions that are right, so anyone can
    recompute it from the result file exactly (Keras' float32 counter agrees to about 1e-8).
    """
    test = family.evaluate(model, family.features(split.x_test, spec), split.y_test)
    right = np.asarray(predictions.predicted) == np.asarray(predictions.true)
    return Metrics(train=family.evaluate(model, family.features(split.x_train, spec), split.y_train),
                   validation=family.evaluate(model, family.features(split.x_val, spec), split.y_val),
                   test=SplitMetrics(accuracy=float(right.mean()), loss=test.loss))


def save_model(model, family: Family, path: Path) -> SavedModel | None:
    """Keep a trained model in its framework's own format (if its family has one), written as every
    result file is (``write_bytes_atomic``: fsync, rename, the umask's permissions)."""
    saved = family.save(model)
    if saved is None:
        return None
    suffix, data = saved
    path = path.with_suffix(suffix)
    write_bytes_atomic(path, data)
    return SavedModel(file=path.name, format=suffix.lstrip("."), sha256=hashlib.sha256(data).hexdigest())


@dataclass
class TestOutcome:
    predictions: Predictions
    per_class: PerClass
    confusion: list[list[int]]
    mistakes: ImageSet
    inference_repeats: list[float]  # seconds of each timed pass over the test set, in order

    @property
    def inference_seconds(self) -> float:
        """The median pass: what the run records as its inference time."""
        return statistics.median(self.inference_repeats)


def predict_test(model, family: Family, split: Split, spec, repeats: int = INFERENCE_REPEATS) -> TestOutcome:
    """Inference on the test set timed ``repeats`` times after the family's warm-up, then the test outcome.

    The probabilities are the first pass's: every pass runs the same model on the same images."""
    x_test = family.features(split.x_test, spec)
    family.warm_up(model, x_test)
    seconds, probs = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        output = family.probabilities(model, x_test)
        seconds.append(time.perf_counter() - start)
        probs = output if probs is None else probs
    return test_outcome(probs, split, seconds)


def test_outcome(probs: np.ndarray, split: Split, seconds: list[float]) -> TestOutcome:
    """Per-class scores, confusion matrix and the most confident mistakes from class probabilities."""
    predicted = probs.argmax(axis=1)
    confidence = probs.max(axis=1)
    truth = split.y_test.astype(int)
    labels = list(range(N_CLASSES))
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=labels,
                                                                     zero_division=0)
    wrong = np.flatnonzero(predicted != truth)
    worst = wrong[np.argsort(-confidence[wrong], kind="stable")][:N_MISTAKES]
    return TestOutcome(
        predictions=Predictions(true=truth.tolist(), predicted=predicted.astype(int).tolist(),
                                probability=[round(float(p), 6) for p in confidence]),
        per_class=PerClass(class_names=list(CLASS_NAMES), precision=precision.tolist(), recall=recall.tolist(),
                           f1=f1.tolist(), support=support.astype(int).tolist()),
        confusion=confusion_matrix(truth, predicted, labels=labels).astype(int).tolist(),
        mistakes=ImageSet.from_arrays(split.x_test[worst], truth[worst], worst,
                                      predicted=predicted[worst].astype(int).tolist(),
                                      probability=[round(float(p), 6) for p in confidence[worst]]),
        inference_repeats=list(seconds),
    )
