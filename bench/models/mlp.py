"""The reference post's two MLPs: the baseline (Flatten -> Dense(128, relu) -> Dense(10 logits), Adam)
and the tunable MLP that its six-stage grid search tunes ("tuned").

Both are self-contained here, as ``bench.models.cnn`` is: parameters, constraints, the six stages and
their grids per profile, and the cost model. A profile gives only the baseline's epochs (its default
for every Keras model without its own); ``[models.tuned]`` tables, or the README's top-level
``[grids]`` and ``[tuned_defaults]`` aliases of it, override the rest.
"""

from __future__ import annotations

import itertools
from typing import Any

from bench.models import ModelSpec
from bench.models.keras_base import (
    ACTIVATIONS,
    FAST,
    INITIALIZERS,
    OPTIMIZERS,
    CompileOptions,
    check_choice,
    compile_model,
    input_stack,
)
from bench.models.params import Choice, Interval, PositiveInt

BASELINE_PARAMS = {"optimizer": "adam", "learning_rate": 0.001, "units": 128}
TUNED_DEFAULTS: dict[str, Any] = {
    "epochs": 10, "batch_size": 32, "learning_rate": 0.001, "dropout": 0.0, "activation": "relu",
    "kernel_initializer": "glorot_uniform", "neurons1": 128, "neurons2": 64, "optimizer": "adam",
}
# The reference protocol's grids at each profile's size: smoke 1-2 values a stage (about a minute for
# 2 seeds), quick 2 (about 7 minutes for 3 seeds), reference the post's own 3-6.
GRIDS: dict[str, dict[str, list[Any]]] = {
    "smoke": {"epochs": [1, 2], "batch_size": [32, 64], "learning_rate": [0.001, 0.003], "dropout": [0.0],
              "activation": ["relu", "tanh"], "kernel_initializer": ["glorot_uniform"],
              "neurons1": [64, 128], "neurons2": [64], "optimizer": ["adam", "rmsprop"]},
    "quick": {"epochs": [5, 10], "batch_size": [32, 128], "learning_rate": [0.001, 0.003],
              "dropout": [0.0, 0.2], "activation": ["relu", "tanh"],
              "kernel_initializer": ["glorot_uniform", "he_normal"], "neurons1": [128, 256],
              "neurons2": [64, 128], "optimizer": ["adam", "rmsprop"]},
    "reference": {"epochs": [10, 20, 30, 50], "batch_size": [16, 32, 64, 128],
                  "learning_rate": [0.0001, 0.001, 0.01], "dropout": [0.0, 0.1, 0.2],
                  "activation": ["relu", "tanh", "sigmoid"],
                  "kernel_initializer": ["glorot_uniform", "he_normal", "uniform"],
                  "neurons1": [64, 128, 256], "neurons2": [32, 64, 128],
                  "optimizer": ["sgd", "rmsprop", "adagrad", "adam", "adamax", "nadam"]},
}
FIT = {"epochs": PositiveInt(), "batch_size": PositiveInt()}
BASELINE_CONSTRAINTS = {**FIT, "units": PositiveInt(), "optimizer": Choice(OPTIMIZERS),
                        "learning_rate": Interval(0, open_low=True)}
TUNED_CONSTRAINTS = {**FIT, "learning_rate": Interval(0, open_low=True), "dropout": Interval(0, 1),
                     "activation": Choice(ACTIVATIONS), "kernel_initializer": Choice(INITIALIZERS),
                     "neurons1": PositiveInt(), "neurons2": PositiveInt(), "optimizer": Choice(OPTIMIZERS)}


def build_baseline(options: CompileOptions = FAST, units: int = 128, optimizer: str = "adam",
                   learning_rate: float = 0.001):
    """Flatten -> Dense(128, relu) -> Dense(10 logits); Adam; sparse CE from logits."""
    import keras

    from bench.epochloop import model_class

    inputs, x = input_stack()
    x = keras.layers.Dense(units, activation="relu", name="dense")(x)
    outputs = keras.layers.Dense(10, name="logits")(x)
    model = model_class()(inputs, outputs, name="baseline")
    return compile_model(model, optimizer, learning_rate, options)


def build_tunable(
    neurons1: int = 128, neurons2: int = 64, dropout: float = 0.0, activation: str = "relu",
    kernel_initializer: str = "glorot_uniform", optimizer: str = "adam", learning_rate: float = 0.001,
    options: CompileOptions = FAST,
):
    """The reference's tuned MLP: two hidden layers with dropout, all knobs exposed."""
    import keras

    from bench.epochloop import model_class

    check_choice("activation", activation, ACTIVATIONS)
    check_choice("kernel initializer", kernel_initializer, INITIALIZERS)
    inputs, x = input_stack()
    for index, units in enumerate((neurons1, neurons2), start=1):
        x = keras.layers.Dense(units, activation=activation, kernel_initializer=kernel_initializer,
                               name=f"hidden{index}")(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name=f"dropout{index}")(x)
    outputs = keras.layers.Dense(10, kernel_initializer=kernel_initializer, name="logits")(x)
    model = model_class()(inputs, outputs, name="tuned")
    return compile_model(model, optimizer, learning_rate, options)


# Training seconds per parameter per image per epoch at batch size 32 on 2 cores: 1.17e-5 s per
# image-epoch at 109k parameters, 2.4e-5 at 235k (quick stages 4 and 5).
SECONDS_PER_PARAM_IMAGE = 1.07e-10
DROPOUT_SLOWDOWN = 3.0  # dropout models run without XLA (bench.epochloop): 15.4 s against 4.6 s per fit


def dense_params(*widths: int) -> int:
    """Weights and biases of a dense stack from 784 pixels through ``widths`` to 10 logits."""
    sizes = [784, *widths, 10]
    return sum(a * b + b for a, b in itertools.pairwise(sizes))


def _baseline_cost(params: dict[str, Any]) -> float:
    return SECONDS_PER_PARAM_IMAGE * dense_params(params.get("units", 128))


def _tuned_cost(params: dict[str, Any]) -> float:
    slowdown = DROPOUT_SLOWDOWN if params.get("dropout", 0) > 0 else 1.0
    return SECONDS_PER_PARAM_IMAGE * dense_params(params["neurons1"], params["neurons2"]) * slowdown


def reference_mlp(widths: tuple[int, ...], activation: str = "relu", kernel_initializer: str = "glorot_uniform",
                  dropout: float = 0.0):
    """The MLP as the reference post writes it, for ``fmbench perf``'s plain path: float32 input
    scaled beforehand, Keras' defaults, plain compile."""
    import keras

    layers: list = [keras.Input((28, 28)), keras.layers.Flatten()]
    for units in widths:
        layers.append(keras.layers.Dense(units, activation=activation, kernel_initializer=kernel_initializer))
        if dropout > 0:
            layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(10))
    net = keras.Sequential(layers)
    net.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
    return net


def _baseline(params: dict[str, Any], options: CompileOptions = FAST):
    return build_baseline(options, **params)


def _tuned(params: dict[str, Any], options: CompileOptions = FAST):
    return build_tunable(options=options, **params)


SPECS = [
    ModelSpec(
        name="baseline", factory="bench.models.mlp:build_baseline", build=_baseline,
        defaults=lambda p: {**BASELINE_PARAMS, "epochs": p.baseline_epochs, "batch_size": p.batch_size},
        constraints=BASELINE_CONSTRAINTS, cost=_baseline_cost,
        reference=lambda params: reference_mlp((params.get("units", 128),)),
    ),
    ModelSpec(
        name="tuned", factory="bench.models.mlp:build_tunable", build=_tuned,
        defaults=lambda p: dict(TUNED_DEFAULTS), constraints=TUNED_CONSTRAINTS,
        stages=lambda p: STAGES, grids=lambda p: {k: list(v) for k, v in GRIDS[p.name].items()},
        compare_with="baseline", cost=_tuned_cost, assume={"dropout": min},
        reference=lambda p: reference_mlp((p["neurons1"], p["neurons2"]), p["activation"], p["kernel_initializer"],
                                          p["dropout"]),
    ),
]

# The reference post's six sequential stages; each fixes the winners of those before it.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("epochs", ("epochs",)),
    ("batch size", ("batch_size",)),
    ("learning rate + dropout", ("learning_rate", "dropout")),
    ("activation + kernel initializer", ("activation", "kernel_initializer")),
    ("hidden neurons 1 + 2", ("neurons1", "neurons2")),
    ("optimizer", ("optimizer",)),
)
