"""Model definitions: the reference baseline MLP and the reference's tunable MLP.

Both take uint8 images and scale them inside the model (Rescaling 1/255), which is
the reference's preprocessing done per batch instead of on a float copy of the set.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.epochloop import model_class
from bench.errors import BenchError

OPTIMIZERS = ("sgd", "rmsprop", "adagrad", "adadelta", "adam", "adamax", "nadam")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "softplus", "linear", "gelu", "swish")
INITIALIZERS = (
    "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
    "lecun_normal", "uniform", "normal", "zeros",
)


@dataclass(frozen=True)
class CompileOptions:
    """Per-step overhead knobs; the fast path turns them on, the model's meaning unchanged.

    ``steps_per_execution`` and ``jit_compile`` are Keras' own (they also speed up evaluate
    and predict); ``epoch_loop`` trains each whole epoch as one compiled call
    (``bench.epochloop``). With all three off, ``fit`` is exactly Keras' ``Model.fit``.
    """

    steps_per_execution: int = 1
    jit_compile: bool | str = False
    epoch_loop: bool = False

    def as_dict(self) -> dict:
        return {"steps_per_execution": self.steps_per_execution, "jit_compile": self.jit_compile,
                "epoch_loop": self.epoch_loop}


PLAIN = CompileOptions(1, "auto")
FAST = CompileOptions(steps_per_execution=1, jit_compile=True, epoch_loop=True)

BASELINE_PARAMS = {"optimizer": "adam", "learning_rate": 0.001, "units": 128}


def check_choice(field: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise BenchError(f"unknown {field} {value!r}", fix=f"choose one of {', '.join(allowed)}")
    return value


def make_optimizer(name: str, learning_rate: float):
    import keras

    check_choice("optimizer", name, OPTIMIZERS)
    classes = {
        "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop,
        "adagrad": keras.optimizers.Adagrad, "adadelta": keras.optimizers.Adadelta,
        "adam": keras.optimizers.Adam, "adamax": keras.optimizers.Adamax, "nadam": keras.optimizers.Nadam,
    }
    return classes[name](learning_rate=learning_rate)


def _compile(model, optimizer: str, learning_rate: float, options: CompileOptions):
    import keras

    model.compile(
        optimizer=make_optimizer(optimizer, learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        steps_per_execution=options.steps_per_execution,
        jit_compile=False if options.jit_compile is True else options.jit_compile,
    )
    # With the epoch loop, XLA compiles the training loop only: evaluating or predicting a
    # few thousand images does not repay a second XLA compilation per model (a grid
    # search builds a hundred models).
    if options.jit_compile is True and not options.epoch_loop:
        # Keras refuses XLA whenever op determinism is on, because some XLA *GPU* kernels
        # lack deterministic versions. These dense models compile to matmuls and
        # elementwise ops that XLA runs deterministically on a CPU; tests/test_training.py
        # and tests/test_fastpath.py check that the same seed gives identical histories.
        model._jit_compile = True
    model.epoch_loop = options.epoch_loop
    model.loop_jit = options.jit_compile is True
    return model


def _input_stack():
    import keras

    inputs = keras.Input(shape=(28, 28), dtype="uint8", name="image")
    scaled = keras.layers.Rescaling(1.0 / 255, name="scale")(inputs)
    return inputs, keras.layers.Flatten(name="flatten")(scaled)


def build_baseline(options: CompileOptions = FAST, units: int = 128, optimizer: str = "adam",
                   learning_rate: float = 0.001):
    """Flatten -> Dense(128, relu) -> Dense(10 logits); Adam; sparse CE from logits."""
    import keras

    inputs, x = _input_stack()
    x = keras.layers.Dense(units, activation="relu", name="dense")(x)
    outputs = keras.layers.Dense(10, name="logits")(x)
    model = model_class()(inputs, outputs, name="baseline")
    return _compile(model, optimizer, learning_rate, options)


def build_tunable(
    neurons1: int = 128, neurons2: int = 64, dropout: float = 0.0, activation: str = "relu",
    kernel_initializer: str = "glorot_uniform", optimizer: str = "adam", learning_rate: float = 0.001,
    options: CompileOptions = FAST,
):
    """The reference's tuned MLP: two hidden layers with dropout, all knobs exposed."""
    import keras

    check_choice("activation", activation, ACTIVATIONS)
    check_choice("kernel initializer", kernel_initializer, INITIALIZERS)
    inputs, x = _input_stack()
    for index, units in enumerate((neurons1, neurons2), start=1):
        x = keras.layers.Dense(units, activation=activation, kernel_initializer=kernel_initializer,
                               name=f"hidden{index}")(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name=f"dropout{index}")(x)
    outputs = keras.layers.Dense(10, kernel_initializer=kernel_initializer, name="logits")(x)
    model = model_class()(inputs, outputs, name="tuned")
    return _compile(model, optimizer, learning_rate, options)


def describe_architecture(model) -> list[dict]:
    """One row per layer: name, type, output units, activation, parameter count."""
    rows = []
    for layer in model.layers:
        config = layer.get_config()
        rows.append({
            "name": layer.name,
            "type": type(layer).__name__,
            "units": config.get("units"),
            "activation": config.get("activation"),
            "rate": config.get("rate"),
            "params": int(layer.count_params()),
        })
    return rows
