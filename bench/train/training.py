"""Training and evaluation of one model on one split: seeding, fit, metrics, predictions."""

from __future__ import annotations

import hashlib
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from bench.data import CLASS_NAMES, N_CLASSES, Split
from bench.results import (
    History,
    ImageSet,
    Metrics,
    PerClass,
    Predictions,
    SavedModel,
    SplitMetrics,
    write_bytes_atomic,
)

EVAL_BATCH = 1000
N_MISTAKES = 25


def seed_everything(seed: int) -> None:
    """Python, NumPy and TensorFlow seeds plus deterministic ops: same seed, same numbers."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


@dataclass
class FitOutcome:
    history: History
    fit_seconds: float


def fit(model, split: Split, epochs: int, batch_size: int, clock, shape=None) -> FitOutcome:
    """Train on the split's training part, validating on its validation part each epoch."""
    start = time.perf_counter()
    keras_history = model.fit(
        reshape(split.x_train, shape), split.y_train, validation_data=(reshape(split.x_val, shape), split.y_val),
        epochs=epochs, batch_size=batch_size, verbose=0, callbacks=[clock],
    )
    seconds = time.perf_counter() - start
    logs = keras_history.history
    history = History(
        loss=[float(v) for v in logs["loss"]], accuracy=[float(v) for v in logs["accuracy"]],
        val_loss=[float(v) for v in logs["val_loss"]], val_accuracy=[float(v) for v in logs["val_accuracy"]],
        epoch_seconds=list(clock.seconds),
    )
    return FitOutcome(history, seconds)


def _scores(model, x: np.ndarray, y: np.ndarray, shape=None) -> SplitMetrics:
    loss, accuracy = model.evaluate(reshape(x, shape), y, batch_size=EVAL_BATCH, verbose=0)
    return SplitMetrics(accuracy=float(accuracy), loss=float(loss))


def score_splits(model, split: Split, predictions: Predictions, shape=None) -> Metrics:
    """Loss and accuracy of the trained model on train, validation and test (as the reference does).

    Test accuracy is the share of the stored test predictions that are right, so anyone can
    recompute it from the result file exactly (Keras' float32 counter agrees to about 1e-8).
    """
    test = _scores(model, split.x_test, split.y_test, shape)
    right = np.asarray(predictions.predicted) == np.asarray(predictions.true)
    return Metrics(train=_scores(model, split.x_train, split.y_train, shape),
                   validation=_scores(model, split.x_val, split.y_val, shape),
                   test=SplitMetrics(accuracy=float(right.mean()), loss=test.loss))


def save_model(model, path: Path) -> SavedModel:
    """Keep a trained model in Keras' own format, written as every result file is (``write_bytes_atomic``:
    fsync, rename, the umask's permissions).

    Saved as a plain functional ``keras.Model`` over the same layers, compiled with the same
    optimizer (state included), loss and accuracy metric, so ``keras.saving.load_model`` loads it
    without fmbench (the epoch-loop subclass only changes how ``fit`` runs).
    """
    import keras

    plain = keras.Model(model.inputs, model.outputs, name=model.name)
    plain.compile(optimizer=model.optimizer, loss=model.loss, metrics=["accuracy"])
    # Keras saves only to a path: a scratch file outside the study folder (a kill leaves nothing there),
    # whose bytes then go through the one atomic writer.
    with tempfile.TemporaryDirectory(prefix="fmbench-model-") as scratch:
        tmp = Path(scratch) / path.name
        plain.save(tmp)
        data = tmp.read_bytes()
    write_bytes_atomic(path, data)
    return SavedModel(file=path.name, format="keras", sha256=hashlib.sha256(data).hexdigest())


@dataclass
class TestOutcome:
    predictions: Predictions
    per_class: PerClass
    confusion: list[list[int]]
    mistakes: ImageSet
    inference_seconds: float


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def predict_test(model, split: Split, shape: tuple[int, ...] | None = None) -> TestOutcome:
    """Timed inference on the test set (images reshaped to the model's input), then the test outcome."""
    x_test = reshape(split.x_test, shape)
    model.predict(x_test[:EVAL_BATCH], batch_size=EVAL_BATCH, verbose=0)  # warm-up: trace once
    start = time.perf_counter()
    outputs = model.predict(x_test, batch_size=EVAL_BATCH, verbose=0).astype(np.float64)
    seconds = time.perf_counter() - start
    # Logits, or probabilities from a model that ends in a softmax: both rank classes alike.
    is_probability = np.all(outputs >= 0) and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-4)
    return test_outcome(outputs if is_probability else softmax(outputs), split, seconds)


def reshape(x: np.ndarray, shape: tuple[int, ...] | None) -> np.ndarray:
    """Images as the model's input wants them: 28x28, 28x28x1 or 784 (a view, no copy)."""
    return x if shape is None or tuple(shape) == x.shape[1:] else x.reshape((len(x), *shape))


def test_outcome(probs: np.ndarray, split: Split, seconds: float) -> TestOutcome:
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
        inference_seconds=seconds,
    )
