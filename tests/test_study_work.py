"""bench.study.work: what a unit does once it runs: the seed's split, the run's record, training a Keras model
or an estimator, and one tuning stage. Small: 600 training images (480 after validation), 300 test images."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime

import numpy as np
import pytest

from bench import data, models, profiles
from bench.models import PLAIN
from bench.progress import Progress
from bench.results import Environment, Stage
from bench.study import work
from bench.study.plan import StudyConfig
from bench.study.runner import unit_env
from bench.study.units import RunUnit, StageUnit

ENVIRONMENT = Environment(hostname="h", cpu_model="c", cpu_cores=2, memory_gib=1.0, gpus=[], os="o", python="3",
                          packages={}, keras_backend="tensorflow", op_determinism=True, git_commit=None)


@pytest.fixture(scope="module")
def study(data_dir, tmp_path_factory):
    """(unit environment, dataset, {name: setup}) of a small study of the baseline MLP and logistic regression."""
    folder = tmp_path_factory.mktemp("work")
    (folder / "c.toml").write_text('[models.logreg]\nparams = {max_iter = 10}\nstages = [["regularisation", ["C"]]]\n'
                                   "[models.logreg.grids]\nC = [0.01, 1.0]\n")
    profile = dataclasses.replace(profiles.resolve("smoke", folder / "c.toml"), n_train=600, n_test=300)
    setups = models.resolve(["baseline", "logreg"], profile)
    dataset = data.load_dataset(data_dir)
    config = StudyConfig(profile=profile, seeds=[0, 1], setups=setups, out=folder / "study", save_models=True)
    return unit_env(config, dataset), dataset, {setup.name: setup for setup in setups}


def test_each_seed_has_its_own_split_of_the_profiles_size_on_one_test_set(study):
    env, dataset, _ = study
    first, again, other = (work.split_for(env.profile, dataset, seed) for seed in (0, 0, 1))
    assert len(first.y_train) + len(first.y_val) == first.n_pool == 600 and len(first.y_val) == 120
    assert len(first.y_test) == 300 and np.array_equal(first.y_test, other.y_test)
    assert np.array_equal(first.train_indices, again.train_indices)
    assert not np.array_equal(first.train_indices, other.train_indices)
    assert np.array_equal(first.x_train, dataset.x_train[first.train_indices])
    record = work.split_record(first, 0, env.profile.validation_fraction)
    assert record.seed == 0 and record.n_pool == 600 and record.method == data.SPLIT_METHOD
    assert record.train_indices_sha256 == data.indices_digest(first.train_indices)
    assert record.validation_indices_sha256 == data.indices_digest(first.val_indices)
    assert record.train_indices_sha256 != work.split_record(other, 1, 0.2).train_indices_sha256


def test_a_model_keeps_its_own_fast_path_options_unless_the_study_sets_them(study):
    env, _, setups = study
    assert work.options_for(env, setups["baseline"]) == setups["baseline"].spec.options
    assert work.options_for(dataclasses.replace(env, options=PLAIN), setups["baseline"]) == PLAIN


def test_the_run_record_says_who_what_where_and_on_which_data(study):
    env, dataset, setups = study
    split = work.split_for(env.profile, dataset, 1)
    unit = RunUnit("baseline", 1, dict(setups["baseline"].params))
    record = work.run_record(env, dataset, setups["baseline"], unit, split, ENVIRONMENT, ("host-a", "tcp://w:1"))
    assert (record["study"], record["profile"], record["model"], record["seed"]) == ("study", "smoke", "baseline", 1)
    assert record["hyperparameters"] == setups["baseline"].params and record["model_kind"] == "keras"
    assert record["compile_options"] == setups["baseline"].spec.options.as_dict()
    assert (record["host"], record["worker"], record["environment"]) == ("host-a", "tcp://w:1", ENVIRONMENT)
    recorded = record["data"]
    assert (recorded.n_train, recorded.n_validation, recorded.n_test) == (480, 120, 300)
    assert recorded.digest == dataset.digest and recorded.test_labels_sha256 == data.labels_digest(split.y_test)
    assert record["split"] == work.split_record(split, 1, 0.2)
    started = datetime.fromisoformat(record["started"])
    assert started.tzinfo is not None and abs((datetime.now(UTC) - started).total_seconds()) < 60
    estimator = work.run_record(env, dataset, setups["logreg"], RunUnit("logreg", 1, {}), split, ENVIRONMENT,
                                ("h", "in-process"))
    assert estimator["model_kind"] == "sklearn" and estimator["compile_options"] == {}
    assert estimator["factory"] == "sklearn.linear_model:LogisticRegression"


@pytest.mark.slow
def test_an_estimator_run_is_seeded_scored_and_described(study):
    env, dataset, setups = study
    split = work.split_for(env.profile, dataset, 1)
    fields = work.train(env, setups["logreg"], RunUnit("logreg", 1, dict(setups["logreg"].params)), split,
                        Progress(quiet=True))
    assert fields["estimator"].startswith("LogisticRegression(") and "max_iter=10" in fields["estimator"]
    assert "random_state=1" in fields["estimator"]
    metrics, predictions = fields["metrics"], fields["predictions"]
    assert metrics.test.accuracy == pytest.approx(np.mean(np.array(predictions.predicted) == split.y_test))
    assert fields["gaps"].train_minus_test == pytest.approx(metrics.train.accuracy - metrics.test.accuracy)
    assert fields["timings"].epoch_s_mean is None and fields["timings"].images_per_s > 0
    assert np.array(fields["confusion_matrix"]).sum() == 300 and "history" not in fields
    assert fields["compile_options"] == {}  # nothing compiled


@pytest.mark.slow
def test_a_keras_run_trains_its_epochs_and_saves_the_model(study):
    from bench import tfruntime

    env, dataset, setups = study
    tfruntime.start(env.threads)  # as a unit does before it trains
    split = work.split_for(env.profile, dataset, 0)
    params = dict(setups["baseline"].params, epochs=1)
    fields = work.train(env, setups["baseline"], RunUnit("baseline", 0, params), split, Progress(quiet=True))
    history = fields["history"]
    assert len(history.loss) == len(history.val_accuracy) == len(history.epoch_seconds) == 1
    assert fields["timings"].epoch_s_mean == pytest.approx(history.epoch_seconds[0])
    assert fields["total_params"] == sum(layer["params"] for layer in fields["architecture"])
    assert fields["flops_per_image"] == sum(layer["flops"] for layer in fields["architecture"]) > 0
    # The fast-path options and what the built model was compiled with (a user's factory may compile it).
    assert fields["compile_options"] == {**setups["baseline"].spec.options.as_dict(), "optimizer": "adam",
                                         "learning_rate": 0.001}
    saved = env.out / "baseline-seed0.keras"
    assert fields["saved_model"].file == saved.name
    assert fields["saved_model"].sha256 == hashlib.sha256(saved.read_bytes()).hexdigest()
    assert fields["metrics"].test.accuracy > 0.5


@pytest.mark.slow
def test_a_tuning_stage_searches_its_grid_on_the_tune_seeds_split(study):
    env, dataset, setups = study
    unit = StageUnit("logreg", tune_seed=0, index=0, fixed={"max_iter": 10, "tol": 1e-4})
    first = work.stage(env, dataset, setups["logreg"], unit, Progress(quiet=True), parallel=False)
    assert isinstance(first, Stage) and (first.index, first.name) == (1, "regularisation")
    assert first.param_grid == {"C": [0.01, 1.0]} and first.fixed == {"max_iter": 10, "tol": 1e-4}
    assert first.best_params in first.cv_results["params"] and first.n_folds == env.profile.cv_folds == 3
    scores = first.cv_results["mean_test_score"]
    assert first.best_score == pytest.approx(max(scores))
    assert len(first.cv_results["split0_test_score"]) == 2
    second = work.stage(env, dataset, setups["logreg"], unit, Progress(quiet=True), parallel=False)
    assert second.cv_results["mean_test_score"] == scores and second.best_params == first.best_params
