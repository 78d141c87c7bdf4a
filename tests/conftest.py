"""Shared fixtures and the two test tiers.

The fast tier (``tox -e fast``, ``pytest -m "not slow"``) trains nothing: the report, compare,
gate, results and verification tests read small real studies committed under
``tests/data/studies/`` (made by the real harness: ``bash tests/data/regenerate.sh``). Tests
that train or start training are marked ``slow`` here, automatically: they use a fixture
that trains, start ``fmbench run``/``perf`` through the ``cli`` fixture, or call a training
function. In the fast tier a guard fails any unmarked test that trains in this process anyway.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "fashion-mnist"
STUDIES = ROOT / "tests" / "data" / "studies"

# Fixtures that train models (directly or through `fmbench run` / `fmbench perf`).
TRAINING_FIXTURES = {"trained_smoke_study", "trained_other_study", "tiny_perf", "saved_study", "uninterrupted"}
# Calls in a test's own source that train: the CLI's run/perf, or the harness's training functions.
TRAINING_CALLS = re.compile(r"""cli\([^)]*["'](run|perf)["']|\b(train_unit|execute|run_study|run_perf|measure_model|"""
                            r"""measure_search|tune|fit_in_epochs|_fit|\.fit|start_fmbench)\(""")


class LocalUnits:
    """Units of one study run in this process, as the in-process executor runs them."""

    def __init__(self, config, dataset):
        from bench.progress import Progress
        from bench.study import runner, units

        self.config, self.dataset, self.progress = config, dataset, Progress(quiet=True)
        self.env = runner.unit_env(config, dataset)
        units.install(self.env, dataset, config.setups)

    def train_unit(self, setup, seed: int, params: dict):
        from bench.study import units

        return units.execute(units.RunUnit(setup.name, seed, dict(params)), self.env, self.progress)


@pytest.fixture(scope="session")
def local_units():
    """Make a ``LocalUnits`` for a study configuration and its data."""
    return LocalUnits


def data_folder() -> Path:
    # Absolute, so CLI subprocesses started in another folder find it (the README passes a relative path).
    return Path(os.environ.get("FMBENCH_DATA_DIR") or DEFAULT_DATA).absolute()


def _source_trains(function) -> bool:
    try:
        return bool(TRAINING_CALLS.search(inspect.getsource(function)))
    except (OSError, TypeError):  # built-in fixtures have no Python source
        return False


def trains(item: pytest.Item) -> bool:
    """The test, or a fixture it uses, trains: by name (TRAINING_FIXTURES) or by what its source calls."""
    names = set(getattr(item, "fixturenames", ()))
    if TRAINING_FIXTURES & names:
        return True
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    if any(_source_trains(d.func) for name in names for d in definitions.get(name, ())):
        return True
    function = getattr(item, "function", None)
    return function is not None and _source_trains(function)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if trains(item):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _fast_tier_trains_nothing(request, monkeypatch):
    """In a run that deselects slow tests, training in-process is a bug in the marking: fail loudly."""
    if "not slow" not in (request.config.getoption("markexpr") or "") or request.node.get_closest_marker("slow"):
        yield
        return
    from bench.train import training

    def refuse(*_args, **_kwargs):
        raise AssertionError(f"{request.node.nodeid} trains a model but is not marked slow; "
                             "add its fixture to TRAINING_FIXTURES or its call to TRAINING_CALLS in conftest.py")

    monkeypatch.setattr(training, "fit", refuse)
    yield


@pytest.fixture(scope="session")
def data_dir() -> Path:
    folder = data_folder()
    assert (folder / "train-images-idx3-ubyte.gz").is_file(), f"set FMBENCH_DATA_DIR; no dataset at {folder}"
    return folder


def run_fmbench(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None
                ) -> subprocess.CompletedProcess:
    """Run the CLI as a user would: a separate process, output captured."""
    full_env = {**os.environ, "FMBENCH_DATA_DIR": str(data_folder()), "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    # Outside the checkout by default, so `-m` imports the installed package (templates included),
    # not the source folder that happens to be the working directory.
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or tempfile.gettempdir(), timeout=1800, check=False)


@pytest.fixture(scope="session")
def cli():
    return run_fmbench


@pytest.fixture(scope="session")
def smoke_study() -> Path:
    """A small real study (smoke protocol, seeds 0-2, baseline + tuned, 1,000 test images), committed.

    Read-only: tests that edit a study copy it first.
    """
    return STUDIES / "tiny-a"


@pytest.fixture(scope="session")
def other_study() -> Path:
    """The same protocol with 3 baseline epochs instead of 2: a real change, also committed."""
    return STUDIES / "tiny-b"


@pytest.fixture(scope="session")
def trained_smoke_study(tmp_path_factory, data_dir) -> Path:
    """A fresh 2-seed smoke study (baseline + tuned) trained once through the CLI by this code."""
    out = tmp_path_factory.mktemp("smoke") / "study"
    done = run_fmbench("--quiet", "run", "--profile", "smoke", "--n-seeds", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out
