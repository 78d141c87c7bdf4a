"""bench.environment: the machine and software a run records, each field checked against its own source."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path

import psutil
import pytest

from bench import environment
from bench.results import Environment

CHECKOUT = Path(environment.__file__).resolve().parent.parent


def test_cpu_model_is_the_kernels_model_name_or_the_platforms(monkeypatch):
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        named = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        assert environment.cpu_model() == (named[0] if named else platform.processor() or platform.machine())

    class Unreadable:
        def __init__(self, _path):
            pass

        def read_text(self):
            raise PermissionError("no /proc here")

    monkeypatch.setattr(environment, "Path", Unreadable)
    assert environment.cpu_model() == (platform.processor() or platform.machine())


def test_memory_is_the_physical_memory_in_gib():
    assert environment.memory_gib() == pytest.approx(psutil.virtual_memory().total / 2**30, abs=0.11)


def test_package_versions_are_the_installed_distributions_and_skip_missing_ones(monkeypatch):
    import numpy

    versions = environment.package_versions()
    assert list(versions) == [name for name in environment.PACKAGES if name in versions]
    assert versions["numpy"] == numpy.__version__ and versions["fmbench"] == metadata.version("fmbench")
    assert versions["scikit-learn"] == metadata.version("scikit-learn")
    monkeypatch.setattr(environment, "PACKAGES", ("numpy", "no-such-distribution-fmbench"))
    assert environment.package_versions() == {"numpy": numpy.__version__}


def test_git_commit_is_the_checkouts_head_or_none(monkeypatch):
    head = subprocess.run(["git", "-C", str(CHECKOUT), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=False)
    assert environment.git_commit() == (head.stdout.strip() if head.returncode == 0 else None)

    def no_git(*_args, **_kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(environment.subprocess, "run", no_git)
    assert environment.git_commit() is None
    monkeypatch.setattr(environment.subprocess, "run",
                        lambda *a, **k: subprocess.CompletedProcess(a, 128, "", "fatal: not a git repository"))
    assert environment.git_commit() is None


def test_collect_records_this_machine_and_tensorflows_state():
    import keras
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    was = tf_config.is_op_determinism_enabled()
    try:
        tf_config.disable_op_determinism()
        off = environment.collect()
        tf.config.experimental.enable_op_determinism()
        on = environment.collect()
    finally:
        (tf_config.enable_op_determinism if was else tf_config.disable_op_determinism)()
    assert isinstance(off, Environment) and off.op_determinism is False and on.op_determinism is True
    assert off.hostname == socket.gethostname() and off.cpu_cores == (os.cpu_count() or 1)
    assert off.python == platform.python_version() and off.os == platform.platform()
    assert off.keras_backend == keras.backend.backend() == "tensorflow"
    assert off.packages["keras"] == keras.__version__
    assert len(off.gpus) == len(tf.config.list_physical_devices("GPU"))
    assert off.cpu_model == environment.cpu_model() and off.memory_gib == environment.memory_gib()
    assert off.git_commit == environment.git_commit()
