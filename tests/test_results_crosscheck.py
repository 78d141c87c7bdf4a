"""bench.results.crosscheck: figures that no prediction recomputes are cross-checked against a partner that
agrees with them in every honest run; each edit below is named with its field, stored and expected value.

Each test edits a copy of one run of the real study committed under tests/data/studies/tiny-a.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from bench import results
from bench.errors import BenchError

TAMPERED = "tuned-seed0.json"


def tampered(source: Path, target: Path, change) -> Path:
    shutil.copytree(source, target)
    payload = json.loads((target / TAMPERED).read_text())
    change(payload)
    (target / TAMPERED).write_text(json.dumps(payload))
    return target


def last_epoch(run, field, value):
    run["history"][field][-1] = value


# (edit, the message's start after the path)
CASES = {
    "total params": (lambda r: r.update(total_params=1),
                     "field 'total_params' stores 1 but the sum of its layers' parameters gives 55050"),
    "flops": (lambda r: r.update(flops_per_image=7),
              "field 'flops_per_image' stores 7 but the sum of its layers' FLOPs gives 109824"),
    "epoch mean": (lambda r: r["timings"].update(epoch_s_mean=9.0),
                   "field 'timings.epoch_s_mean' stores 9 but the mean of history.epoch_seconds gives"),
    "images per second": (lambda r: r["timings"].update(images_per_s=1e9),
                          "field 'timings.images_per_s' stores 1e+09 but data.n_test / timings.inference_s gives"),
    "inference time off its passes' median": (lambda r: r["timings"].update(
        inference_s=0.25, images_per_s=r["data"]["n_test"] / 0.25, inference_repeats_s=[0.7, 0.5, 0.6]),
        "field 'timings.inference_s' stores 0.25 but the median of timings.inference_repeats_s gives 0.6"),
    "no inference pass": (lambda r: r["timings"].update(inference_repeats_s=[]),
                          "field 'timings.inference_repeats_s' stores [] but a measured timings.inference_s gives "
                          "at least one timing"),
    "last validation accuracy": (lambda r: last_epoch(r, "val_accuracy", 0.5),
                                 "field 'metrics.validation.accuracy' stores 0.8 but its last epoch's "
                                 "history.val_accuracy gives 0.5"),
    "last validation loss": (lambda r: last_epoch(r, "val_loss", 3.0),
                             "field 'metrics.validation.loss' stores 0.585942 but its last epoch's "
                             "history.val_loss gives 3"),
    "a tuned hyperparameter": (lambda r: r["hyperparameters"].update(learning_rate=0.777),
                               "field 'hyperparameters.learning_rate' stores 0.777 but the manifest's tuning of "
                               "tuned (best_params of seed 0's search) gives 0.003"),
    "probability above 1": (lambda r: r["predictions"]["probability"].__setitem__(3, 7.5),
                            "field 'predictions.probability[3]' stores 7.5 but the largest of ten class "
                            "probabilities gives a value in [0.1, 1]"),
    "negative probability": (lambda r: r["predictions"]["probability"].__setitem__(4, -3.0),
                             "field 'predictions.probability[4]' stores -3 but the largest of ten class "
                             "probabilities gives a value in [0.1, 1]"),
    "a mistake's prediction": (lambda r: r["mistakes"]["predicted"].__setitem__(0, r["mistakes"]["labels"][0]),
                               "field 'mistakes.predicted[0]' stores"),
    "train accuracy": (lambda r: r["metrics"]["train"].update(accuracy=0.99),
                       "field 'metrics.train.accuracy' stores 0.99 but its stored gaps and test and validation "
                       "accuracies give"),
    "class names": (lambda r: r["per_class"]["class_names"].reverse(), "field 'per_class.class_names' stores"),
}


@pytest.mark.parametrize("case", CASES)
def test_an_edited_figure_is_named_and_its_run_left_out(smoke_study, tmp_path, case):
    change, message = CASES[case]
    folder = tampered(smoke_study, tmp_path / "study", change)
    study = results.load_study(folder, strict=False)
    assert TAMPERED not in {r.file_name for r in study.runs} and len(study.runs) == 5
    (problem,) = study.problems
    assert problem.startswith(f"{folder / TAMPERED}: {message}"), problem
    with pytest.raises(BenchError, match=re.escape(message)):
        results.load_study(folder)


def test_an_untuned_models_hyperparameters_are_its_recorded_parameters(smoke_study, tmp_path):
    shutil.copytree(smoke_study, tmp_path / "study")
    path = tmp_path / "study" / "baseline-seed1.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "hyperparameters": {"units": 128}}))
    (problem,) = results.load_study(tmp_path / "study", strict=False).problems
    assert problem.startswith(f"{path}: field 'hyperparameters.optimizer' stores None but the manifest's "
                              "model_specs.baseline.params gives adam")


def test_an_edited_total_params_is_named_by_check_with_exit_2(smoke_study, tmp_path, cli):
    folder = tampered(smoke_study, tmp_path / "study", CASES["total params"][0])
    reference = tmp_path / "reference.json"
    assert cli("--quiet", "reference", str(smoke_study), "--out", str(reference)).returncode == 0
    done = cli("check", str(folder), "--reference", str(reference))
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert f"{folder / TAMPERED}: field 'total_params' stores 1 but the sum of its layers' parameters" in line
