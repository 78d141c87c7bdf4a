"""A model family: how its models are fed, built, trained, searched, costed and recorded.

KerasTuner's idiom (``HyperModel.build(hp)`` / ``HyperModel.fit``, ``SklearnTuner.run_trial``): the
protocol (seeds, splits, timings, scores, reports) is written once in ``bench.train`` and
``bench.study``, and everything that differs between Keras models and scikit-learn estimators is a
method here. Keras lives in ``bench.models.keras_base``, scikit-learn in ``bench.models.sklearn_base``;
a third kind of model (PyTorch, an ONNX file) is one more module with one more ``Family`` and its
name in ``bench.models.FAMILIES``. Nothing outside ``bench.models`` asks which family a model is.

Nothing here imports a framework: each family imports its own lazily, so the CLI checks a study
before TensorFlow starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.results import History, SplitMetrics


@dataclass
class Fitted:
    """What a fit leaves besides the trained model: its curves (by epoch, if it trains in epochs) and
    notes worth a line each (an estimator's convergence warnings)."""

    history: History | None = None
    notes: list[str] = field(default_factory=list)


class Family:
    """The methods the protocol calls; each family fills them in."""

    name = ""  # recorded in every run as ``model_kind``
    epochs = False  # trains in epochs: a history and curves, an epoch bar, epochs counted by the plan
    perf_paths = False  # has the plain and the fast training path that ``fmbench perf`` times

    def accepts(self, built: Any) -> bool:
        """Whether a user's factory returned one of this family's models."""
        raise NotImplementedError

    def check_built(self, built: Any, where: str) -> tuple[int, ...] | None:
        """A user's model checked once, before training; returns its input shape if it has one."""
        return None

    def seconds_per_image(self, spec, params: dict[str, Any]) -> float | None:
        """A user's model's training seconds per image-epoch at batch 32, timed on this machine; None when the
        family cannot time it faithfully (the cost model's default then stands)."""
        return None

    def options_for(self, built: Any, options):
        """How a user's model, as built, is trained by the fast path (a family without one ignores it)."""
        return options

    def features(self, x: np.ndarray, spec) -> np.ndarray:
        """uint8 28x28 images as the model is fed them."""
        raise NotImplementedError

    def build(self, spec, params: dict[str, Any], seed: int, options) -> Any:
        """A fresh, seeded model for one run (the global seeds are set already)."""
        raise NotImplementedError

    def fit(self, model, x: np.ndarray, y: np.ndarray, validation: tuple[np.ndarray, np.ndarray],
            params: dict[str, Any], clock) -> Fitted:
        """Train on (x, y); a family that trains in epochs validates on ``validation`` and ticks ``clock``."""
        raise NotImplementedError

    def warm_up(self, model, x: np.ndarray) -> None:
        """Whatever must run once before inference is timed (tracing a graph)."""

    def probabilities(self, model, x: np.ndarray) -> np.ndarray:
        """Class probabilities, float64, one row of all ten classes per image."""
        raise NotImplementedError

    def evaluate(self, model, x: np.ndarray, y: np.ndarray) -> SplitMetrics:
        """Accuracy and loss on one part of the split, as the family measures its own loss."""
        raise NotImplementedError

    def describe(self, model) -> dict[str, Any]:
        """The run record's fields that describe the trained model (layers and FLOPs, or its repr)."""
        return {}

    def save(self, model) -> tuple[str, bytes] | None:
        """(file suffix, bytes) of the trained model in its framework's own format, if it has one."""
        return None

    def compile_record(self, options) -> dict[str, Any]:
        """The fast-path options a run records (none for a family without them)."""
        return {}

    def compiled_with(self, model) -> dict[str, Any]:
        """What a built model was compiled with, read from it (a Keras model's optimizer and learning rate),
        recorded with the run's compile options: a user's factory may compile its model, and its params
        then do not say which optimizer it trains with (the report showed '—')."""
        return {}

    def fit_settings(self, params: dict[str, Any]) -> tuple[int, int]:
        """(epochs, batch size) of one fit, for the plan's cost model: one pass at 32 if it has neither."""
        return 1, 32

    def compiles(self, spec, params: dict[str, Any]) -> bool:
        """Whether a fit pays an XLA compile first (the plan adds its cost)."""
        return False

    def search_param(self, name: str) -> str:
        """A hyperparameter's name in the object a grid search is given."""
        return name

    def search_estimator(self, setup, params: dict[str, Any], seed: int, options, callbacks: list) -> Any:
        """What a grid-search stage fits: a scikit-learn compatible estimator."""
        raise NotImplementedError
