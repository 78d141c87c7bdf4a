"""Memory across commits, end to end: real studies over the commits of a temporary git repository, one of
which lowers accuracy; the history, the trend page and the gate against history must all name that commit.

The project under test is a user's model (``mine=mymodel:build``, found on PYTHONPATH) whose learning rate
a commit cuts twentyfold: a code change that the configuration does not show, so every study has the same
settings digest and the entries pool.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

MODEL = '''"""A small MLP; its learning rate is the knob a commit turns."""
import keras

LEARNING_RATE = {rate}


def build(params):
    inputs = keras.Input((28, 28), dtype="uint8", name="image")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(10)(x), name="mine")
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model
'''
CONFIG = "n_train = 3000\nn_test = 2000\n"
GOOD, BAD = 0.003, 0.00015
# Seven commits; the fifth cuts the learning rate.
RATES = [GOOD, GOOD, GOOD, GOOD, BAD, BAD, BAD]
CHANGED = 4


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def fmbench(repo: Path, *args: str, quiet: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    env["FMBENCH_DATA_DIR"] = os.path.abspath(env["FMBENCH_DATA_DIR"])
    command = [sys.executable, "-m", "bench.cli", *(["--quiet"] if quiet else []), *args]
    return subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=1200, check=False)


def new_repo(repo: Path) -> Path:
    """An empty project on branch main with the studies' configuration."""
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "ci@example.com")
    git(repo, "config", "user.name", "CI")
    (repo / "tiny.toml").write_text(CONFIG)
    return repo


def commit(repo: Path, index: int, rate: float) -> str:
    (repo / "mymodel.py").write_text(MODEL.format(rate=rate) + f"# revision {index}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"revision {index}: learning rate {rate}")
    return git(repo, "rev-parse", "HEAD")


def study(repo: Path, index: int) -> Path:
    out = repo.parent / "studies" / f"c{index}"
    done = fmbench(repo, "run", "--profile", "smoke", "--config", "tiny.toml", "--models", "mine=mymodel:build",
                   "--seeds", "0", "1", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def history(tmp_path_factory, data_dir):
    """Seven commits, each studied, gated against the history before it, then added to it."""
    root = tmp_path_factory.mktemp("e2e")
    repo, store = new_repo(root / "repo"), root / "history"
    commits, gates, studies = [], [], []
    for index, rate in enumerate(RATES):
        commits.append(commit(repo, index, rate))
        studies.append(study(repo, index))
        gates.append(fmbench(repo, "check", str(studies[-1]), "--history", str(store), "--bootstrap", quiet=False))
        added = fmbench(repo, "history", "add", str(studies[-1]), "--history", str(store))
        assert added.returncode == 0 and added.stdout.startswith("added "), added.stdout + added.stderr
    return {"repo": repo, "store": store, "commits": commits, "gates": gates, "studies": studies}


@pytest.mark.slow
def test_the_gate_against_history_fails_the_commit_that_lowered_accuracy_and_passes_the_others(history):
    codes = [gate.returncode for gate in history["gates"]]
    assert codes == [0, 0, 0, 0, 1, 0, 0], [g.stdout + g.stderr for g in history["gates"]]
    fourth = history["gates"][3].stdout
    assert "pooled" in fourth and all(c[:7] in fourth for c in history["commits"][:3]), fourth


@pytest.mark.slow
def test_the_trend_page_flags_exactly_that_commit(history, tmp_path):
    done = fmbench(history["repo"], "trend", "--history", str(history["store"]), "--out", str(tmp_path / "trend"))
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "trend" / "trend.html").read_text(encoding="utf-8")
    before, after = history["commits"][CHANGED - 1][:7], history["commits"][CHANGED][:7]
    assert f"between {before} and {after}" in html
    others = [c[:7] for i, c in enumerate(history["commits"]) if i not in (CHANGED - 1, CHANGED)]
    assert not any(f"between {c}" in html or f"and {c}:" in html for c in others)


@pytest.mark.slow
def test_re_adding_an_entry_changes_no_byte(history):
    files = sorted(history["store"].glob("*.json"))
    assert len(files) == len(RATES)
    before = {f.name: f.read_bytes() for f in files}
    again = fmbench(history["repo"], "history", "add", str(history["studies"][2]), "--history", str(history["store"]),
                    "--commit", history["commits"][2], "--branch", "main")
    assert again.returncode == 0 and again.stdout.startswith("unchanged "), again.stdout + again.stderr
    assert {f.name: f.read_bytes() for f in sorted(history["store"].glob("*.json"))} == before


RECIPE = Path(__file__).resolve().parent.parent / "examples" / "ci" / "fmbench-ci.sh"


def recipe(repo: Path, store: Path, out: str) -> subprocess.CompletedProcess:
    """examples/ci/fmbench-ci.sh as a CI runs it, with this interpreter's fmbench first on PATH."""
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
           "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]),
           "FMBENCH_DATA_DIR": os.path.abspath(os.environ["FMBENCH_DATA_DIR"]), "FMBENCH_HISTORY": str(store),
           "FMBENCH_OUT": out, "FMBENCH_RUN_ARGS": "--profile smoke --config tiny.toml --models mine=mymodel:build "
                                                  "--seeds 0 1"}
    return subprocess.run(["bash", str(RECIPE)], cwd=repo, env=env, capture_output=True, text=True, timeout=1200,
                          check=False)


@pytest.mark.slow
def test_the_shell_ci_recipe_gates_every_commit_and_records_main_only(tmp_path, data_dir):
    repo, store = new_repo(tmp_path / "repo"), tmp_path / "history"
    (repo / ".gitignore").write_text("out-*/\n")
    codes = []
    for index in range(3):
        commit(repo, index, GOOD)
        done = recipe(repo, store, f"out-{index}")
        codes.append(done.returncode)
        out = repo / f"out-{index}"
        assert (out / "gate.md").is_file() and (out / "report" / "report.pdf").is_file(), done.stderr
    assert codes == [0, 0, 0], done.stdout + done.stderr
    assert len(list(store.glob("*.json"))) == 3
    git(repo, "switch", "-q", "-c", "feature")
    commit(repo, 3, BAD)
    done = recipe(repo, store, "out-3")
    assert done.returncode == 1, done.stdout + done.stderr  # judged against main's history: a regression
    assert len(list(store.glob("*.json"))) == 3  # a feature branch's study is gated, never recorded
