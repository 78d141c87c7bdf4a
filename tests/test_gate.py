"""The regression gate: allowance rules, check sentences, the reference file, and `fmbench check` end to end."""

from __future__ import annotations

import json
import math
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from scipy import stats as scipy_stats

from bench.analysis.gate import (
    FLOOR,
    Allowance,
    MetricCheck,
    SeedValues,
    allowance,
    read_reference,
)
from bench.analysis.significance import pooled_spread
from bench.errors import BenchError

COMMITTED_REFERENCE = Path(__file__).resolve().parent / "data" / "smoke-reference.json"


def values(seeds, numbers) -> SeedValues:
    return SeedValues.of(list(seeds), list(numbers))


def test_explicit_max_drop_is_used_exactly():
    rule = allowance(values([0, 1], [0.79, 0.75]), values([0, 1], [0.70, 0.60]), explicit=0.002)
    assert (rule.value, rule.rule) == (0.002, "--max-drop")


def test_identical_per_seed_shift_leaves_only_the_floor():
    ref, new = values([0, 1], [0.79, 0.75]), values([0, 1], [0.76, 0.72])
    assert allowance(ref, new, None) == allowance(ref, ref, None)
    assert allowance(ref, new, None) == Allowance(FLOOR, "floor 0.005, seeds reproduce", paired=True)


def test_seeds_that_land_elsewhere_get_the_pooled_margin():
    ref, new = values([0, 1], [0.79, 0.75]), values([0, 1], [0.755, 0.751])
    spread = pooled_spread([ref.values, new.values, [0.78, 0.76], [0.77, 0.72]])
    rule = allowance(ref, new, None, spread)
    expected = scipy_stats.t.ppf(0.99, spread[1]) * spread[0] * math.sqrt(1 / 2 + 1 / 2)
    assert rule == Allowance(pytest.approx(expected), "pooled t 99% margin", paired=False)
    assert 0.05 < rule.value < 0.15


def test_without_shared_seeds_or_pool_the_margin_is_welch():
    rule = allowance(values([0, 1], [0.79, 0.75]), values([5, 6], [0.78, 0.76]), None)
    assert rule.rule == "Welch t 99% margin" and rule.value > 0.05
    assert allowance(values([0], [0.79]), values([5], [0.70]), None).value == FLOOR


def test_another_numerics_path_within_seed_noise_passes_and_a_collapse_fails():
    """Real smoke accuracies, seeds 0 and 1, before and after training moved to an XLA-compiled epoch loop."""
    before = {"baseline": values([0, 1], [0.7913, 0.7504]), "tuned": values([0, 1], [0.7843, 0.7603])}
    after = {"baseline": values([0, 1], [0.7548, 0.7508]), "tuned": values([0, 1], [0.7703, 0.7217])}
    spread = pooled_spread([v.values for side in (before, after) for v in side.values()])
    for model in before:
        drop = before[model].mean - after[model].mean
        assert 0.01 < drop < allowance(before[model], after[model], None, spread).value
    collapsed = values([0, 1], [0.60, 0.58])
    assert before["tuned"].mean - collapsed.mean > allowance(before["tuned"], collapsed, None, spread).value


def test_a_pooled_margin_under_the_floor_is_the_floor():
    rule = allowance(values([0, 1], [0.79, 0.75]), values([0, 1], [0.80, 0.75]), None, (0.0001, 4))
    assert (rule.value, rule.rule) == (FLOOR, "floor 0.005")


def test_a_failed_check_says_what_fell_by_how_much():
    check = MetricCheck("baseline", "test_accuracy", "test accuracy", True, values([0, 1], [0.79, 0.75]),
                        values([0, 1], [0.76, 0.72]), allowance(values([0], [0]), values([0], [0]), 0.005))
    outcome = check.evaluate()
    assert not outcome.passed
    assert outcome.sentence == ("baseline test accuracy fell from 0.7700 to 0.7400 (-3.00 points), worse by more "
                                "than the allowed 0.50 points (--max-drop)")


def test_a_gap_that_rises_fails_and_one_that_falls_passes():
    ref = values([0, 1], [0.03, 0.03])
    rise = MetricCheck("tuned", "gap_train_test", "overfitting gap", False, ref, values([0, 1], [0.05, 0.05]),
                       allowance(ref, ref, None)).evaluate()
    fall = MetricCheck("tuned", "gap_train_test", "overfitting gap", False, ref, values([0, 1], [0.0, 0.0]),
                       allowance(ref, ref, None)).evaluate()
    assert not rise.passed and "rose from 0.0300 to 0.0500" in rise.sentence
    assert fall.passed


def test_reference_file_problems_are_one_clear_error(tmp_path):
    payload = json.loads(COMMITTED_REFERENCE.read_text())
    wrong_version = tmp_path / "v9.json"
    wrong_version.write_text(json.dumps({**payload, "schema_version": 9}))
    with pytest.raises(BenchError, match=r"reference schema_version 9 is not supported \(this fmbench reads 1\)"):
        read_reference(wrong_version)
    not_reference = tmp_path / "run.json"
    not_reference.write_text(json.dumps({"kind": "run"}))
    with pytest.raises(BenchError, match="not an fmbench reference file"):
        read_reference(not_reference)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({k: v for k, v in payload.items() if k != "profile"}))
    with pytest.raises(BenchError, match="invalid reference, field 'profile'"):
        read_reference(broken)


def test_committed_reference_is_a_smoke_reference_on_fixed_seeds():
    reference = read_reference(COMMITTED_REFERENCE)
    assert reference.profile == "smoke" and reference.seeds == [0, 1]
    assert set(reference.models) == {"baseline", "tuned"}
    assert 0.6 < reference.models["baseline"].test_accuracy.mean < 0.9


# --- end to end, on the session's real smoke study -------------------------------------------------

def lose_accuracy(study: Path, drop: float) -> None:
    """Make every run lose ``drop`` of test accuracy, metrics and predictions consistently."""
    for path in study.glob("*-seed*.json"):
        run = json.loads(path.read_text())
        predictions = run["predictions"]
        n_flip = round(drop * len(predictions["true"]))
        correct = [i for i, (t, p) in enumerate(zip(predictions["true"], predictions["predicted"], strict=True))
                   if t == p]
        for i in correct[:n_flip]:
            predictions["predicted"][i] = (predictions["true"][i] + 1) % 10
        run["metrics"]["test"]["accuracy"] -= n_flip / len(predictions["true"])
        run["gaps"]["train_minus_test"] += n_flip / len(predictions["true"])
        path.write_text(json.dumps(run))


@pytest.fixture(scope="module")
def reference(smoke_study, cli, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("reference") / "smoke.json"
    done = cli("reference", str(smoke_study), "--out", str(path))
    assert done.returncode == 0, done.stderr
    assert "profile smoke, models baseline, tuned, seeds 0, 1" in done.stdout
    return path


@pytest.mark.slow
def test_the_committed_reference_passes_on_this_code(smoke_study, cli):
    """The project's CI gate: a change that breaks training fails here."""
    done = cli("check", str(smoke_study), "--reference", str(COMMITTED_REFERENCE))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all 6 checks passed" in done.stdout


@pytest.mark.slow
def test_check_passes_on_the_same_study_and_writes_ci_files(smoke_study, reference, cli, tmp_path):
    junit, markdown = tmp_path / "check.xml", tmp_path / "check.md"
    done = cli("check", str(smoke_study), "--reference", str(reference), "--junit", str(junit),
               "--markdown", str(markdown), "--per-class")
    assert done.returncode == 0, done.stdout + done.stderr
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("tests") == "26" and suite.get("failures") == "0"
    assert "all 26 checks passed" in markdown.read_text()


@pytest.mark.slow
def test_a_three_point_drop_fails_with_both_numbers(smoke_study, reference, cli, tmp_path):
    worse = tmp_path / "worse"
    shutil.copytree(smoke_study, worse)
    lose_accuracy(worse, 0.03)
    junit, markdown = tmp_path / "check.xml", tmp_path / "check.md"
    done = cli("check", str(worse), "--reference", str(reference), "--junit", str(junit), "--markdown", str(markdown))
    assert done.returncode == 1, done.stdout + done.stderr
    ref = read_reference(reference).models["baseline"].test_accuracy.mean
    before, after = f"{ref:.4f}", f"{ref - 0.03:.4f}"
    case = next(c for c in ET.parse(junit).getroot().iter("testcase")
                if c.get("classname") == "fmbench.baseline" and c.get("name") == "test_accuracy")
    failure = case.find("failure")
    assert failure is not None and before in failure.get("message") and after in failure.get("message")
    assert f"reference={before} observed={after}" in failure.text
    row = next(line for line in markdown.read_text().splitlines() if line.startswith("| baseline.test_accuracy"))
    assert f"| {before} | {after} | -3.00 pts |" in row and "**FAIL**" in row
    assert f"FAIL: baseline test accuracy fell from {before} to {after} (-3.00 points)" in done.stdout


@pytest.mark.slow
def test_per_class_f1_is_gated_only_when_asked(smoke_study, reference, cli, tmp_path):
    worse = tmp_path / "shirt"
    shutil.copytree(smoke_study, worse)
    for path in worse.glob("tuned-seed*.json"):
        run = json.loads(path.read_text())
        run["per_class"]["f1"][6] -= 0.05  # class 6 is Shirt
        path.write_text(json.dumps(run))
    assert cli("check", str(worse), "--reference", str(reference)).returncode == 0
    done = cli("check", str(worse), "--reference", str(reference), "--per-class")
    assert done.returncode == 1
    assert "FAIL: tuned F1 of class Shirt fell from" in done.stdout


@pytest.mark.slow
def test_a_failed_run_fails_the_gate(smoke_study, reference, cli, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(smoke_study, broken)
    path = broken / "tuned-seed1.json"
    run = json.loads(path.read_text())
    path.write_text(json.dumps({**run, "status": "failed", "error": "ValueError: loss is NaN"}))
    done = cli("check", str(broken), "--reference", str(reference))
    assert done.returncode == 1
    assert "FAIL: tuned: 1 of 2 runs succeeded; seed 1 failed: ValueError: loss is NaN" in done.stdout


@pytest.mark.slow
def test_bad_inputs_exit_2_with_one_line(smoke_study, reference, cli, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    done = cli("check", str(empty), "--reference", str(reference))
    assert (done.returncode, done.stderr.strip()) == (
        2, f"fmbench check: error: no study.json in {empty}; pass a folder written by 'fmbench run'")

    quick = tmp_path / "quick.json"
    quick.write_text(json.dumps({**json.loads(reference.read_text()), "profile": "quick"}))
    done = cli("check", str(smoke_study), "--reference", str(quick))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert f"is a 'smoke' study but {quick} is a 'quick' reference" in done.stderr

    future = tmp_path / "future"
    shutil.copytree(smoke_study, future)
    run_file = future / "baseline-seed0.json"
    run_file.write_text(json.dumps({**json.loads(run_file.read_text()), "schema_version": 99}))
    done = cli("check", str(future), "--reference", str(reference))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert f"{run_file}: schema_version 99 is not supported" in done.stderr

    done = cli("check", str(smoke_study), "--reference", str(reference), "--max-drop", "3")
    assert done.returncode == 2 and "--max-drop must be a fraction" in done.stderr
