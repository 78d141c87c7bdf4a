"""End to end through the CLI, as a user types it: a real smoke study, and bad input."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from bench import data
from bench.results import Manifest, RunResult, read_record

# Runs `fmbench` in a fresh interpreter and fails if bad input got as far as importing TensorFlow.
NO_TENSORFLOW = ("import sys; from bench.cli import main; rc = main(sys.argv[1:]); "
                 "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'; sys.exit(rc)")


def rejected(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """``fmbench ARGS`` that must stop on bad input before TensorFlow (the assert above holds)."""
    env = dict(os.environ)
    if env.get("FMBENCH_DATA_DIR"):
        env["FMBENCH_DATA_DIR"] = os.path.abspath(env["FMBENCH_DATA_DIR"])
    return subprocess.run([sys.executable, "-c", NO_TENSORFLOW, *args], capture_output=True, text=True,
                          env=env, cwd=cwd or tempfile.gettempdir(), timeout=120, check=False)


def test_smoke_study_files_are_valid_and_consistent(trained_smoke_study):
    smoke_study = trained_smoke_study
    manifest = read_record(smoke_study / "study.json", Manifest)
    assert manifest.seeds == [0, 1] and manifest.models == ["baseline", "tuned"]
    assert sorted(manifest.runs) == ["baseline-seed0.json", "baseline-seed1.json", "tuned-seed0.json",
                                     "tuned-seed1.json"]
    assert [s.index for s in manifest.tuning[0].stages] == [1, 2, 3, 4, 5, 6]
    for stage in manifest.tuning[0].stages:
        n = len(stage.cv_results["params"])
        assert len(stage.cv_results["split2_test_score"]) == n and len(stage.cv_results["rank_test_score"]) == n
    for name in manifest.runs:
        run = read_record(smoke_study / name, RunResult)
        m = run.metrics
        assert run.status == "ok"
        assert min(m.train.accuracy, m.validation.accuracy, m.test.accuracy) > 0.6
        assert run.gaps.train_minus_test == m.train.accuracy - m.test.accuracy
        assert run.gaps.train_minus_validation == m.train.accuracy - m.validation.accuracy
        assert sum(run.per_class.support) == run.data.n_test == len(run.predictions.predicted) == 10000
        assert run.environment.op_determinism
    tuned = read_record(smoke_study / "tuned-seed0.json", RunResult)
    assert tuned.hyperparameters == manifest.tuning[0].best_params


def test_study_is_never_overwritten(smoke_study, tmp_path):
    folder = tmp_path / "study"
    shutil.copytree(smoke_study, folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    done = rejected("run", "--profile", "smoke", "--out", str(folder))
    assert done.returncode == 2, done.stderr
    assert "already holds a study" in done.stderr
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_data_command_prints_the_summary(cli):
    done = cli("data")
    assert done.returncode == 0, done.stderr
    assert "train: 60000 images of 28x28, pixel mean 72.94" in done.stdout
    assert "test : 10000 images" in done.stdout


def _corrupt(folder, kind):
    labels = folder / "train-labels-idx1-ubyte.gz"
    if kind == "truncated":
        labels.write_bytes(labels.read_bytes()[:1000])
    elif kind == "missing":
        labels.unlink()
    else:
        raw = bytearray(gzip.decompress(labels.read_bytes()))
        if kind == "magic":
            raw[2] = 0x0C
        else:
            raw[8 + 42] = 11
        labels.write_bytes(gzip.compress(bytes(raw)))


@pytest.mark.parametrize(
    ("kind", "message"),
    [("truncated", "train-labels-idx1-ubyte.gz is not a readable gzip file"),
     ("missing", "data file missing: "),
     ("magic", "train-labels-idx1-ubyte.gz has the wrong IDX magic number; got '0xc01'"),
     ("label", "train-labels-idx1-ubyte.gz has label 11 at index 42; labels must be 0-9")],
)
def test_corrupt_data_is_one_line_and_exit_2(cli, data_dir, tmp_path, kind, message):
    folder = tmp_path / "fm"
    shutil.copytree(data_dir, folder)
    _corrupt(folder, kind)
    for command in (["data", "--data-dir", str(folder)],
                    ["run", "--data-dir", str(folder), "--out", str(tmp_path / "out")]):
        done = rejected(*command)
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "out" / "study.json").exists()


@pytest.mark.parametrize(
    ("args", "config", "message"),
    [(["--profile", "huge"], None, "unknown profile 'huge'"),
     (["--epochs", "-1"], None, "command line: baseline_epochs must be a positive integer; got -1"),
     ([], '[grids]\noptimizer = ["adamw2"]', "grid 'optimizer': unknown optimizer 'adamw2'"),
     ([], "[grids]\nbatch_size = []", "grid 'batch_size' is empty; got []"),
     (["--models", "resnet"], None, "unknown model 'resnet'; choose from baseline, tuned, cnn"),
     (["--n-seeds", "0"], None, "--n-seeds must be at least 1; got 0"),
     (["--seeds", "99999999999"], None, "seed 99999999999 is outside 0..4294967295"),
     (["--seeds", "-1"], None, "seed -1 is outside 0..4294967295"),
     (["--data-dir", "/nonexistent/fm"], None, "data folder does not exist: /nonexistent/fm; check --data-dir")],
)
def test_bad_run_input_is_one_line_and_exit_2_before_tensorflow(tmp_path, args, config, message):
    extra = []
    if config:
        (tmp_path / "c.toml").write_text(config)
        extra = ["--config", str(tmp_path / "c.toml")]
    done = rejected("run", *args, *extra, "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert done.stderr.strip() == f"fmbench run: error: {message}" or message in done.stderr.strip()
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_debug_shows_the_traceback(cli, tmp_path):
    done = cli("--debug", "data", "--data-dir", str(tmp_path))
    assert done.returncode != 0 and "Traceback" in done.stderr


def test_manifest_records_the_dataset_summary(smoke_study):
    summary = json.loads((smoke_study / "study.json").read_text())["dataset"]
    assert summary["train"]["count"] == 60000
    assert summary["class_names"] == list(data.CLASS_NAMES)


def test_unknown_profile_exits_2_without_importing_tensorflow(tmp_path):
    done = rejected("run", "--profile", "nosuch", "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert done.stderr.strip() == ("fmbench run: error: unknown profile 'nosuch'; "
                                   "choose one of smoke, quick, reference")


def test_relative_paths_are_resolved_against_the_folder_the_command_was_typed_in(smoke_study, data_dir, tmp_path):
    """FMBENCH_DATA_DIR, --config and --out relative to the working folder, as the README types them."""
    work = tmp_path / "work"
    shutil.copytree(smoke_study, work / "studies" / "a")
    (work / "c.toml").write_text("baseline_epochs = 0\n")
    relative_data = os.path.relpath(data_dir, work)
    env = {**os.environ, "FMBENCH_DATA_DIR": relative_data}
    done = subprocess.run([sys.executable, "-c", NO_TENSORFLOW, "run", "--config", "c.toml", "--out", "new"],
                          capture_output=True, text=True, env=env, cwd=work, timeout=120, check=False)
    assert done.returncode == 2 and f"config {work / 'c.toml'}: baseline_epochs" in done.stderr, done.stderr
    done = subprocess.run([sys.executable, "-m", "bench.cli", "report", "studies/a", "--out", "out", "--html"],
                          capture_output=True, text=True, env=env, cwd=work, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert str(work / "out" / "report.html") in done.stdout


def test_a_relative_data_dir_reaches_the_data_from_any_folder(data_dir, tmp_path):
    relative = os.path.relpath(data_dir, tmp_path)
    done = subprocess.run([sys.executable, "-m", "bench.cli", "data", "--data-dir", relative],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert f"Fashion-MNIST from {data_dir.resolve()}" in done.stdout
