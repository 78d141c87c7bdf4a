"""bench.results.verify: every reader recomputes a run's figures from its own predictions and digests.

The study is a real one committed under tests/data/; each test edits a copy of one of its files.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from bench import results
from bench.data import labels_digest
from bench.errors import BenchError
from bench.report.build import build_report
from bench.results.verify import confusion_from, per_class_from, verify_run

TAMPERED = "tuned-seed0.json"


def edit_copy(source: Path, target: Path, change, name: str = TAMPERED) -> Path:
    shutil.copytree(source, target)
    payload = json.loads((target / name).read_text())
    change(payload)
    (target / name).write_text(json.dumps(payload))
    return target


def set_test_accuracy(run):
    run["metrics"]["test"]["accuracy"] = 0.99


def set_digest(run):
    run["data"]["digest"] = "0" * 64


def flip_true_label(run):
    run["predictions"]["true"][7] = (run["predictions"]["true"][7] + 1) % 10


# (edit, field named in the message, stored value as printed, recomputed value as printed or None)
CASES = {
    "test accuracy": (set_test_accuracy, "metrics.test.accuracy", "0.99", None),
    "data digest": (set_digest, "data.digest", "0" * 64, None),
    "true label": (flip_true_label, "predictions.true", "labels with SHA-256", None),
}


def stored_accuracy(study: Path) -> float:
    return json.loads((study / TAMPERED).read_text())["metrics"]["test"]["accuracy"]


def test_the_committed_study_verifies_clean(smoke_study):
    study = results.load_study(smoke_study)
    assert study.problems == [] and len(study.runs) == 6
    for run in study.runs:
        assert verify_run(run, study.manifest, smoke_study / run.file_name) == []


@pytest.mark.parametrize("case", CASES)
def test_a_contradicted_figure_is_left_out_and_named_with_both_values(smoke_study, tmp_path, case):
    change, field, stored, _ = CASES[case]
    folder = edit_copy(smoke_study, tmp_path / "study", change)
    study = results.load_study(folder, strict=False)
    assert TAMPERED not in {r.file_name for r in study.runs} and len(study.runs) == 5
    problem = study.problems[0]
    assert problem.startswith(f"{folder / TAMPERED}: field '{field}' stores {stored}")
    assert "the file contradicts itself, so this run is left out" in problem
    with pytest.raises(BenchError, match=re.escape(f"field '{field}'")):
        results.load_study(folder)


def test_accuracy_message_gives_stored_and_recomputed_values(smoke_study, tmp_path):
    folder = edit_copy(smoke_study, tmp_path / "study", set_test_accuracy)
    right = stored_accuracy(smoke_study)
    (problem, *_) = results.load_study(folder, strict=False).problems
    assert problem.startswith(f"{folder / TAMPERED}: field 'metrics.test.accuracy' stores 0.99 but recomputing "
                              f"from its predictions gives {right:.6g}")


@pytest.mark.parametrize("case", CASES)
def test_report_strict_exits_2_and_lenient_shows_the_problem(smoke_study, tmp_path, cli, case):
    change, field, stored, _ = CASES[case]
    folder = edit_copy(smoke_study, tmp_path / "study", change)
    done = cli("report", str(folder), "--strict", "--html", "--out", str(tmp_path / "strict"))
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"fmbench report: error: {folder / TAMPERED}: field '{field}' stores {stored}")
    assert not (tmp_path / "strict").exists()
    done = cli("report", str(folder), "--html", "--out", str(tmp_path / "lenient"))
    assert done.returncode == 0, done.stderr
    assert f"field '{field}'" in done.stderr
    html = (tmp_path / "lenient" / "report.html").read_text().replace("&#39;", "'")
    assert f"{folder / TAMPERED}: field '{field}' stores" in html


@pytest.mark.parametrize("case", CASES)
def test_check_and_reference_refuse_a_self_contradicting_study(smoke_study, tmp_path, cli, case):
    change, field, _, _ = CASES[case]
    reference = tmp_path / "ref.json"
    assert cli("reference", str(smoke_study), "--out", str(reference)).returncode == 0
    folder = edit_copy(smoke_study, tmp_path / "study", change)
    for args in (("check", str(folder), "--reference", str(reference)),
                 ("reference", str(folder), "--out", str(tmp_path / "new.json"))):
        done = cli(*args)
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"{folder / TAMPERED}: field '{field}'" in done.stderr
    assert not (tmp_path / "new.json").exists()


def test_report_headline_never_shows_the_contradicted_number(smoke_study, tmp_path):
    folder = edit_copy(smoke_study, tmp_path / "study", set_test_accuracy)
    report = build_report([folder])
    test_accuracy = next(r for r in report.headline if r["metric"] == "test_accuracy")
    assert [c["n"] for c in test_accuracy["cells"]] == [3, 2]
    assert all(c["value"] < 0.9 for c in test_accuracy["cells"])


@pytest.mark.parametrize(("where", "change"), [
    ("confusion_matrix[0][0]", lambda r: r["confusion_matrix"][0].__setitem__(0, r["confusion_matrix"][0][0] + 1)),
    ("per_class.f1[3]", lambda r: r["per_class"]["f1"].__setitem__(3, 0.5)),
    ("per_class.support[0]", lambda r: r["per_class"]["support"].__setitem__(0, 1)),
    ("gaps.train_minus_test", lambda r: r["gaps"].update(train_minus_test=0.2)),
    ("gaps.train_minus_validation", lambda r: r["gaps"].update(train_minus_validation=-0.2)),
    ("data.test_labels_sha256", lambda r: r["data"].update(test_labels_sha256="f" * 64)),
    ("predictions", lambda r: r["predictions"]["probability"].pop()),
])
def test_every_recomputed_field_is_checked(smoke_study, tmp_path, where, change):
    folder = edit_copy(smoke_study, tmp_path / "study", change)
    problems = results.load_study(folder, strict=False).problems
    assert any(p.startswith(f"{folder / TAMPERED}: field '{where}'") for p in problems), problems


def test_recomputation_matches_scikit_learn():
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    rng = __import__("numpy").random.default_rng(0)
    true, predicted = rng.integers(0, 10, 500), rng.integers(0, 10, 500)
    predicted[predicted == 9] = 8  # a class never predicted: precision 0 by zero_division=0
    confusion = confusion_from(true, predicted)
    assert (confusion == confusion_matrix(true, predicted, labels=range(10))).all()
    expected = precision_recall_fscore_support(true, predicted, labels=range(10), zero_division=0)
    for ours, theirs in zip(per_class_from(confusion).values(), expected, strict=True):
        assert ours == pytest.approx(theirs, abs=1e-12)


def test_the_label_digest_is_of_the_stored_true_labels(smoke_study):
    study = results.load_study(smoke_study)
    for run in study.runs:
        assert labels_digest(run.predictions.true) == run.data.test_labels_sha256 == study.manifest.test_labels_sha256


def test_a_schema_1_file_migrates_and_still_verifies_its_numbers(smoke_study, tmp_path):
    def to_schema_1(run):
        run["schema_version"] = 1
        run["timings"]["data_load_s"] = 1.5
        for name in ("split", "saved_model", "host", "worker"):
            run.pop(name, None)
        run["data"].pop("test_labels_sha256")

    def manifest_to_schema_1(manifest):
        manifest["schema_version"] = 1
        for name in ("data_load_s", "test_labels_sha256", "threads_per_run", "tune_per_seed", "sessions"):
            manifest.pop(name)

    folder = edit_copy(smoke_study, tmp_path / "study", to_schema_1)
    for name in ("study.json", "baseline-seed0.json"):
        edit_copy(folder, tmp_path / "next", manifest_to_schema_1 if name == "study.json" else to_schema_1, name)
        shutil.rmtree(folder)
        (tmp_path / "next").rename(folder)
    run = results.read_record(folder / TAMPERED, results.RunResult)
    assert run.schema_version == results.SCHEMA_VERSION and run.split is None and run.data.test_labels_sha256 is None
    assert (run.host, run.worker) == (run.environment.hostname, None)  # recorded in its environment; the worker not
    study = results.load_study(folder)
    assert study.problems == [] and study.manifest.sessions == [] and study.manifest.threads_per_run is None
    edit_copy(folder, tmp_path / "worse", set_test_accuracy)
    with pytest.raises(BenchError, match=r"metrics\.test\.accuracy"):
        results.load_study(tmp_path / "worse")
