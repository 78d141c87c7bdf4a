"""What every Keras model in fmbench shares: compile options, compiling, the fast path, and a
description of any layer stack (layers, output shapes, parameters, FLOPs per image).

Built-in models take uint8 images and scale them inside the model (Rescaling 1/255), which is
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


def compile_model(model, optimizer, learning_rate: float | None, options: CompileOptions, from_logits: bool = True,
                  loss=None):
    """Compile with ``options``; ``optimizer`` is a name (made at ``learning_rate``) or an optimizer object."""
    import keras

    model.compile(
        optimizer=make_optimizer(optimizer, learning_rate) if isinstance(optimizer, str) else optimizer,
        loss=loss or keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
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


def input_stack(flatten: bool = True):
    """uint8 28x28 images in, scaled to [0, 1] inside the model (and flattened for dense stacks)."""
    import keras

    inputs = keras.Input(shape=(28, 28), dtype="uint8", name="image")
    scaled = keras.layers.Rescaling(1.0 / 255, name="scale")(inputs)
    return inputs, keras.layers.Flatten(name="flatten")(scaled) if flatten else scaled


def _softmax_output(model) -> bool:
    last = model.layers[-1] if model.layers else None
    activation = last.get_config().get("activation") if last is not None else None
    return type(last).__name__ == "Softmax" or activation == "softmax"


def prepare(model, params: dict, options: CompileOptions):
    """A user's Keras model made ready like the built-ins: compiled as the baseline if it was not
    (Adam at ``params['learning_rate']`` or 0.001, sparse cross-entropy, from logits unless it ends
    in a softmax), its own optimizer and loss kept if it was, accuracy measured, and on the fast
    path's epoch loop whenever it is a functional or Sequential model (same layers, same weights)."""
    compiled = bool(getattr(model, "compiled", False)) and getattr(model, "optimizer", None) is not None
    optimizer = model.optimizer if compiled else params.get("optimizer", "adam")
    loss = model.loss if compiled else None
    try:
        fast = model_class()(model.inputs, model.outputs, name=model.name)
    except Exception:  # a subclassed model has no graph to re-wrap: it trains with Keras' own fit
        fast, options = model, CompileOptions(options.steps_per_execution, False, False)
    return compile_model(fast, optimizer, params.get("learning_rate", 0.001), options,
                         from_logits=not _softmax_output(model), loss=loss)


def _shape(shape) -> list[int | None] | None:
    if shape is None or (isinstance(shape, list) and shape and isinstance(shape[0], (list, tuple))):
        return None  # several outputs: not a plain stack
    return [None if d is None else int(d) for d in tuple(shape)[1:]]


def layer_flops(layer, input_shape, output_shape) -> int:
    """Multiply-adds x 2 per image of the layers that do the arithmetic (dense and convolution)."""
    config = layer.get_config()
    kind = type(layer).__name__
    if kind == "Dense" and input_shape:
        return 2 * int(input_shape[-1]) * int(config["units"])
    if kind in ("Conv2D", "Conv1D") and input_shape and output_shape:
        kernel = 1
        for k in config["kernel_size"]:
            kernel *= int(k)
        positions = 1
        for d in output_shape[:-1]:
            positions *= int(d)
        return 2 * positions * int(output_shape[-1]) * kernel * int(input_shape[-1]) // int(config.get("groups", 1))
    return 0


def describe_architecture(model) -> tuple[list[dict], int]:
    """One row per layer (name, type, output shape, units or filters, kernel, activation, rate,
    parameters, FLOPs per image) and the model's FLOPs per image (forward pass)."""
    rows, total = [], 0
    for layer in model.layers:
        config = layer.get_config()
        inputs = _shape(getattr(layer.input, "shape", None)) if type(layer).__name__ != "InputLayer" else None
        outputs = _shape(getattr(layer.output, "shape", None))
        flops = layer_flops(layer, inputs, outputs)
        total += flops
        kernel = config.get("kernel_size") or config.get("pool_size")
        rows.append({
            "name": layer.name, "type": type(layer).__name__, "output_shape": outputs,
            "units": config.get("units"), "filters": config.get("filters"),
            "kernel": "x".join(str(k) for k in kernel) if kernel else None,
            "activation": config.get("activation"), "rate": config.get("rate"),
            "params": int(layer.count_params()), "flops": flops,
        })
    return rows, total
