"""The scikit-learn face of the tunable model: a scikeras KerasClassifier that knows all ten classes.

scikeras learns the classes from each fit's own labels. A successive-halving round fits
on a small random sample (not stratified), which can miss a class; the default encoder
would then renumber the labels above the gap and train on the wrong targets. Fixing the
categories to 0..9 keeps every label its own, in every fit.
"""

from __future__ import annotations

import numpy as np
from scikeras.utils.transformers import ClassifierLabelEncoder
from scikeras.wrappers import KerasClassifier

from bench.data import N_CLASSES


class FashionClassifier(KerasClassifier):
    @property
    def target_encoder(self):
        return ClassifierLabelEncoder(loss=self.loss, categories=[np.arange(N_CLASSES)])
