"""bench.tfruntime: TensorFlow started quietly, once per process at one thread count, and Keras' default
seeds drawn from the seeding thread's own stream (the patch that keeps Dask workers' weights exact).

In a fresh interpreter: ``start`` fixes the process's thread pools for good, which the test process
must not do to itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

SCRIPT = r'''
import json, random, threading
from bench import tfruntime

tfruntime.start(1)
tfruntime.start(1)  # the same count again: nothing to do
import keras
import numpy as np
import tensorflow as tf
from keras.src.random import seed_generator


def initial_weights(busy_thread):
    """A Dense layer's initial kernel after seeding, another thread drawing from `random` in between
    (as a Dask worker's heartbeats do)."""
    keras.utils.set_random_seed(7)
    if busy_thread:
        other = threading.Thread(target=lambda: [random.random() for _ in range(5)])
        other.start()
        other.join()
    layer = keras.layers.Dense(3)
    layer.build((None, 4))
    return np.asarray(layer.kernel).tolist()


def keras_draws(seed):
    random.seed(seed)
    return [seed_generator.make_default_seed() for _ in range(3)]


out = {"alone": initial_weights(False), "busy": initial_weights(True)}
patched, seed_generator.python_random = seed_generator.python_random, random
out["busy_unpatched"] = initial_weights(True)  # Keras' own draws from the global stream
seed_generator.python_random = patched
box = {}
random.seed(7)
worker = threading.Thread(target=lambda: box.update(other=keras_draws(8)))
worker.start()
worker.join()
out["main"], out["other"] = [seed_generator.make_default_seed() for _ in range(3)], box["other"]
try:
    tfruntime.start(2)
except RuntimeError as refused:
    out["refused"] = str(refused)
out["threads"] = [tfruntime.threads_in_use(), tf.config.threading.get_intra_op_parallelism_threads(),
                  tf.config.threading.get_inter_op_parallelism_threads()]
print(json.dumps(out))
'''


def test_start_is_quiet_fixes_threads_once_and_keras_seeds_follow_the_seeding_thread():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # tfruntime must quieten it itself
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env,
                          cwd=tempfile.gettempdir(), timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    for startup in ("absl::InitializeLog", "cudart_stub", "cpu_feature_guard", "oneDNN"):  # TensorFlow's C++ lines
        assert startup not in done.stderr, done.stderr
    # Another thread's draws from `random` no longer move the weights; without the patch they do.
    assert out["busy"] == out["alone"]
    assert out["busy_unpatched"] != out["alone"]
    # Each seeding thread draws Keras' default seeds from its own stream, as the global one would alone.
    import random

    seven, eight = random.Random(7), random.Random(8)
    assert out["main"] == [seven.randint(1, int(1e9)) for _ in range(3)]
    assert out["other"] == [eight.randint(1, int(1e9)) for _ in range(3)]
    assert out["refused"] == ("this process already runs TensorFlow with threads per run = 1, not 2; start a fresh "
                              "process (restart the Dask workers)")
    assert out["threads"] == [1, 1, 1]


def test_threads_in_use_is_none_before_start():
    done = subprocess.run([sys.executable, "-c", "import sys; from bench import tfruntime; "
                           "print(tfruntime.threads_in_use(), 'tensorflow' in sys.modules)"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and done.stdout.split() == ["None", "False"], done.stderr


def test_start_turns_op_determinism_on_before_anything_records_the_environment():
    """Every unit trains under op determinism (seed_everything), but a study's manifest and a process's cached
    environment are collected before its first unit seeds: they recorded False while every fit ran with it on."""
    done = subprocess.run([sys.executable, "-c", "from bench import environment, tfruntime; tfruntime.start(None); "
                           "print(environment.collect().op_determinism)"],
                          capture_output=True, text=True, cwd=tempfile.gettempdir(), timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "True", done.stdout
