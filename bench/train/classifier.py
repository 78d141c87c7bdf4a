"""The scikit-learn face of the tunable model: a scikeras KerasClassifier that knows all ten classes.

scikeras learns the classes from each fit's own labels. A successive-halving round fits
on a small random sample (not stratified), which can miss a class; the default encoder
would then renumber the labels above the gap and train on the wrong targets. Fixing the
categories to 0..9 keeps every label its own, in every fit.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from bench.train.tuning import WORKER_THREADS_ENV

if "tensorflow" not in sys.modules:  # a fresh grid-search worker: keep TensorFlow's start-up chatter off stderr
    from bench.cli import import_tensorflow_quietly

    import_tensorflow_quietly()
    if os.environ.get(WORKER_THREADS_ENV):
        import tensorflow as tf

        # Workers share the cores: each takes its share of threads rather than all of them
        # (measured on 2 cores: a halving stage 45 s instead of 57 s).
        tf.config.threading.set_intra_op_parallelism_threads(int(os.environ[WORKER_THREADS_ENV]))
        tf.config.threading.set_inter_op_parallelism_threads(1)

from scikeras.utils.transformers import ClassifierLabelEncoder
from scikeras.wrappers import KerasClassifier

from bench.data import N_CLASSES


class FashionClassifier(KerasClassifier):
    @property
    def target_encoder(self):
        return ClassifierLabelEncoder(loss=self.loss, categories=[np.arange(N_CLASSES)])
