"""Progress bars (tqdm, to stderr) for seeds, grid fits and epochs; silent in quiet mode.

Bars are redrawn in place only on a terminal. Redirected to a file, tqdm's carriage returns and cursor
moves (ESC ``[A``) turn a log into noise (a 90 s smoke study wrote 123 lines, 85 of them with cursor
moves), so there the bars are off and a study prints one plain line per finished unit (``StudyBar``).
"""

from __future__ import annotations

import sys
import time

from tqdm.auto import tqdm

# Written in bench.format with every other number; imported here too because the CLI's plan and runner
# print their estimates through this module.
from bench.format import format_duration as format_duration


class Bar(tqdm):
    """tqdm's bar, but with no rate and no time left until a first step is done: before it tqdm shows
    ``0/36 [00:00<?, ?s/s]``, which reads as a broken bar. ``waiting_format`` is shown until then."""

    def __init__(self, *args, waiting_format: str = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}]", **kwargs):
        self.waiting_format = waiting_format  # set first: tqdm draws the bar from its __init__
        super().__init__(*args, **kwargs)

    @property
    def format_dict(self):
        values = super().format_dict
        if not self.disable and values["n"] <= values["initial"]:
            values["bar_format"] = self.waiting_format
        return values


class Progress:
    """Hands out bars; with ``quiet`` every bar is disabled and ``say`` prints nothing.

    ``stream``: where bars and lines go (default: ``sys.stderr`` as it is when written to; pytest swaps it).
    Bars are drawn only when that stream is a terminal (``live``)."""

    def __init__(self, quiet: bool = False, stream=None):
        self.quiet = quiet
        self.stream = stream

    @property
    def out(self):
        return self.stream or sys.stderr

    @property
    def live(self) -> bool:
        """Whether bars are redrawn in place: not quiet, and writing to a terminal."""
        isatty = getattr(self.out, "isatty", None)
        return not self.quiet and bool(isatty and isatty())

    def bar(self, total: float, desc: str, unit: str, leave: bool = False, **formats) -> tqdm:
        """A bar; ``formats``: tqdm's ``bar_format`` and ``Bar``'s ``waiting_format``."""
        return Bar(total=total, desc=desc, unit=unit, leave=leave, disable=not self.live, file=self.out,
                   dynamic_ncols=True, **formats)

    def say(self, text: str) -> None:
        if self.live:  # above the bars, redrawn below it: printed plainly it ran on after the bar's last frame
            Bar.write(text, file=self.out)
        elif not self.quiet:
            print(text, file=self.out, flush=True)


STUDY_FORMAT = "{desc} |{bar}| {percentage:3.0f}% of the estimated work [{elapsed}<{remaining}]"
STUDY_WAITING = "{desc} |{bar}| {percentage:3.0f}% of the estimated work [{elapsed}]"
# The estimated total is printed again when the pace of the finished units moves it by more than this share
# of the one last printed: a 30 % change is what a user would act on (smoke on a busy 2-core machine: 42 s
# estimated, 80-102 s taken), and smaller ones would print a line for every unit's jitter.
REFRESH_SHARE = 0.3
# ... and only once this share of the work has finished after the first unit: the first carries one-time
# costs (a Dask worker importing TensorFlow: on --workers 2 smoke's first units ended at 31 s, the study at
# 90 s, and a projection from them said 3.1 min), and a pace from a unit or two jitters.
PACED_SHARE = 0.2


class StudyBar:
    """A study's progress over its units: units finished of all, and the share of the estimated work they
    stood for. ``advance`` moves both at once and then redraws (the count used to be set after tqdm had
    redrawn, so the bar read "0/10 units" beside 14 %). A bar on a terminal; elsewhere one line per unit.

    ``before_s``: seconds the study had run before its units (start-up), ``estimate_s``: its estimated
    total, printed at start. Once units finish, their pace projects the total again (``refreshed``)."""

    def __init__(self, progress: Progress, work_s: float, count: int, before_s: float = 0.0,
                 estimate_s: float | None = None, clock=time.perf_counter):
        self.progress, self.work_s, self.count, self.clock = progress, max(work_s, 1e-9), count, clock
        self.before_s, self.shown_s = before_s, estimate_s
        self.done, self.done_s, self.start = 0, 0.0, clock()
        self.first: tuple[float, float] | None = None  # (seconds, work done) when the first unit finished
        self.refreshed: list[tuple[float, int]] = []  # (estimated total, units finished) of each line printed
        self.bar = progress.bar(self.work_s, self.describe(), "s", leave=True, bar_format=STUDY_FORMAT,
                                waiting_format=STUDY_WAITING)

    def describe(self) -> str:
        return f"{self.done}/{self.count} units"

    @property
    def percent(self) -> float:
        return 100 * self.done_s / self.work_s

    def advance(self, cost: float) -> None:
        """One more unit finished; ``cost``: its estimated seconds (its share of the work)."""
        self.done += 1
        step = min(cost, self.work_s - self.done_s)
        self.done_s += step
        self.first = self.first or (self.clock() - self.start, self.done_s)
        self.bar.set_description_str(self.describe(), refresh=False)
        self.bar.update(step)
        self.bar.refresh()  # now, whatever tqdm's 0.1 s redraw interval: the count and the share go together
        if not self.progress.live:
            self.progress.say(self.line())
        self._refresh_estimate()

    def _paced(self) -> bool:
        """Whether PACED_SHARE of the work has finished since the first unit, to pace the rest by."""
        return self.first is not None and self.done_s - self.first[1] >= PACED_SHARE * self.work_s

    def left_s(self) -> float | None:
        """Seconds the rest of the work takes at the pace since the first unit finished, or until enough has
        to tell, at the pace of all so far (units finishing side by side on a cluster read as no time)."""
        if self.done_s <= 0:
            return None
        elapsed, remaining = self.clock() - self.start, self.work_s - self.done_s
        if self._paced():
            since, done_then = self.first
            return (elapsed - since) * remaining / (self.done_s - done_then)
        return elapsed * remaining / self.done_s

    def projected_s(self) -> float | None:
        """The study's total seconds: what has run (start-up included) and what is left at the pace so far."""
        left = self.left_s()
        return None if left is None else self.before_s + self.clock() - self.start + left

    def _refresh_estimate(self) -> None:
        projected = self.projected_s()
        if projected is None or self.shown_s is None or self.done >= self.count:
            return
        if self._paced() and abs(projected - self.shown_s) > REFRESH_SHARE * self.shown_s:
            self.progress.say(f"estimated total now {format_duration(projected)} at the pace of the first "
                              f"{self.done} of {self.count} units (was {format_duration(self.shown_s)})")
            self.shown_s = projected
            self.refreshed.append((projected, self.done))

    def line(self) -> str:
        """The plain progress line written instead of a bar when not on a terminal; "so far" counts the
        start-up too, as the "done in" line does."""
        elapsed = self.clock() - self.start
        text = (f"{self.describe()}, {self.percent:.0f} % of the estimated work, "
                f"{format_duration(self.before_s + elapsed)} so far")
        left = self.left_s()
        if self.done < self.count and left is not None:
            text += f", about {format_duration(left)} left"
        return text

    def finish(self) -> None:
        """Every unit is done: the bar at 100 % (units that never ran, as a failed search's, included)."""
        self.bar.update(self.work_s - self.bar.n)

    def close(self) -> None:
        self.bar.close()


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
