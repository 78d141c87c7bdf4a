"""The Keras family: models that take uint8 images, train in epochs on the fast path, and are
searched through a scikeras ``KerasClassifier`` (``bench.models.classifier``).

It also checks a user's Keras model once, before the study starts: one output of ten classes, an
input of 28x28, 28x28x1 or 784 pixels, and names TensorFlow accepts in training.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import BenchError
from bench.models.family import Family, Fitted
from bench.models.keras_base import describe_architecture, prepare
from bench.results import History, SplitMetrics

EVAL_BATCH = 1000  # predictions and scores do not depend on the batch size, the time does
PROBE_BATCH, PROBE_STEPS = 32, 8  # seconds_per_image: 256 images timed
# train_on_batch's steps against a run's: the README's small CNN, quick, 3 seeds on 2 idle cores took 94 s a
# run (4.7 min for 3) where its timed steps said 179 s; a Python call per step costs what the loop does not.
PROBE_CALL_OVERHEAD = 1.9
FIT_PARAMS = ("epochs", "batch_size")  # a Keras model's training settings, not its builder's
INPUT_SHAPES = ((28, 28), (28, 28, 1), (784,))
# TensorFlow names its scopes and ops after the model, its layers and their weights. Keras builds a model
# with any name, and then its first training step fails (exit 1, after the study started): tried with Keras
# 3.15 / TensorFlow 2.21, a layer named 'dense<1>', 'a b', 'a"b', 'a:b' or 'é' is "not a valid scope name";
# 'd>' passes that and fails in the optimizer's variables ("Node name contains invalid characters"); a
# model named '_m', '-m', 'm:1' or 'my model' is "not a valid root scope name". '_d', '-d' and '.d' train.
NAME = re.compile(r"[A-Za-z0-9_.-]+")
ROOT_NAME = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_.-]*")


def reshape(x: np.ndarray, shape: tuple[int, ...] | None) -> np.ndarray:
    """Images as the model's input wants them: 28x28, 28x28x1 or 784 (a view, no copy)."""
    return x if shape is None or tuple(shape) == x.shape[1:] else x.reshape((len(x), *shape))


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def build_for_search(name: str, factory: str, user: bool, options, **params):
    """scikeras' ``model`` for a registered or user model. Bound with functools.partial, which scikeras
    accepts and pickles by name, so a cluster's workers find the model in their own registry."""
    from bench.models import builtins  # the registry imports this module: looked up when a fit starts
    from bench.models.user import load_factory

    for routed in ("meta", "compile_kwargs", "params"):  # scikeras passes these to callables taking **kwargs
        params.pop(routed, None)
    if user:
        return prepare(load_factory(factory, f"model {name!r}")(params), params, options)
    return builtins()[name].build(params, options)


class KerasFamily(Family):
    name = "keras"
    epochs = True
    perf_paths = True

    def accepts(self, built: Any) -> bool:
        import keras

        return isinstance(built, keras.Model)

    def check_built(self, built, where: str) -> tuple[int, ...]:
        check_outputs(built, where)
        shape = input_shape(built, where)
        check_names(built, where)
        return shape

    def seconds_per_image(self, spec, params: dict[str, Any]) -> float | None:
        """Time ``PROBE_STEPS`` training steps of 32 images after one that traces (about 2 s for the README's
        small CNN), less the per-call cost a run's epoch loop does not pay (``PROBE_CALL_OVERHEAD``). Only for a
        model trained without XLA: ``train_on_batch`` would not time the XLA loop that trains the others. The
        cost model's default (the baseline MLP's 1.1e-5 s) had the README's own CNN study at 83 s; it took
        6.0 min. Timing a whole ``fit`` instead re-traced its epoch loop each call (1 h estimated)."""
        if spec.options.jit_compile is True:
            return None
        model = self.build(spec, params, 0, spec.options)
        x = self.features(np.zeros((PROBE_BATCH, 28, 28), dtype=np.uint8), spec)
        y = np.zeros(PROBE_BATCH, dtype=np.int32)
        model.train_on_batch(x, y)
        start = time.perf_counter()
        for _ in range(PROBE_STEPS):
            model.train_on_batch(x, y)
        return (time.perf_counter() - start) / (PROBE_STEPS * PROBE_BATCH) / PROBE_CALL_OVERHEAD

    def options_for(self, built, options):
        """Without XLA for a model with convolution or pooling layers, as the built-in cnn: XLA has no
        deterministic max-pool gradient (the README's own small CNN failed every quick-profile run with
        "MaxPool gradient ops do not yet have a deterministic XLA implementation"; smoke fits, under
        ``JIT_MIN_STEPS``, never compile) and does not pay for convolutions on these CPUs."""
        layers = built._flatten_layers(include_self=False, recursive=True)
        if options.jit_compile is True and any(re.search("Conv|Pool", type(layer).__name__) for layer in layers):
            return dataclasses.replace(options, jit_compile=False)
        return options

    def features(self, x: np.ndarray, spec) -> np.ndarray:
        return reshape(x, spec.input_shape)

    def build(self, spec, params: dict[str, Any], seed: int, options):
        return spec.build(spec.builder_params(params), options)

    def fit(self, model, x, y, validation, params, clock) -> Fitted:
        logs = model.fit(x, y, validation_data=validation, epochs=params["epochs"], batch_size=params["batch_size"],
                         verbose=0, callbacks=[clock]).history
        return Fitted(History(
            loss=[float(v) for v in logs["loss"]], accuracy=[float(v) for v in logs["accuracy"]],
            val_loss=[float(v) for v in logs["val_loss"]], val_accuracy=[float(v) for v in logs["val_accuracy"]],
            epoch_seconds=list(clock.seconds)))

    def warm_up(self, model, x: np.ndarray) -> None:
        model.predict(x[:EVAL_BATCH], batch_size=EVAL_BATCH, verbose=0)  # trace once

    def probabilities(self, model, x: np.ndarray) -> np.ndarray:
        outputs = model.predict(x, batch_size=EVAL_BATCH, verbose=0).astype(np.float64)
        # Logits, or probabilities from a model that ends in a softmax: both rank classes alike.
        is_probability = np.all(outputs >= 0) and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-4)
        return outputs if is_probability else softmax(outputs)

    def evaluate(self, model, x: np.ndarray, y: np.ndarray) -> SplitMetrics:
        loss, accuracy = model.evaluate(x, y, batch_size=EVAL_BATCH, verbose=0)
        return SplitMetrics(accuracy=float(accuracy), loss=float(loss))

    def describe(self, model) -> dict[str, Any]:
        layers, flops = describe_architecture(model)
        return {"architecture": layers, "total_params": model.count_params(), "flops_per_image": flops}

    def save(self, model) -> tuple[str, bytes]:
        return ".keras", saved_bytes(model)

    def compile_record(self, options) -> dict[str, Any]:
        return options.as_dict()

    def compiled_with(self, model) -> dict[str, Any]:
        optimizer = getattr(model, "optimizer", None)
        return {} if optimizer is None else optimizer_params(optimizer)

    def fit_settings(self, params: dict[str, Any]) -> tuple[int, int]:
        return params.get("epochs", 1), params.get("batch_size", 32)

    def compiles(self, spec, params: dict[str, Any]) -> bool:
        return spec.options.jit_compile is True and not params.get("dropout", 0)

    def search_param(self, name: str) -> str:
        return name if name in FIT_PARAMS else f"model__{name}"

    def search_estimator(self, setup, params, seed: int, options, callbacks: list):
        from bench.models.classifier import FashionClassifier

        model_args = {self.search_param(k): v for k, v in params.items() if k not in FIT_PARAMS}
        build = functools.partial(build_for_search, setup.name, setup.spec.factory, setup.spec.user, options)
        return FashionClassifier(
            model=build, epochs=params["epochs"], batch_size=params["batch_size"],
            predict__batch_size=EVAL_BATCH, random_state=seed, verbose=0, callbacks=callbacks, **model_args,
        )


KERAS = KerasFamily()


def saved_bytes(model) -> bytes:
    """The model in Keras' own format, as a plain functional ``keras.Model`` over the same layers, compiled
    with the same optimizer (state included), loss and accuracy metric, so ``keras.saving.load_model``
    loads it without fmbench (the epoch-loop subclass only changes how ``fit`` runs)."""
    import keras

    plain = keras.Model(model.inputs, model.outputs, name=model.name)
    plain.compile(optimizer=model.optimizer, loss=model.loss, metrics=["accuracy"])
    # Keras saves only to a path: a scratch file outside the study folder (a kill leaves nothing there).
    with tempfile.TemporaryDirectory(prefix="fmbench-model-") as scratch:
        tmp = Path(scratch) / "model.keras"
        plain.save(tmp)
        return tmp.read_bytes()


def optimizer_params(optimizer) -> dict[str, Any]:
    """A Keras optimizer as parameters: its class's name in lower case ('adam', as OPTIMIZERS spells the
    built-ins) and its learning rate, or a schedule's class name (a schedule's rate changes every step)."""
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # mixed precision's loss-scaling wrapper
    name, rate = type(optimizer).__name__.lower(), optimizer.get_config().get("learning_rate")
    if isinstance(rate, dict):
        return {"optimizer": name, "learning_rate_schedule": rate.get("class_name")}
    if rate is None:
        return {"optimizer": name}
    # The rate is a float32 variable: its shortest decimal, 0.001 where Adam(1e-3) stores 0.0010000000474974513.
    return {"optimizer": name, "learning_rate": float(str(np.float32(rate)))}


def check_outputs(model, where: str) -> None:
    """One output tensor of ten classes (logits or softmax)."""
    outputs = getattr(model, "outputs", None) or []
    if len(outputs) > 1:
        raise BenchError(f"{where}: the model has {len(outputs)} outputs; fmbench needs one, of 10 classes",
                         fix="give keras.Model a single output tensor, from a Dense(10) layer (logits or softmax)")
    shape = tuple(outputs[0].shape) if outputs else None
    if shape is not None and shape[-1] != 10:
        raise BenchError(f"{where}: the model's output has shape {shape}, not 10 classes",
                         fix="end the model with a Dense(10) layer (logits or softmax)")


def input_shape(model, where: str) -> tuple[int, ...]:
    """The image shape a Keras model's Input asks for: 28x28, 28x28x1 or 784 pixels."""
    shapes = [tuple(i.shape[1:]) for i in getattr(model, "inputs", None) or []]
    if len(shapes) != 1 or shapes[0] not in INPUT_SHAPES:
        raise BenchError(f"{where}: the model's input has shape {shapes[0] if len(shapes) == 1 else shapes}",
                         fix="give it keras.Input(shape=(28, 28)), (28, 28, 1) or (784,): uint8 pixels 0-255")
    return shapes[0]


def _named_parts(model):
    """(what, name) of the model, every layer (nested models' too) and every weight (its path's parts)."""
    yield "model", model.name
    layers = list(model.layers)
    while layers:
        layer = layers.pop()
        yield "layer", layer.name
        layers.extend(getattr(layer, "layers", []))
    for weight in model.weights:
        for part in str(getattr(weight, "path", weight.name)).split("/"):
            yield "weight", part


def check_names(model, where: str) -> None:
    """Names TensorFlow accepts in training, checked before it: the model's, its layers' and its weights'."""
    for what, name in _named_parts(model):
        pattern = ROOT_NAME if what == "model" else NAME
        if not pattern.fullmatch(name):
            bad = "".join(sorted({c for c in name if not NAME.fullmatch(c)}))
            problem = f"has {bad!r}" if bad else f"starts with {name[:1]!r}" if name else "is empty"
            raise BenchError(f"{where}: {what} name {name!r} {problem}, which TensorFlow refuses in training",
                             fix="name it with letters, digits, '_', '.' and '-' only"
                             + (", starting with a letter or digit" if what == "model" else ""))
