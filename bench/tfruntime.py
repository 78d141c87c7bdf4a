"""Starting TensorFlow: quietly, with a fixed number of threads and op determinism on. Imports nothing
of bench.

A run's numbers depend on its seed, its configuration and TensorFlow's thread count (the order of
a sum's terms follows the thread split), so the count is set once per process, before TensorFlow
runs its first operation, and a unit asking for another count in the same process is refused.
"""

from __future__ import annotations

import os
import random
import sys
import threading

_threads: list[int | None] = []  # the count this process was started with, once set


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with stderr closed at the file-descriptor level.

    Its C++ start-up lines (oneDNN notice, CUDA probing) are printed before absl logging
    starts and ignore TF_CPP_MIN_LOG_LEVEL; they would bury fmbench's own output.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def start(threads: int | None) -> None:
    """Import TensorFlow (quietly) and fix its thread pools at ``threads`` (None: its own default,
    one intra-op thread per core), with op determinism on. Idempotent for the same count; another count
    is an error, since TensorFlow cannot change its pools once it has run."""
    if _threads:
        if _threads[0] != threads:
            raise RuntimeError(f"this process already runs TensorFlow with threads per run = {_threads[0]}, "
                               f"not {threads}; start a fresh process (restart the Dask workers)")
        return
    import_tensorflow_quietly()
    _keras_seeds_per_thread()
    import tensorflow as tf

    if threads is not None:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    # Every unit trains under op determinism (bench.train.training.seed_everything turns it on before
    # each fit), but the manifest and a process's cached environment are recorded before the first
    # unit seeds: on from the start, they record the setting the runs train under (they said False).
    tf.config.experimental.enable_op_determinism()
    _threads.append(threads)


def threads_in_use() -> int | None:
    """The count given to ``start`` in this process; None if not started or left at the default."""
    return _threads[0] if _threads else None


class _ThreadStreams(threading.local):
    stream: random.Random | None = None


def _keras_seeds_per_thread() -> None:
    """Keras draws each layer's default seed from Python's global ``random`` stream, which a Dask
    worker's own threads draw from too (heartbeats, work stealing): between a unit's seeding and its
    model's build, a draw elsewhere shifted the weights (measured: 2 of 5 smoke studies on 2 workers
    gave another baseline accuracy, 0.7605 instead of 0.7548). So each thread that seeds ``random``
    gets a private stream with that seed, and Keras draws from the calling thread's stream: the same
    numbers as the global stream in a single-threaded process, whatever other threads do."""
    from keras.src.random import seed_generator

    if isinstance(seed_generator.python_random, _KerasDraws):
        return
    streams, global_seed = _ThreadStreams(), random.seed

    def seed(a=None, version=2):
        global_seed(a, version)
        streams.stream = random.Random(a)

    random.seed = seed
    seed_generator.python_random = _KerasDraws(streams)


class _KerasDraws:
    """What Keras calls on ``random``: ``randint``, from the calling thread's stream if it seeded one."""

    def __init__(self, streams: _ThreadStreams):
        self.streams = streams

    def randint(self, a: int, b: int) -> int:
        return (self.streams.stream or random).randint(a, b)
