"""Progress bars (tqdm, to stderr) for seeds, grid fits and epochs; silent in quiet mode."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm

# Written in bench.format with every other number; imported here too because the CLI's plan and runner
# print their estimates through this module.
from bench.format import format_duration as format_duration


class Progress:
    """Hands out bars; with ``quiet`` every bar is disabled and ``say`` prints nothing."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet

    def bar(self, total: int, desc: str, unit: str, leave: bool = False) -> tqdm:
        return tqdm(total=total, desc=desc, unit=unit, leave=leave, disable=self.quiet, file=sys.stderr,
                    dynamic_ncols=True)

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)


def epoch_callback(bar: tqdm):
    """A Keras callback advancing ``bar`` per epoch and recording each epoch's seconds.

    It returns itself from deepcopy so that scikit-learn's ``clone`` keeps one shared
    callback (and bar) across grid-search candidates.
    """
    import time

    import keras

    class EpochClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []
            self._start = 0.0

        def __deepcopy__(self, memo):
            return self

        def on_train_begin(self, logs=None):
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)
            bar.update(1)
            if logs and "accuracy" in logs:
                bar.set_postfix(acc=f"{logs['accuracy']:.3f}", refresh=False)

    return EpochClock()
