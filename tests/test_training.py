"""Determinism and the per-run record: same seed on the same machine gives identical numbers."""

from __future__ import annotations

import dataclasses
import os
import stat
import statistics
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import precision_recall_fscore_support

from bench import data, models, profiles
from bench.models import mlp
from bench.study.plan import StudyConfig
from bench.train import training, tuning


@pytest.fixture(scope="module")
def context(data_dir, local_units):
    profile = dataclasses.replace(profiles.resolve("smoke"), n_train=1500, n_test=500, baseline_epochs=2)
    config = StudyConfig(profile=profile, seeds=[0], setups=models.resolve(["baseline", "tuned"], profile),
                         out=Path("unused"))
    return local_units(config, data.load_dataset(data_dir))


def _numbers(result):
    return result.model_dump(exclude={"timings": True, "history": {"epoch_seconds"}, "started": True, "finished": True})


@pytest.mark.slow
def test_same_seed_twice_gives_identical_results(context):
    baseline = context.config.setups[0]
    first = context.train_unit(baseline, 7, baseline.params)
    second = context.train_unit(baseline, 7, baseline.params)
    assert first.status == "ok"
    assert _numbers(first) == _numbers(second)
    other = context.train_unit(baseline, 8, baseline.params)
    assert other.metrics.test.accuracy != first.metrics.test.accuracy or other.history != first.history


@pytest.mark.slow
def test_tuned_model_is_deterministic_too(context):
    params = dict(mlp.TUNED_DEFAULTS, epochs=1, dropout=0.2)
    tuned = context.config.setups[1]
    first = context.train_unit(tuned, 3, params)
    second = context.train_unit(tuned, 3, params)
    assert _numbers(first) == _numbers(second)


@pytest.mark.slow
def test_grid_stage_is_deterministic(context):
    split = data.make_split(context.dataset, 0, 0.2, 900, 200)
    fixed = dict(mlp.TUNED_DEFAULTS, epochs=1)
    runs = [tuning.run_stage(context.config.setups[1], 1, split.x_train, split.y_train, fixed, context.config.profile,
                             0, context.progress)
            for _ in range(2)]
    first, second = (r.model_dump(exclude={"wall_s", "cv_results"}) for r in runs)
    assert first == second
    scores = [[r.cv_results[f"split{i}_test_score"] for i in range(3)] for r in runs]
    assert scores[0] == scores[1]


@pytest.mark.slow
def test_run_record_is_consistent_with_its_predictions(context):
    baseline = context.config.setups[0]
    result = context.train_unit(baseline, 0, baseline.params)
    m, preds = result.metrics, result.predictions
    assert result.gaps.train_minus_test == pytest.approx(m.train.accuracy - m.test.accuracy)
    truth, predicted = np.array(preds.true), np.array(preds.predicted)
    assert m.test.accuracy == pytest.approx((truth == predicted).mean(), abs=1e-6)
    precision, _, _, support = precision_recall_fscore_support(truth, predicted, labels=range(10), zero_division=0)
    assert result.per_class.precision == pytest.approx(precision.tolist())
    assert result.per_class.support == support.tolist() and sum(support) == len(truth) == 500
    assert np.array(result.confusion_matrix).sum() == 500
    assert len(result.history.loss) == 2 and len(result.history.epoch_seconds) == 2
    timings = result.timings
    assert len(timings.inference_repeats_s) == training.INFERENCE_REPEATS and min(timings.inference_repeats_s) > 0
    assert timings.inference_s == statistics.median(timings.inference_repeats_s)
    assert timings.images_per_s == 500 / timings.inference_s
    assert result.history.steady_epoch_s == result.history.epoch_seconds[1]  # the first compiles as well
    mistakes = result.mistakes
    assert all(p != t for p, t in zip(mistakes.predicted, mistakes.labels, strict=True))
    assert mistakes.probability == sorted(mistakes.probability, reverse=True)
    assert mistakes.to_array().shape == (len(mistakes.labels), 28, 28)


class PassCountingFamily:
    """Stands in for a family at inference: it records each call, and pass k predicts class k for every
    image, so the outcome tells which pass it came from."""

    def __init__(self):
        self.calls: list[str] = []

    def features(self, x, spec):
        return x

    def warm_up(self, model, x):
        self.calls.append("warm-up")

    def probabilities(self, model, x):
        self.calls.append("pass")
        probs = np.full((len(x), 10), 0.05)
        probs[:, self.calls.count("pass")] = 0.55
        return probs


def tiny_split(n_test: int = 20) -> data.Split:
    images, labels = np.zeros((n_test, 28, 28), dtype=np.uint8), np.arange(n_test) % 10
    return data.Split(images, labels, images, labels, images, labels, np.arange(n_test), np.arange(n_test), n_test)


def test_inference_is_timed_in_repeated_passes_after_one_warm_up_and_scored_from_the_first():
    family = PassCountingFamily()
    test = training.predict_test(None, family, tiny_split(), None)
    assert family.calls == ["warm-up"] + ["pass"] * training.INFERENCE_REPEATS and training.INFERENCE_REPEATS >= 5
    assert len(test.inference_repeats) == training.INFERENCE_REPEATS and min(test.inference_repeats) > 0
    assert test.inference_seconds == statistics.median(test.inference_repeats)
    assert set(test.predictions.predicted) == {1}  # the first pass's
    assert len(training.predict_test(None, PassCountingFamily(), tiny_split(), None, repeats=3).inference_repeats) == 3


SAVED_UMASK = 0o027  # not the usual 0o022, so a file that ignores the umask (0o644) is told apart


@pytest.fixture(scope="module")
def saved_study(cli, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("saved") / "study"
    previous = os.umask(SAVED_UMASK)  # the CLI's process inherits it
    try:
        done = cli("--quiet", "run", "--profile", "smoke", "--seeds", "3", "--models", "baseline", "--save-models",
                   "--out", str(out))
    finally:
        os.umask(previous)
    assert done.returncode == 0, done.stderr
    return out


def test_a_saved_model_and_its_split_record_reproduce_train_and_validation_accuracy(saved_study, data_dir):
    import hashlib

    import keras

    from bench.results import RunResult, read_record

    run = read_record(saved_study / "baseline-seed3.json", RunResult)
    model_file = saved_study / run.saved_model.file
    assert run.saved_model.format == "keras"
    assert hashlib.sha256(model_file.read_bytes()).hexdigest() == run.saved_model.sha256
    assert sorted(p.name for p in saved_study.iterdir()) == ["baseline-seed3.json", "baseline-seed3.keras",
                                                             "study.json"]  # no temporary file left
    # Written as the result files are: the umask's permissions, not a fixed mode.
    assert {stat.S_IMODE((saved_study / name).stat().st_mode) for name in ("baseline-seed3.keras", "study.json")} == {
        0o666 & ~SAVED_UMASK}
    record = run.split
    split = data.make_split(data.load_dataset(data_dir), record.seed, record.validation_fraction, record.n_pool)
    assert data.indices_digest(split.train_indices) == record.train_indices_sha256
    assert data.indices_digest(split.val_indices) == record.validation_indices_sha256
    model = keras.saving.load_model(model_file)  # plain Keras: no fmbench class needed
    for x, y, stored in ((split.x_train, split.y_train, run.metrics.train),
                         (split.x_val, split.y_val, run.metrics.validation)):
        loss, accuracy = model.evaluate(x, y, batch_size=1000, verbose=0)
        assert accuracy == pytest.approx(stored.accuracy, abs=1e-6)
        assert loss == pytest.approx(stored.loss, rel=1e-5)
