"""Numbers are checked where they are read: every ok run is recomputed from its own predictions.

For each ok run: test accuracy, the confusion matrix and per-class precision / recall / F1 /
support are recomputed from the stored predictions and true labels; the overfitting gaps from
the stored accuracies; the data digest and the digest of the true labels are compared with the
manifest's; figures no prediction recomputes are cross-checked (``bench.results.crosscheck``).
A run that disagrees is a ``Contradiction`` naming file, field, stored and
recomputed value: readers leave it out and report it, and strict readers (``--strict``,
``check``, ``reference``) stop with exit 2. A gate must never pass on numbers its own files
contradict.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.data import N_CLASSES, labels_digest
from bench.results.contradiction import ACCURACY_TOLERANCE, EXACT_TOLERANCE, Contradiction
from bench.results.crosscheck import crosscheck_run, identity
from bench.results.schema import Manifest, RunResult


def confusion_from(true: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    return np.bincount(true * N_CLASSES + predicted, minlength=N_CLASSES * N_CLASSES).reshape(N_CLASSES, N_CLASSES)


def per_class_from(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support as scikit-learn computes them (zero_division=0)."""
    tp = np.diag(confusion).astype(np.float64)
    predicted, support = confusion.sum(axis=0), confusion.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        denominator = predicted + support
        f1 = np.where(denominator > 0, 2 * tp / denominator, 0.0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def _first_difference(stored: list, recomputed: np.ndarray, tolerance: float) -> int | None:
    stored_array = np.asarray(stored, dtype=np.float64)
    if stored_array.shape != recomputed.shape:
        return -1
    bad = np.flatnonzero(np.abs(stored_array - recomputed) > tolerance)
    return int(bad[0]) if bad.size else None


def _digests(run: RunResult, manifest: Manifest, true: np.ndarray, path: Path) -> list[Contradiction]:
    found = []
    expected = manifest.dataset.digest
    if expected and run.data.digest != expected:
        found.append(Contradiction(path, "data.digest", run.data.digest, expected, "the manifest's dataset"))
    if manifest.test_labels_sha256 and run.data.test_labels_sha256 != manifest.test_labels_sha256:
        found.append(Contradiction(path, "data.test_labels_sha256", run.data.test_labels_sha256,
                                   manifest.test_labels_sha256, "the manifest's test set"))
    if run.data.test_labels_sha256 and labels_digest(true) != run.data.test_labels_sha256:
        found.append(Contradiction(path, "predictions.true", f"labels with SHA-256 {labels_digest(true)}",
                                   run.data.test_labels_sha256, "the recorded test-label digest"))
    return found


def _predictions(run: RunResult, path: Path) -> tuple[np.ndarray, np.ndarray] | Contradiction:
    p = run.predictions
    lengths = {len(p.true), len(p.predicted), len(p.probability)}
    if lengths != {run.data.n_test}:
        return Contradiction(path, "predictions", f"{sorted(lengths)} entries", run.data.n_test, "data.n_test")
    true, predicted = np.asarray(p.true, dtype=np.int64), np.asarray(p.predicted, dtype=np.int64)
    if true.size and (min(true.min(), predicted.min()) < 0 or max(true.max(), predicted.max()) >= N_CLASSES):
        return Contradiction(path, "predictions", "a class outside 0-9", "classes 0-9", "Fashion-MNIST")
    return true, predicted


def _scores(run: RunResult, true: np.ndarray, predicted: np.ndarray, path: Path) -> list[Contradiction]:
    found = []
    source = "recomputing from its predictions"
    accuracy = float(np.mean(true == predicted)) if true.size else 0.0
    if abs(run.metrics.test.accuracy - accuracy) > ACCURACY_TOLERANCE:
        found.append(Contradiction(path, "metrics.test.accuracy", run.metrics.test.accuracy, accuracy, source))
    confusion = confusion_from(true, predicted)
    stored = np.asarray(run.confusion_matrix)
    if stored.shape != confusion.shape or not np.array_equal(stored, confusion):
        at = (np.argwhere(stored != confusion)[0].tolist() if stored.shape == confusion.shape else None)
        where = f"confusion_matrix[{at[0]}][{at[1]}]" if at else "confusion_matrix"
        found.append(Contradiction(path, where, stored[tuple(at)].item() if at else f"shape {stored.shape}",
                                   confusion[tuple(at)].item() if at else f"shape {confusion.shape}", source))
    for name, values in per_class_from(confusion).items():
        index = _first_difference(getattr(run.per_class, name), values, EXACT_TOLERANCE)
        if index is not None:
            stored_value = getattr(run.per_class, name)[index] if index >= 0 else "another length"
            found.append(Contradiction(path, f"per_class.{name}[{max(index, 0)}]", stored_value,
                                       values[max(index, 0)].item(), source))
    return found


def _gaps(run: RunResult, path: Path) -> list[Contradiction]:
    m, found = run.metrics, []
    pairs = (("train_minus_test", m.test.accuracy), ("train_minus_validation", m.validation.accuracy))
    shifts = [getattr(run.gaps, name) - (m.train.accuracy - other) for name, other in pairs]
    if all(abs(shift) > EXACT_TOLERANCE for shift in shifts) and abs(shifts[0] - shifts[1]) <= EXACT_TOLERANCE:
        # Both gaps off by the same amount: the one figure they share, the train accuracy, was changed.
        implied = m.train.accuracy + shifts[0]
        return [Contradiction(path, "metrics.train.accuracy", m.train.accuracy, implied,
                              "its stored gaps and test and validation accuracies")]
    for (name, other), shift in zip(pairs, shifts, strict=True):
        if abs(shift) > EXACT_TOLERANCE:
            found.append(Contradiction(path, f"gaps.{name}", getattr(run.gaps, name), m.train.accuracy - other,
                                       "recomputing from its stored accuracies"))
    return found


def verify_run(run: RunResult, manifest: Manifest, path: Path) -> list[Contradiction]:
    """Every contradiction between a run's stored figures and its own evidence (empty if none): its identity
    for every run; for an ok run, what its predictions recompute and what its other figures cross-check."""
    if run.status != "ok":
        return identity(run, manifest, path)
    arrays = _predictions(run, path)
    if isinstance(arrays, Contradiction):
        return [arrays]
    true, predicted = arrays
    return (_digests(run, manifest, true, path) + _scores(run, true, predicted, path) + _gaps(run, path)
            + crosscheck_run(run, manifest, path))
