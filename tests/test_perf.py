"""``fmbench perf``: its result file's schema and table on a tiny real configuration (no timing limits)."""

from __future__ import annotations

import json

import pytest

from bench import environment
from bench.errors import BenchError
from bench.results import ModelPerf, PathTiming, PerfResult, read_record, write_json_atomic
from bench.results.schema import PERF_SCHEMA_VERSION
from bench.train import perf


@pytest.fixture(scope="module")
def tiny_perf(cli, tmp_path_factory):
    out = tmp_path_factory.mktemp("perf")
    done = cli("--quiet", "perf", "--models", "baseline", "tuned", "--n-train", "600", "--epochs", "2",
               "--n-seeds", "1", "--search-n-train", "600", "--search-epochs", "1", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out, done.stdout


def test_perf_writes_a_valid_result_file(tiny_perf):
    out, _ = tiny_perf
    result = read_record(out / "perf.json", PerfResult)
    assert (result.kind, result.schema_version) == ("perf", PERF_SCHEMA_VERSION)
    assert [m.model for m in result.models] == ["baseline", "tuned"]
    base = result.models[0]
    assert base.params == 784 * 128 + 128 + 128 * 10 + 10 and base.n_images == 600
    # Training: three forward passes' worth of multiply-adds x 2 per image (dense 784x128 and 128x10).
    assert base.flops_per_epoch == 3 * 2 * (784 * 128 + 128 * 10) * 600
    for timing in (base.plain, base.fast):
        assert len(timing.epoch_seconds) == 1 and len(timing.epoch_seconds[0]) == 2
        assert all(s > 0 for s in timing.epoch_seconds[0]) and 0 < timing.test_accuracy[0] < 1
    assert base.fast.compile_options["epoch_loop"] is True and "epoch_loop" not in base.plain.compile_options
    assert result.matmul_flops > 0 and base.peak_rss_gib > 0.1
    assert result.environment.cpu_cores >= 1 and result.config["seeds"] == [0]
    assert not list(out.glob(".perf.json.*"))  # written atomically: no temp file left


def test_perf_times_one_grid_stage_with_both_searches(tiny_perf):
    search = read_record(tiny_perf[0] / "perf.json", PerfResult).search
    assert search is not None and search.stage == "learning rate + dropout"
    assert set(search.seconds) == set(search.best_score) == {"exhaustive", "halving"}
    assert search.n_fits["exhaustive"] == 9 * 3  # the reference grid: 3 learning rates x 3 dropouts, 3 folds
    assert search.n_fits["halving"] == (9 + 3 + 1) * 3  # factor 3: rounds of 9, 3 and 1 candidates
    for kind in ("exhaustive", "halving"):
        assert search.best_params[kind]["learning_rate"] in search.param_grid["learning_rate"]


@pytest.mark.slow
def test_perf_times_a_users_keras_model_and_the_cnn(cli, tmp_path):
    (tmp_path / "mine.py").write_text(
        "import keras\n\n\ndef build(params):\n    inputs = keras.Input((784,), dtype='uint8')\n"
        "    x = keras.layers.Rescaling(1 / 255)(inputs)\n"
        "    return keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Dense(32, activation='relu')(x)))\n")
    done = cli("--quiet", "perf", "--models", f"mine={tmp_path / 'mine.py'}:build", "cnn", "--n-train", "300",
               "--epochs", "1", "--n-seeds", "1", "--search-n-train", "0", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    result = read_record(tmp_path / "out" / "perf.json", PerfResult)
    mine, cnn = result.models
    assert (mine.model, mine.params, mine.n_images) == ("mine", 784 * 32 + 32 + 32 * 10 + 10, 300)
    assert mine.flops_per_epoch == 3 * 2 * (784 * 32 + 32 * 10) * 300
    assert cnn.params == 242_602 and cnn.fast.compile_options == {"steps_per_execution": 1, "jit_compile": False,
                                                                  "epoch_loop": True}
    assert result.search is None


def test_perf_prints_its_table(tiny_perf):
    out, stdout = tiny_perf
    result = read_record(out / "perf.json", PerfResult)
    assert "GFLOP/s" in stdout and "speed-up" in stdout and "halving takes" in stdout
    rows = perf.model_rows(result)
    assert [(r["model"], r["path"]) for r in rows] == [("baseline", "plain"), ("baseline", "fast"),
                                                       ("tuned", "plain"), ("tuned", "fast")]
    assert rows[0]["speedup"] == 1.0 and f"{rows[1]['epoch_s']:8.3f}" in stdout


def test_steady_epoch_time_leaves_out_each_first_epoch():
    timing = PathTiming(compile_options={}, epoch_seconds=[[5.0, 1.0, 1.0], [6.0, 2.0, 2.0]], fit_seconds=[7, 10],
                        test_accuracy=[0.8, 0.8])
    assert perf.steady_epoch_s(timing) == 1.5
    single = PathTiming(compile_options={}, epoch_seconds=[[3.0], [5.0]], fit_seconds=[3, 5], test_accuracy=[1, 1])
    assert perf.steady_epoch_s(single) == 4.0


def _result() -> PerfResult:
    def timing(seconds):
        return PathTiming(compile_options={}, epoch_seconds=[[9.0, seconds]], fit_seconds=[1], test_accuracy=[0.5])

    model = ModelPerf(model="baseline", params=10, flops_per_epoch=6e9, n_images=1000, epochs=2, batch_size=32,
                      seeds=[0], plain=timing(4.0), fast=timing(1.0), peak_rss_gib=1.0)
    return PerfResult(config={}, matmul_size=8, matmul_flops=1e10, models=[model], search=None,
                      environment=environment.collect(), started="", finished="", wall_s=1.0)


def test_speedup_and_flop_share_are_computed_from_raw_figures():
    result = _result()
    fast = perf.model_rows(result)[1]
    assert fast["speedup"] == 4.0 and fast["images_per_s"] == 1000.0 and fast["flop_fraction"] == 0.6
    assert "grid stage" not in perf.format_perf(result)
    json.dumps(result.model_dump(mode="json"))


@pytest.mark.parametrize("version", [1, 2, 3])
def test_perf_json_of_every_version_so_far_loads(tmp_path, version):
    """perf.json numbered its versions with the run files' until it got its own (3): older ones still load."""
    result = _result()
    path = tmp_path / "perf.json"
    write_json_atomic(path, {**result.model_dump(mode="json"), "schema_version": version})
    assert read_record(path, PerfResult) == result and result.schema_version == PERF_SCHEMA_VERSION == 3


def test_perf_json_from_a_newer_fmbench_is_one_line(tmp_path):
    path = tmp_path / "perf.json"
    write_json_atomic(path, {**_result().model_dump(mode="json"), "schema_version": 4})
    with pytest.raises(BenchError) as caught:
        read_record(path, PerfResult)
    assert caught.value.message() == (f"{path}: schema_version 4 is not supported (this fmbench reads perf files of "
                                      "version 3); re-run 'fmbench perf', or use the fmbench version that wrote it")


def test_matmul_benchmark_counts_two_n_cubed_flops():
    assert perf.matmul_flops(size=128, repeats=2) > 1e6


@pytest.mark.parametrize(("args", "message"), [
    (["--models", "resnet"], "fmbench perf: error: unknown model 'resnet'; choose from baseline, tuned, cnn, logreg, "
                             "hgb, or give NAME=path/to/file.py:function or NAME=package.module:function"),
    (["--models", "logreg"], "fmbench perf: error: fmbench perf times Keras models; logreg is a scikit-learn "
                             "estimator; leave it out of --models"),
    (["--epochs", "0"], "fmbench perf: error: --epochs must be at least 1; got 0; see fmbench perf --help"),
    (["--search-n-train", "5"], "fmbench perf: error: --search-n-train must be at least 300 (or 0); got 5; "
                                "see fmbench perf --help"),
])
def test_perf_rejects_bad_options_in_one_line(cli, args, message):
    done = cli("perf", *args)
    assert done.returncode == 2 and done.stderr.strip() == message
