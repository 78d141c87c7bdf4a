"""Shared fixtures and the two test tiers.

The fast tier (``tox -e fast``, ``pytest -m "not slow"``) trains nothing: the report, compare,
gate, results and verification tests read small real studies committed under
``tests/data/studies/`` (made by the real harness: ``bash tests/data/regenerate.sh``). A test is
``slow`` by its marker: a test that uses a fixture named in TRAINING_FIXTURES (directly or through
another fixture) is marked here; a test that trains by itself carries ``@pytest.mark.slow``.
Every test not marked slow runs under a guard (tests/fitguard.py) that fails any model fit, Keras,
scikeras or scikit-learn, in the test's process and in every Python process it starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import fitguard
import pytest

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "fashion-mnist"
STUDIES = ROOT / "tests" / "data" / "studies"

# Fixtures that train models (in this process, or through `fmbench run` / `fmbench perf`): every test
# that uses one, directly or through another fixture, is slow. One that trains but is missing here fails
# the tests that use it (the guard below).
TRAINING_FIXTURES = {"trained_smoke_study", "tiny_perf", "saved_study", "uninterrupted", "user_study"}


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


def pytest_collection_modifyitems(config, items):
    for item in items:
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())):  # the fixture closure: nested ones too
            item.add_marker(pytest.mark.slow)


_GUARD_ENV: dict[str, str | None] = {}  # the environment the guard changed, restored after the test


def pytest_configure(config):
    fitguard.install()  # patches Keras, scikeras and scikit-learn as they are imported; armed per test below


def _guard_log() -> Path:
    return Path(tempfile.gettempdir()) / f"fmbench-fitguard-{os.getpid()}.log"


def pytest_unconfigure(config):
    _guard_log().unlink(missing_ok=True)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item):
    """A test not marked slow runs, fixtures and all, with every fit refused (here and in processes it starts)."""
    if not item.get_closest_marker("slow"):
        log = _guard_log()
        log.write_text("")
        fitguard.arm(item.nodeid, str(log))
        _GUARD_ENV.update({name: os.environ.get(name) for name in (fitguard.LOG_ENV, fitguard.TEST_ENV, "PYTHONPATH")})
        os.environ.update({fitguard.LOG_ENV: str(log), fitguard.TEST_ENV: item.nodeid, "PYTHONPATH": os.pathsep.join(
            p for p in (fitguard.SITE, os.environ.get("PYTHONPATH")) if p)})
    return (yield)


def _fail_on_fits(item) -> None:
    refused = fitguard.take()
    if refused:
        raise fitguard.FitWhileGuarded(
            f"{item.nodeid} trains but is not marked slow (fits refused: {'; '.join(dict.fromkeys(refused))}); mark "
            "the test @pytest.mark.slow, or add the fixture that trains to TRAINING_FIXTURES in tests/conftest.py")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    try:
        return (yield)
    finally:
        _fail_on_fits(item)  # raised over the test's own error: the fit is why it failed


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    try:
        return (yield)
    finally:
        try:
            _fail_on_fits(item)  # a fixture that trained in setup (its own error may not say why)
        finally:
            fitguard.disarm()
            for name, value in _GUARD_ENV.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            _GUARD_ENV.clear()


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
