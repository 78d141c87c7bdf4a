"""Figures that cannot be recomputed from a run's predictions, but are cross-checked against another
stored figure that must agree with them in every honest run.

Each pair below holds exactly in every run the harness writes (measured on the committed studies and
on fresh smoke and quick runs): a run file's model and seed and its file name and split; the model's
parameter count and the sum of its layers'; the mean epoch time and its epoch times; inference speed
and inference time; inference time and the median of its timed passes; the last epoch's validation
accuracy and loss and the stored validation figures; the hyperparameters and the manifest's (its model's
parameters, or its search's winners); every probability in [0, 1] and at least 1/10 (it is the largest of
ten class probabilities); the stored mistakes and the predictions. What no pair pins (fit and epoch seconds,
each timed inference pass, losses, train accuracy) is measured, and said to be unverifiable (README,
"Result files").
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import numpy as np

from bench.data import CLASS_NAMES, N_CLASSES
from bench.results.contradiction import ACCURACY_TOLERANCE, Contradiction
from bench.results.schema import Manifest, RunResult

FILE_NAME = "{model}-seed{seed}.json"
# A softmax's largest value is at least 1/10; a model's own softmax sums to 1 within 1e-4 (the harness's
# test for "already probabilities"), and stored probabilities are rounded to 6 decimals.
PROBABILITY_TOLERANCE = 1e-4
# Losses are float32 means over batches; an evaluation with another batch size may differ in round-off.
LOSS_TOLERANCE = 1e-5


def identity(run: RunResult, manifest: Manifest, path: Path) -> list[Contradiction]:
    """The run's model and seed against its file name, its split and the manifest."""
    found = []
    named = _parse_name(path.name)
    if named is None:
        return [Contradiction(path, "file name", path.name, FILE_NAME, "the result-file naming rule")]
    model, seed = named
    if run.model != model:
        found.append(Contradiction(path, "model", run.model, model, "its file name"))
    if run.seed != seed:
        found.append(Contradiction(path, "seed", run.seed, seed, "its file name"))
    if run.split is not None and run.split.seed != run.seed:
        found.append(Contradiction(path, "split.seed", run.split.seed, run.seed, "the run's seed"))
    for name, stored, expected in (("study", run.study, manifest.study), ("profile", run.profile, manifest.profile)):
        if stored != expected:
            found.append(Contradiction(path, name, stored, expected, "the manifest"))
    return found


def _parse_name(name: str) -> tuple[str, int] | None:
    stem, sep, seed = name.removesuffix(".json").rpartition("-seed")
    if not sep or not stem or not seed.isdigit() or not name.endswith(".json"):
        return None
    return stem, int(seed)


def model_record(run: RunResult, path: Path) -> list[Contradiction]:
    found = []
    layers = run.architecture
    if layers and run.total_params is not None and run.total_params != sum(layer.params for layer in layers):
        found.append(Contradiction(path, "total_params", run.total_params, sum(layer.params for layer in layers),
                                   "the sum of its layers' parameters"))
    flops = sum(layer.flops or 0 for layer in layers)
    if layers and run.flops_per_image is not None and run.flops_per_image != flops:
        found.append(Contradiction(path, "flops_per_image", run.flops_per_image, flops,
                                   "the sum of its layers' FLOPs"))
    return found


def timings(run: RunResult, path: Path) -> list[Contradiction]:
    """Seconds cannot be verified, but the figures derived from them can."""
    found, t = [], run.timings
    seconds = run.history.epoch_seconds if run.history else []
    if seconds and t.epoch_s_mean is not None and not math.isclose(t.epoch_s_mean, sum(seconds) / len(seconds),
                                                                     rel_tol=1e-9):
        found.append(Contradiction(path, "timings.epoch_s_mean", t.epoch_s_mean, sum(seconds) / len(seconds),
                                   "the mean of history.epoch_seconds"))
    if t.inference_s > 0 and not math.isclose(t.images_per_s, run.data.n_test / t.inference_s, rel_tol=1e-9):
        found.append(Contradiction(path, "timings.images_per_s", t.images_per_s, run.data.n_test / t.inference_s,
                                   "data.n_test / timings.inference_s"))
    return found + inference_repeats(run, path)


def inference_repeats(run: RunResult, path: Path) -> list[Contradiction]:
    """The stored inference time is the median of the timed passes, and there is at least one."""
    t = run.timings
    if not t.inference_repeats_s:
        return [Contradiction(path, "timings.inference_repeats_s", [], "at least one timing",
                              "a measured timings.inference_s")]
    median = statistics.median(t.inference_repeats_s)
    if not math.isclose(t.inference_s, median, rel_tol=1e-9):
        return [Contradiction(path, "timings.inference_s", t.inference_s, median,
                              "the median of timings.inference_repeats_s")]
    return []


def history(run: RunResult, path: Path) -> list[Contradiction]:
    """The last epoch's validation figures are the stored validation figures: the same model, the same images."""
    h, found = run.history, []
    if h is None:
        return []
    lengths = {len(h.loss), len(h.accuracy), len(h.val_loss), len(h.val_accuracy), len(h.epoch_seconds)}
    if len(lengths) != 1 or not h.loss:
        return [Contradiction(path, "history", f"lists of {sorted(lengths)} epochs", "one length",
                              "one entry per epoch")]
    validation = run.metrics.validation
    if abs(h.val_accuracy[-1] - validation.accuracy) > ACCURACY_TOLERANCE:
        found.append(Contradiction(path, "metrics.validation.accuracy", validation.accuracy, h.val_accuracy[-1],
                                   "its last epoch's history.val_accuracy"))
    if not math.isclose(h.val_loss[-1], validation.loss, rel_tol=LOSS_TOLERANCE, abs_tol=LOSS_TOLERANCE):
        found.append(Contradiction(path, "metrics.validation.loss", validation.loss, h.val_loss[-1],
                                   "its last epoch's history.val_loss"))
    return found


def hyperparameters(run: RunResult, manifest: Manifest, path: Path) -> list[Contradiction]:
    """An untuned model runs with its recorded parameters; a tuned one with its search's winners."""
    expected, source = expected_params(run, manifest)
    if expected is None:
        return []
    for key in [*run.hyperparameters, *(k for k in expected if k not in run.hyperparameters)]:
        if run.hyperparameters.get(key) != expected.get(key):
            return [Contradiction(path, f"hyperparameters.{key}", run.hyperparameters.get(key), expected.get(key),
                                  source)]
    return []


def expected_params(run: RunResult, manifest: Manifest) -> tuple[dict | None, str]:
    spec = manifest.model_specs.get(run.model)
    if spec is None:  # migrated from schema 1, which did not record it
        return None, ""
    if not spec.tuned:
        return spec.params, f"the manifest's model_specs.{run.model}.params"
    if not manifest.seeds:
        return None, ""  # a study without seeds: named by bench.results.whole
    search_seed = run.seed if manifest.tune_per_seed else manifest.seeds[0]
    tuning = [t for t in manifest.tuning if (t.model, t.seed) == (run.model, search_seed)]
    if not tuning:
        return None, ""  # the study names a missing search itself (bench.results.whole)
    return tuning[0].best_params, f"the manifest's tuning of {run.model} (best_params of seed {search_seed}'s search)"


def predictions(run: RunResult, path: Path) -> list[Contradiction]:
    """Probabilities in [0, 1] and at least 1/10; the stored mistakes are the predictions' most confident ones."""
    probability = np.asarray(run.predictions.probability, dtype=np.float64)
    low = 1 / N_CLASSES - PROBABILITY_TOLERANCE
    bad = np.flatnonzero((probability < low) | (probability > 1))
    if bad.size:
        return [Contradiction(path, f"predictions.probability[{bad[0]}]", float(probability[bad[0]]),
                              f"a value in [{1 / N_CLASSES:g}, 1]", "the largest of ten class probabilities")]
    found = [] if list(run.per_class.class_names) == list(CLASS_NAMES) else [
        Contradiction(path, "per_class.class_names", run.per_class.class_names, list(CLASS_NAMES), "Fashion-MNIST")]
    return found + mistakes(run, probability, path)


def mistakes(run: RunResult, probability: np.ndarray, path: Path) -> list[Contradiction]:
    m, p = run.mistakes, run.predictions
    if m is None:
        return []
    source = "its predictions at the same test index"
    for i, index in enumerate(m.indices):
        if not 0 <= index < len(p.true):
            return [Contradiction(path, f"mistakes.indices[{i}]", index, f"an index below {len(p.true)}", source)]
        pairs = [("labels", m.labels, p.true), ("predicted", m.predicted, p.predicted),
                 ("probability", m.probability, p.probability)]
        for name, stored, expected in ((n, a[i], b[index]) for n, a, b in pairs if a is not None):
            if stored != expected:
                return [Contradiction(path, f"mistakes.{name}[{i}]", stored, expected, source)]
        if p.true[index] == p.predicted[index]:
            return [Contradiction(path, f"mistakes.indices[{i}]", index, "a misclassified image", source)]
    wrong = np.flatnonzero(np.asarray(p.true) != np.asarray(p.predicted))
    left_out = np.setdiff1d(wrong, m.indices)
    if m.indices and left_out.size and probability[left_out].max() > min(m.probability or [1.0]):
        at = int(left_out[np.argmax(probability[left_out])])
        return [Contradiction(path, "mistakes", f"a lowest confidence of {min(m.probability):g}",
                              f"test image {at} at {probability[at]:g}", "its most confident mistake left out")]
    return []


def crosscheck_run(run: RunResult, manifest: Manifest, path: Path) -> list[Contradiction]:
    """Every contradiction between an ok run's figures that the file cannot recompute and their partners."""
    return (identity(run, manifest, path) + model_record(run, path) + timings(run, path) + history(run, path)
            + hyperparameters(run, manifest, path) + predictions(run, path))
