"""Reference rows from scikit-learn: logistic regression and a histogram gradient-boosted forest.

They see flattened pixels scaled to [0, 1] (``bench.train.estimator``), have no epochs or
curves, and go through the same seeds, metrics, report and gate as the networks. Their seed
sets ``random_state``; their thread count follows the run's.
"""

from __future__ import annotations

from typing import Any

from bench.models import ModelSpec
from bench.models.params import Interval, PositiveInt

LOGREG_CONSTRAINTS = {"C": Interval(0, open_low=True), "max_iter": PositiveInt(), "tol": Interval(0, open_low=True)}
HGB_CONSTRAINTS = {"learning_rate": Interval(0, open_low=True), "max_iter": PositiveInt(),
                   "max_leaf_nodes": PositiveInt(), "max_depth": PositiveInt(),
                   "min_samples_leaf": PositiveInt(), "l2_regularization": Interval(0), "max_bins": PositiveInt()}
# Per profile: fewer iterations on smoke (3,000 images), scikit-learn's defaults otherwise.
LOGREG_DEFAULTS = {"smoke": {"C": 1.0, "max_iter": 100, "tol": 1e-4}}
HGB_DEFAULTS = {"smoke": {"learning_rate": 0.1, "max_iter": 30, "max_leaf_nodes": 31, "min_samples_leaf": 20,
                          "l2_regularization": 0.0, "max_bins": 255}}


def build_logreg(params: dict[str, Any], options=None):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(**params)


def build_hgb(params: dict[str, Any], options=None):
    from sklearn.ensemble import HistGradientBoostingClassifier

    # No early stopping: it would hold out a random tenth of the training part, which the protocol's
    # validation split already does.
    return HistGradientBoostingClassifier(early_stopping=False, **params)


def _logreg_defaults(profile) -> dict[str, Any]:
    return dict(LOGREG_DEFAULTS.get(profile.name, {"C": 1.0, "max_iter": 200, "tol": 1e-4}))


def _hgb_defaults(profile) -> dict[str, Any]:
    return dict(HGB_DEFAULTS.get(profile.name, {"learning_rate": 0.1, "max_iter": 100, "max_leaf_nodes": 31,
                                                "min_samples_leaf": 20, "l2_regularization": 0.0,
                                                "max_bins": 255}))


SPECS = [
    ModelSpec(name="logreg", kind="sklearn", factory="sklearn.linear_model:LogisticRegression",
              build=build_logreg, defaults=_logreg_defaults, constraints=LOGREG_CONSTRAINTS),
    ModelSpec(name="hgb", kind="sklearn", factory="sklearn.ensemble:HistGradientBoostingClassifier",
              build=build_hgb, defaults=_hgb_defaults, constraints=HGB_CONSTRAINTS),
]
