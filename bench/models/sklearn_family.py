"""The scikit-learn family: estimators fed flattened pixels scaled to [0, 1] (float32, the reference's
preprocessing), fitted once (no epochs, no curves), seeded through ``random_state``, searched directly.

Their loss is the log loss of their predicted probabilities (the networks' sparse cross-entropy).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from bench.data import N_CLASSES
from bench.models.family import Family, Fitted
from bench.results import SplitMetrics

LABELS = list(range(N_CLASSES))


def features(x: np.ndarray) -> np.ndarray:
    """Flattened pixels in [0, 1]."""
    return x.reshape(len(x), -1).astype(np.float32) / np.float32(255)


def seeded(estimator, seed: int):
    """The run's seed as the estimator's ``random_state``, where it has one."""
    if "random_state" in estimator.get_params():
        estimator.set_params(random_state=seed)
    return estimator


def probabilities(estimator, x: np.ndarray) -> np.ndarray:
    """Class probabilities over all ten classes (a class missing from training gets zero), float64."""
    full = np.zeros((len(x), N_CLASSES))
    if hasattr(estimator, "predict_proba"):
        full[:, np.asarray(estimator.classes_, dtype=int)] = estimator.predict_proba(x)
        # On float32 pixels an estimator's rows sum to one only within float32 (logreg: off by up to ~1e-7),
        # and scikit-learn 1.9's log_loss warns into the user's terminal below float64's sqrt(eps), 1.5e-8.
        return full / full.sum(axis=1, keepdims=True)
    full[np.arange(len(x)), np.asarray(estimator.predict(x), dtype=int)] = 1.0  # the predicted class gets all
    return full


class SklearnFamily(Family):
    name = "sklearn"

    def accepts(self, built: Any) -> bool:
        return all(callable(getattr(built, m, None)) for m in ("fit", "predict", "get_params"))

    def features(self, x: np.ndarray, spec) -> np.ndarray:
        return features(x)

    def build(self, spec, params: dict[str, Any], seed: int, options):
        return seeded(spec.build(spec.builder_params(params)), seed)

    def fit(self, model, x, y, validation, params, clock) -> Fitted:
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model.fit(x, y)
        return Fitted(notes=list(dict.fromkeys(f"{w.category.__name__}: {str(w.message).splitlines()[0]}"
                                               for w in caught)))

    def probabilities(self, model, x: np.ndarray) -> np.ndarray:
        return probabilities(model, x)

    def evaluate(self, model, x: np.ndarray, y: np.ndarray) -> SplitMetrics:
        from sklearn.metrics import log_loss

        probs = probabilities(model, x)
        return SplitMetrics(accuracy=float(np.mean(probs.argmax(axis=1) == y)),
                            loss=float(log_loss(y, probs, labels=LABELS)))

    def describe(self, model) -> dict[str, Any]:
        return {"estimator": repr(model)}

    def search_estimator(self, setup, params, seed: int, options, callbacks: list):
        return seeded(setup.spec.build(setup.spec.builder_params(params)), seed)


SKLEARN = SklearnFamily()
