"""End to end through the CLI, as a user types it: a real smoke study, and bad input."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

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


def _corrupt(folder, damage):
    labels = folder / "train-labels-idx1-ubyte.gz"
    if damage == "truncated":
        labels.write_bytes(labels.read_bytes()[:1000])
    elif damage == "missing":
        labels.unlink()
    else:
        raw = bytearray(gzip.decompress(labels.read_bytes()))
        if damage == "magic":
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
                    ["run", "--data-dir", str(folder), "--out", str(tmp_path / "out")],
                    ["perf", "--data-dir", str(folder), "--out", str(tmp_path / "perf")]):
        done = rejected(*command)
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "out" / "study.json").exists() and not (tmp_path / "perf").exists()


@pytest.mark.parametrize(
    ("args", "config", "message"),
    [(["--profile", "huge"], None, "unknown profile 'huge'"),
     (["--epochs", "-1"], None, "fmbench run: error: --epochs must be at least 1; got -1; see fmbench run --help"),
     (["--workers", "2.5"], None, "--workers must be a whole number; got '2.5'"),
     ([], '[grids]\noptimizer = ["adamw2"]', "model 'tuned': grid 'optimizer': unknown optimizer 'adamw2'"),
     ([], "[grids]\nbatch_size = []", "model 'tuned': grid 'batch_size' is empty; got []"),
     (["--models", "resnet"], None, "unknown model 'resnet'; choose from baseline, tuned, cnn"),
     (["--n-seeds", "0"], None, "--n-seeds must be at least 1; got 0"),
     (["--seeds", "99999999999"], None, "seed 99999999999 is outside 0..4294967295"),
     (["--seeds", "-1"], None, "seed -1 is outside 0..4294967295"),
     (["--data-dir", "/nonexistent/fm"], None, "data folder does not exist: /nonexistent/fm; check --data-dir"),
     ([], "[models.x]\nparams = {a = 1}",
      "[models.x] has no factory and 'x' is not a built-in model; add factory = \"file.py:function\" to it, "
      "or name one of baseline, tuned, cnn, logreg, hgb")],
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
    missing = (f"data file missing: {tmp_path / 'train-images-idx3-ubyte.gz'}; point --data-dir or FMBENCH_DATA_DIR "
               "at a folder holding train-images-idx3-ubyte.gz")
    plain = cli("data", "--data-dir", str(tmp_path))
    assert plain.returncode == 2 and only_line(plain).startswith(f"fmbench data: error: {missing}"), plain.stderr
    done = cli("--debug", "data", "--data-dir", str(tmp_path))
    # The same error, raised: the interpreter's exit status 1 and the traceback down to where it was raised.
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and lines[0] == "Traceback (most recent call last):", done.stderr
    assert lines[-1].startswith(f"bench.errors.BenchError: {missing}"), done.stderr
    assert 'bench/data.py", line' in done.stderr and "fmbench data: error" not in done.stderr


def test_manifest_records_the_dataset_summary(smoke_study):
    summary = json.loads((smoke_study / "study.json").read_text())["dataset"]
    assert summary["train"]["count"] == 60000
    assert summary["class_names"] == list(data.CLASS_NAMES)


def test_unknown_profile_exits_2_without_importing_tensorflow(tmp_path):
    done = rejected("run", "--profile", "nosuch", "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert done.stderr.strip() == ("fmbench run: error: unknown profile 'nosuch'; "
                                   "choose one of smoke, quick, reference")


def only_line(done: subprocess.CompletedProcess) -> str:
    """stderr's one non-empty line: bad input is always one line."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


# Libraries an instant error must not wait for: scikit-learn took 1.9 s to import, the gate's SciPy and
# statsmodels 1.6 s, TensorFlow longer. Pinned by what is imported, not by a time limit.
HEAVY = "tensorflow", "keras", "sklearn", "scipy", "statsmodels", "matplotlib"
IMPORTED = ("import sys; from bench.cli import main; rc = main(sys.argv[1:]); "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})); sys.exit(rc)")


def test_instant_errors_import_no_heavy_library(smoke_study, tmp_path):
    for args in (["run", "--profile", "nosuch"], ["check", str(smoke_study), "--reference", str(tmp_path / "no.json")]):
        done = subprocess.run([sys.executable, "-c", IMPORTED, *args], capture_output=True, text=True,
                              cwd=tmp_path, timeout=120, check=False)
        assert done.returncode == 2 and done.stdout.strip() == "[]", (args, done.stdout, done.stderr)
    assert only_line(done) == (f"fmbench check: error: reference file missing: {tmp_path / 'no.json'}; "
                               "make one with 'fmbench reference'")


@pytest.mark.parametrize(
    ("args", "line"),
    [(["run", "--seeds", "1.5"],
      "fmbench run: error: --seeds must be whole numbers; got '1.5'; see fmbench run --help"),
     (["run", "--n-seeds", "two"],
      "fmbench run: error: --n-seeds must be a whole number; got 'two'; see fmbench run --help"),
     (["check", "results"],
      "fmbench check: error: one of the arguments --reference --history is required; see fmbench check --help"),
     (["data", "--bogus"], "fmbench: error: unrecognized arguments: --bogus; see fmbench --help"),
     ([], "fmbench: error: the following arguments are required: command; see fmbench --help")],
)
def test_a_command_line_argparse_refuses_is_one_line_and_exit_2(args, line):
    done = rejected(*args)
    assert done.returncode == 2
    assert only_line(done) == line and "usage:" not in done.stderr


def _outputs(study, tmp_path) -> list[tuple[list[str], str]]:
    """(arguments, the one line) for an output that is a file where a folder goes, a folder where a file
    goes, or a path under a file (refused to root too, unlike a read-only mode)."""
    file, reference = tmp_path / "f.txt", tmp_path / "ref.json"
    file.write_text("a file, not a folder")
    reference.write_text("{}")
    under, folder = file / "sub", tmp_path
    made = f"cannot be made: {file} is a file, not a folder"
    return [
        (["run", "--out", file], f"fmbench run: error: --out must be a folder, but {file} is a file; "
                                 "pass a folder such as results/NAME"),
        (["run", "--out", under], f"fmbench run: error: --out {under} {made}; pass a folder such as results/NAME"),
        (["perf", "--out", file], f"fmbench perf: error: --out must be a folder, but {file} is a file; "
                                  "pass a folder such as results/perf"),
        (["report", study, "--out", file], f"fmbench report: error: --out must be a folder, but {file} is a "
                                           "file; pass a folder such as reports/NAME"),
        (["report", study, "--out", under], f"fmbench report: error: --out {under} {made}; "
                                            "pass a folder such as reports/NAME"),
        (["compare", study, study, "--out", file], f"fmbench compare: error: --out must be a folder, but {file} "
                                                   "is a file; pass a folder such as reports/NAME"),
        (["compare", study, study, "--out", under], f"fmbench compare: error: --out {under} {made}; "
                                                    "pass a folder such as reports/NAME"),
        (["reference", study, "--out", folder], f"fmbench reference: error: --out must be a file, but {folder} "
                                                "is a folder; name a file such as reference.json"),
        (["reference", study, "--out", under / "r.json"], f"fmbench reference: error: --out {under / 'r.json'} "
                                                          f"{made}; name a file such as reference.json"),
        (["check", study, "--reference", reference, "--junit", under / "j.xml"],
         f"fmbench check: error: --junit {under / 'j.xml'} {made}; name a file such as report.xml"),
        (["check", study, "--reference", reference, "--markdown", folder],
         f"fmbench check: error: --markdown must be a file, but {folder} is a folder; name a file such as gate.md"),
    ]


@pytest.mark.parametrize("case", range(11))
def test_an_output_that_cannot_be_written_is_one_line_and_exit_2_before_any_work(smoke_study, tmp_path, case):
    cases = _outputs(smoke_study, tmp_path)
    assert len(cases) == 11
    args, line = cases[case]
    before = sorted(tmp_path.rglob("*"))
    done = rejected(*map(str, args))
    assert done.returncode == 2
    assert only_line(done) == line
    assert sorted(tmp_path.rglob("*")) == before and (tmp_path / "f.txt").read_text() == "a file, not a folder"


def test_a_folder_without_write_permission_is_refused(tmp_path, monkeypatch):
    """os.access decides (a trial write would leave files behind); root passes it on a read-only mode."""
    from bench import cli as cli_module
    from bench.errors import BenchError

    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setattr(cli_module.os, "access", lambda path, mode: Path(path) != locked)
    with pytest.raises(BenchError) as caught:
        cli_module.writable_folder(locked / "report")
    assert caught.value.message() == (f"--out {locked / 'report'} is not writable: no write permission in "
                                      f"{locked}; choose another --out, or make {locked} writable")
    with pytest.raises(BenchError, match=r"^--junit .*j\.xml is not writable: no write permission in "):
        cli_module.writable_file(locked / "j.xml", "--junit", "report.xml")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_a_read_only_folder_is_one_line_and_exit_2(smoke_study, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    done = rejected("report", str(smoke_study), "--out", str(locked / "report"))
    assert done.returncode == 2
    assert only_line(done).startswith(f"fmbench report: error: --out {locked / 'report'} is not writable")


def test_an_unreachable_scheduler_is_one_line_and_exit_2_before_tensorflow(tmp_path):
    done = rejected("run", "--scheduler", "tcp://127.0.0.1:1", "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert only_line(done) == ("fmbench run: error: cannot reach the Dask scheduler at tcp://127.0.0.1:1: "
                               "connection refused; start it with 'dask scheduler' on that machine, or check "
                               "--scheduler's host and port")
    assert not (tmp_path / "out").exists()


def test_resume_of_another_study_is_one_line_and_exit_2_before_tensorflow(smoke_study, tmp_path):
    folder = tmp_path / "study"
    shutil.copytree(smoke_study, folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    tiny = Path(__file__).resolve().parent / "data" / "tiny.toml"
    done = rejected("run", "--profile", "smoke", "--config", str(tiny), "--seeds", "0", "1", "--out", str(folder),
                    "--resume")
    assert done.returncode == 2
    assert only_line(done).startswith(f"fmbench run: error: --resume: {folder} holds a different study: seeds is "
                                      "[0, 1, 2] there, [0, 1] here; resume with the study's own command")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # the lock is released, nothing written


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


def test_run_says_the_data_is_not_official_and_require_official_stops_before_tensorflow(data_dir, tmp_path):
    folder = tmp_path / "fm"
    folder.mkdir()
    for name in data.FILES.values():
        shutil.copy(data_dir / name, folder / name)
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[8] = (raw[8] + 1) % 10  # one test image relabelled: a valid class, a valid file, not Fashion-MNIST
    labels.write_bytes(gzip.compress(bytes(raw)))
    done = rejected("run", "--data-dir", str(folder), "--require-official", "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    assert only_line(done).startswith(f"fmbench run: error: {labels} is not the official Fashion-MNIST file (1 of "
                                      "4 files differ from the published SHA-256)")
    assert not (tmp_path / "out").exists()


def test_ctrl_c_while_tensorflow_is_imported_leaves_no_lock_behind(tmp_path, data_dir):
    """The lock is held from before TensorFlow's import to the last write: an interrupt in between releases it
    (it used to be released by run() only, so Ctrl-C during the import left fmbench.lock behind)."""
    interrupted = ("import sys; from bench import cli, tfruntime\n"
                   "def start(threads): raise KeyboardInterrupt\n"
                   "tfruntime.start = start; sys.exit(cli.main(sys.argv[1:]))")
    out = tmp_path / "study"
    command = [sys.executable, "-c", interrupted, "--quiet", "run", "--profile", "smoke", "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "FMBENCH_DATA_DIR": str(data_dir)})
    assert done.returncode == 130, done.stderr
    assert only_line(done) == "fmbench run: interrupted; results already written are kept"
    assert not out.exists()  # made for the lock, empty, removed with it
