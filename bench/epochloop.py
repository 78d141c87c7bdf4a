"""The fast path's training loop: each epoch is one XLA-compiled call over pre-shuffled batches.

Keras' ``Model.fit`` feeds the model through a tf.data iterator that shuffles and slices
the arrays every epoch and launches one compiled step per batch (or a few, with
``steps_per_execution``). For small dense models on a CPU that per-step machinery, not
the matrix work, sets the pace. Here each epoch's order is drawn once in NumPy, the
batches are stacked into one (batches, batch_size, ...) tensor, and the whole epoch -
every Keras ``train_step``: forward pass, loss, gradients, optimizer update, metric
update - runs inside a single XLA while loop. Model, optimizer, batch size, epochs,
reshuffling every epoch, the partial last batch, validation, callbacks and the returned
History mean what they mean in ``Model.fit``. Only the shuffle's random stream differs,
so results match ``Model.fit`` statistically, and bit for bit from one run to the next.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

ORDER_SEED_LIMIT = 2**31 - 1
# XLA compilation costs one to three seconds per model on a small CPU and saves about a
# millisecond per step; shorter fits (a successive-halving round on a small sample) run
# the same loop as a plain TensorFlow graph instead. So do models with dropout: XLA's CPU
# random-number generation made their epochs about twenty times slower than TensorFlow's
# own kernels (measured: 2.7 s against 0.13 s for 16,000 images).
JIT_MIN_STEPS = 2000
# Validation loss and accuracy are means over samples, whatever the batch size; large
# batches make the per-epoch validation pass cheap.
VALIDATION_BATCH = 1000


@functools.cache
def model_class():
    """The Keras model class with the epoch loop (made on first use: importing Keras is slow)."""
    import keras
    import tensorflow as tf

    # Every model gets its own compiled loop, so TensorFlow's "excessive retracing" warning
    # would fire throughout a grid search, for nothing.
    tf.get_logger().setLevel("ERROR")

    class EpochLoopModel(keras.Model):
        """A functional model whose ``fit`` runs whole epochs as one compiled call when asked.

        ``epoch_loop`` and ``loop_jit`` are set by ``bench.models`` at compile time; with
        ``epoch_loop`` off, or for inputs this loop does not handle (datasets, sample weights,
        ``validation_split``, ...), ``fit`` is Keras' own, unchanged.
        """

        epoch_loop: bool = False
        loop_jit: bool = True
        fit = _fit

    return EpochLoopModel


def _fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
         validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
         steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
    """``Model.fit``, through the epoch loop when it is on and the inputs are plain arrays.

    A model's own ``fit_callbacks`` (a learning-rate schedule by epoch, say) join every fit,
    the harness's and a grid search's alike.
    """
    import keras

    callbacks = [*(callbacks or []), *getattr(self, "fit_callbacks", [])]
    handled = (self.epoch_loop and isinstance(x, np.ndarray) and isinstance(y, np.ndarray)
               and not validation_split and class_weight is None and sample_weight is None
               and steps_per_epoch is None and validation_steps is None and validation_freq == 1
               and shuffle in (True, False) and (validation_data is None or len(validation_data) == 2))
    if not handled:
        return keras.Model.fit(self, x, y, batch_size, epochs, verbose, callbacks, validation_split,
                               validation_data, shuffle, class_weight, sample_weight, initial_epoch,
                               steps_per_epoch, validation_steps, validation_batch_size, validation_freq)
    return fit_in_epochs(self, x, y, batch_size or 32, epochs, verbose, callbacks, validation_data, shuffle,
                         initial_epoch, validation_batch_size)


def _epoch_function(model, jit: bool):
    """One compiled call that runs ``train_step`` over every batch of a stacked epoch."""
    import tensorflow as tf

    def run_epoch(batches_x, batches_y):
        def body(step):
            model.train_step((batches_x[step], batches_y[step]))
            return step + 1

        tf.while_loop(lambda step: step < tf.shape(batches_x)[0], body, [tf.constant(0)])
        return tf.constant(0)

    return tf.function(run_epoch, jit_compile=jit)


def _stack(values: np.ndarray, order: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The epoch's full batches as one (batches, batch_size, ...) array, and the partial last batch."""
    shuffled = values[order]
    full = len(order) // batch_size * batch_size
    head = shuffled[:full].reshape(-1, batch_size, *values.shape[1:])
    tail = shuffled[full:] if full < len(order) else None
    return head, tail


def fit_in_epochs(model, x: np.ndarray, y: np.ndarray, batch_size: int, epochs: int, verbose,
                  callbacks, validation_data, shuffle: bool, initial_epoch: int, validation_batch_size):
    """``Model.fit`` for in-memory arrays, one compiled call per epoch; returns the History."""
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must hold the same, non-zero number of samples (got {len(x)} and {len(y)})")
    model._symbolic_build(data_batch=(x[:batch_size], y[:batch_size]))
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.stop_training = False
    import keras

    callback_list = keras.callbacks.CallbackList(
        callbacks, add_history=True, add_progbar=verbose not in (0, "auto"), verbose=verbose, epochs=epochs,
        steps=math.ceil(len(x) / batch_size), model=model)
    steps = (epochs - initial_epoch) * (len(x) // batch_size)
    random = any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)
    run_epoch = _epoch_function(model, jit=model.loop_jit and steps >= JIT_MIN_STEPS and not random)
    # Drawn from NumPy's global stream, which the harness (and scikeras' random_state) seed.
    order_rng = np.random.default_rng(np.random.randint(ORDER_SEED_LIMIT))
    logs: dict[str, Any] = {}
    callback_list.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        order = order_rng.permutation(len(x)) if shuffle else np.arange(len(x))
        (head_x, tail_x), (head_y, tail_y) = _stack(x, order, batch_size), _stack(y, order, batch_size)
        if len(head_x):
            run_epoch(head_x, head_y)
        if tail_x is not None:  # eagerly: compiling a second shape would cost more than it saves
            model.train_step((tail_x, tail_y))
        logs = dict(model.get_metrics_result())
        if validation_data is not None:
            val_batch = validation_batch_size or max(batch_size, VALIDATION_BATCH)
            val = model.evaluate(*validation_data, batch_size=val_batch, verbose=0, return_dict=True)
            logs.update({f"val_{name}": value for name, value in val.items()})
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end(logs)
    return model.history
