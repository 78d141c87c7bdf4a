"""Reference rows from scikit-learn: logistic regression and a histogram gradient-boosted forest.

They see flattened pixels scaled to [0, 1] (``bench.models.sklearn_family``), have no epochs or
curves, and go through the same seeds, metrics, report and gate as the networks. Their seed
sets ``random_state``; their thread count follows the run's.
"""

from __future__ import annotations

from typing import Any

from bench.models import SKLEARN, ModelSpec
from bench.models.params import Interval, PositiveInt

LOGREG_CONSTRAINTS = {"C": Interval(0, open_low=True), "max_iter": PositiveInt(), "tol": Interval(0, open_low=True)}
HGB_CONSTRAINTS = {"learning_rate": Interval(0, open_low=True), "max_iter": PositiveInt(),
                   "max_leaf_nodes": PositiveInt(), "max_depth": PositiveInt(),
                   "min_samples_leaf": PositiveInt(), "l2_regularization": Interval(0), "max_bins": PositiveInt()}
# Measured on 2 cores, 48,000 training images, seed 0: lbfgs 100 iterations 12 s, test accuracy
# 84.5 % (200 iterations: 25 s, 84.3 %: more iterations overfit); boosting 20 iterations 33 s,
# 87.1 % (63 bins: 25 s, 86.6 %). Its time per iteration hardly shrinks with fewer images
# (2,400 images: about 1 s per iteration, one histogram per feature, class and node), so smoke
# keeps it short.
LOGREG_DEFAULTS = {"C": 1.0, "max_iter": 100, "tol": 1e-4}
HGB_DEFAULTS = {"learning_rate": 0.1, "max_iter": 100, "max_leaf_nodes": 31, "min_samples_leaf": 20,
                "l2_regularization": 0.0, "max_bins": 255}
HGB_SMOKE = {**HGB_DEFAULTS, "max_iter": 10, "max_bins": 63}
LOGREG_SECONDS_PER_IMAGE_ITERATION = 12 / 48000 / 100
HGB_SECONDS_PER_IMAGE_ITERATION = 33 / 48000 / 20


def build_logreg(params: dict[str, Any], options=None):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(**params)


def build_hgb(params: dict[str, Any], options=None):
    from sklearn.ensemble import HistGradientBoostingClassifier

    # No early stopping: it would hold out a random tenth of the training part, which the protocol's
    # validation split already does.
    return HistGradientBoostingClassifier(early_stopping=False, **params)


SPECS = [
    ModelSpec(name="logreg", family=SKLEARN, factory="sklearn.linear_model:LogisticRegression",
              build=build_logreg, defaults=lambda profile: dict(LOGREG_DEFAULTS), constraints=LOGREG_CONSTRAINTS,
              cost=lambda params: LOGREG_SECONDS_PER_IMAGE_ITERATION * params["max_iter"]),
    ModelSpec(name="hgb", family=SKLEARN, factory="sklearn.ensemble:HistGradientBoostingClassifier",
              build=build_hgb, defaults=lambda profile: dict(HGB_SMOKE if profile.name == "smoke" else HGB_DEFAULTS),
              constraints=HGB_CONSTRAINTS, cost=lambda params: HGB_SECONDS_PER_IMAGE_ITERATION * params["max_iter"]),
]
