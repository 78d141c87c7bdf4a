"""Shared fixtures: the real dataset, a CLI runner, and one real smoke study per session."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "fashion-mnist"


def data_folder() -> Path:
    return Path(os.environ.get("FMBENCH_DATA_DIR") or DEFAULT_DATA)


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
def smoke_study(tmp_path_factory, data_dir) -> Path:
    """A real 2-seed smoke study (baseline + tuned) run once through the CLI, shared read-only."""
    out = tmp_path_factory.mktemp("smoke") / "study"
    done = run_fmbench("--quiet", "run", "--profile", "smoke", "--n-seeds", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out
