"""End to end through the CLI, as a user types it: a real smoke study, and bad input."""

from __future__ import annotations

import gzip
import json
import shutil

import pytest

from bench import data
from bench.results import Manifest, RunResult, read_record


def test_smoke_study_files_are_valid_and_consistent(smoke_study):
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


def test_study_is_never_overwritten(smoke_study, cli):
    before = (smoke_study / "study.json").read_bytes()
    done = cli("run", "--profile", "smoke", "--out", str(smoke_study))
    assert done.returncode == 2
    assert "already holds a study" in done.stderr
    assert (smoke_study / "study.json").read_bytes() == before


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
        done = cli(*command)
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
     (["--models", "cnn"], None, "unknown model 'cnn'"),
     (["--n-seeds", "0"], None, "--n-seeds must be at least 1; got 0")],
)
def test_bad_run_input_is_one_line_and_exit_2(cli, tmp_path, args, config, message):
    extra = []
    if config:
        (tmp_path / "c.toml").write_text(config)
        extra = ["--config", str(tmp_path / "c.toml")]
    done = cli("run", *args, *extra, "--out", str(tmp_path / "out"))
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
