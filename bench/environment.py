"""The machine and software a run happened on, recorded in every result file."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path

from bench.results import Environment

PACKAGES = ("tensorflow", "keras", "scikit-learn", "scikeras", "numpy", "jax", "torch", "fmbench")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float:
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return round(pages / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return 0.0


def gpus() -> list[str]:
    import tensorflow as tf

    devices = tf.config.list_physical_devices("GPU")
    names = []
    for device in devices:
        details = tf.config.experimental.get_device_details(device)
        names.append(details.get("device_name", device.name))
    return names


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit() -> str | None:
    """The commit of the fmbench checkout in use, if it is one."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def op_determinism_enabled() -> bool:
    # Not exported under tf.config; Keras reads the same private function.
    from tensorflow.python.framework.config import is_op_determinism_enabled

    return bool(is_op_determinism_enabled())


def collect() -> Environment:
    import keras

    return Environment(
        hostname=socket.gethostname(),
        cpu_model=cpu_model(),
        cpu_cores=os.cpu_count() or 1,
        memory_gib=memory_gib(),
        gpus=gpus(),
        os=platform.platform(),
        python=platform.python_version(),
        packages=package_versions(),
        keras_backend=keras.backend.backend(),
        op_determinism=op_determinism_enabled(),
        git_commit=git_commit(),
    )
