"""Report figures: matplotlib charts and small images, each returned as an embedded PNG data URI.

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas (no pyplot state, no display),
sized for the A4 text width (about 6.8 in) and saved at a modest dpi so a report renders quickly.
"""

from __future__ import annotations

import base64
import functools
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 120
WIDTH_IN = 6.8  # A4 width minus 2 x 18 mm margins
STYLE = {"font.size": 8.5, "axes.titlesize": 9, "axes.labelsize": 8.5, "legend.fontsize": 7.5,
         "xtick.labelsize": 7.5, "ytick.labelsize": 7.5, "axes.spines.top": False, "axes.spines.right": False,
         "axes.grid": True, "grid.alpha": 0.3, "font.family": "DejaVu Sans"}
TRAIN_COLOR, VALIDATION_COLOR, BEST_COLOR = "#1f6fb4", "#e07b00", "#2a9d3c"
# Axis labels for the tuned hyperparameters, with units where they have one.
PARAM_LABELS = {"epochs": "epochs", "batch_size": "batch size (images)", "learning_rate": "learning rate",
                "dropout": "dropout rate", "activation": "activation", "kernel_initializer": "kernel initializer",
                "neurons1": "hidden layer 1 (units)", "neurons2": "hidden layer 2 (units)", "optimizer": "optimizer"}


@dataclass(frozen=True)
class Picture:
    """An embedded PNG and its width in CSS pixels (96 per inch), so pages show it at its design size."""

    uri: str
    width: int


def png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def figure_picture(fig: Figure) -> Picture:
    """Render a figure to a PNG data URI; the PNG header holds its pixel width."""
    buffer = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buffer, format="png", dpi=DPI)  # no bbox "tight": it draws the figure twice
    data = buffer.getvalue()
    width_px = int.from_bytes(data[16:20], "big")  # IHDR width, right after the 8-byte signature
    return Picture(png_uri(data), round(width_px * 96 / DPI))


def chart(build: Callable[..., Figure | None]) -> Callable[..., Picture | None]:
    """Turn a function that builds a Figure (or None: nothing to draw) into one returning a Picture."""

    @functools.wraps(build)
    def wrapper(*args, **kwargs) -> Picture | None:
        with matplotlib.rc_context(STYLE):
            fig = build(*args, **kwargs)
            return None if fig is None else figure_picture(fig)

    return wrapper


def image_uri(image: np.ndarray, scale: int = 3) -> str:
    """A uint8 greyscale image as a PNG data URI, dark ink on white, enlarged by whole pixels."""
    from matplotlib import image as mpl_image

    big = np.kron(255 - np.asarray(image, dtype=np.uint8), np.ones((scale, scale), dtype=np.uint8))
    buffer = io.BytesIO()
    mpl_image.imsave(buffer, big, cmap="gray", vmin=0, vmax=255, format="png")
    return png_uri(buffer.getvalue())


def param_label(name: str) -> str:
    return PARAM_LABELS.get(name, name.replace("_", " "))


def _is_numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _candidate_positions(ax, values: Sequence[Any]) -> tuple[np.ndarray, bool]:
    """Where each candidate sits on x, and whether x is numeric (ordered, so a line may join the dots).

    Distinct numbers sit at their value, on a log scale when they span decades (learning rates);
    anything else (names, None, repeats) sits at its index with the value as tick label.
    """
    if _is_numeric(values) and len(set(values)) == len(values):
        x = np.asarray(values, dtype=float)
        if x.min() > 0 and x.max() / x.min() >= 50:
            ax.set_xscale("log")
        if all(isinstance(v, int) for v in values):
            ax.set_xticks(np.sort(x), [str(v) for v in sorted(values)])
        return x, True
    ax.set_xticks(range(len(values)), [str(v) for v in values])
    ax.set_xlim(-0.5, len(values) - 0.5)
    return np.arange(len(values), dtype=float), False


def accuracy_limits(means: Sequence[float], stds: Sequence[float]) -> tuple[float, float]:
    """Y-limits in % that hold every mean ± 1 std given, padded; one pair serves every stage of a search
    so that a gap looks as large in one stage panel as in the next (each panel zooming to its own data
    would draw 76.34 vs 76.40 % as far apart as 70 vs 80 %)."""
    pct, err = np.asarray(means, dtype=float) * 100, np.asarray(stds, dtype=float) * 100
    low, high = float(np.min(pct - err)), float(np.max(pct + err))
    pad = max(high - low, 1.0) * 0.08  # at least a tenth of a point of air, even when all scores agree
    return low - pad, high + pad


def _dots(ax, x: np.ndarray, means: Sequence[float], stds: Sequence[float], winner: int | None, line: bool,
          ylim: tuple[float, float] | None) -> None:
    """Candidates as dots with ± 1 fold std whiskers, the winner starred, on the given accuracy scale.

    Only the std reaches here (not the number of folds), so the whiskers show the spread over folds,
    not a confidence interval, and the legend says so.
    """
    pct, err = np.asarray(means, dtype=float) * 100, np.asarray(stds, dtype=float) * 100
    order = np.argsort(x, kind="stable")
    ax.errorbar(x[order], pct[order], yerr=err[order], fmt="o-" if line else "o", color=TRAIN_COLOR,
                markersize=4, linewidth=0.8, capsize=3, label="mean ± 1 std over CV folds")
    best = int(np.argmax(pct)) if winner is None else winner
    # Under the whiskers (lower zorder): a winner's spread is the point of the chart, the star only names it.
    ax.plot([x[best]], [pct[best]], marker="*", markersize=12, color=BEST_COLOR, linestyle="none", label="winner",
            zorder=1.5)
    ax.set_ylim(*(ylim or accuracy_limits(means, stds)))
    # Above the axes: on a scale shared by several stages, "best" placement may still cover a whisker.
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1), ncols=2, frameon=False, borderaxespad=0.2)
    ax.set_ylabel("CV accuracy (%)")


@chart
def one_param_chart(name: str, values: Sequence[Any], means: Sequence[float], stds: Sequence[float],
                    winner: int | None = None, ylim: tuple[float, float] | None = None) -> Figure:
    """Mean CV accuracy of each candidate as a dot, ± 1 std over the CV folds as whiskers; ``winner``: the
    index of the chosen candidate (default: the best mean); ``ylim``: the search's shared scale in %.

    Dots, not bars: a bar encodes by length, so its axis must start at 0, which squashes differences of a
    few points; a dot's axis may zoom to the data.
    """
    fig = Figure(figsize=(WIDTH_IN * 0.62, 2.4), layout="constrained")
    ax = fig.add_subplot()
    x, numeric = _candidate_positions(ax, values)
    _dots(ax, x, means, stds, winner, numeric, ylim)
    ax.set_xlabel(param_label(name))
    return fig


@chart
def candidates_chart(names: Sequence[str], candidates: Sequence[Sequence[Any]], means: Sequence[float],
                     stds: Sequence[float], winner: int | None = None,
                     ylim: tuple[float, float] | None = None) -> Figure:
    """A stage tuning several parameters: one dot per candidate (± 1 fold std), in the given order,
    labelled by its values one parameter per line; the same encoding and scale as ``one_param_chart``.

    Not a heatmap: a colour scale fitted to a few close scores paints a 0.06-point gap as the full
    range of the map, and hides the fold spread that says whether the gap means anything.
    """
    width = min(WIDTH_IN, max(WIDTH_IN * 0.62, 1.2 + 0.45 * len(candidates)))  # the axis label needs 4 in
    fig = Figure(figsize=(width, 2.6), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(candidates), dtype=float)
    ax.set_xticks(x, ["\n".join(str(v) for v in values) for values in candidates])
    ax.set_xlim(-0.5, len(candidates) - 0.5)
    _dots(ax, x, means, stds, winner, False, ylim)
    # Tick labels stack one value per parameter, so the axis says which line is which.
    ax.set_xlabel("; ".join(f"line {i + 1}: {param_label(n)}" for i, n in enumerate(names)))
    return fig


def _band(ax, curves: Sequence[Sequence[float]], color: str, label: str, scale: float) -> None:
    """Mean over seeds as a line, min-max over seeds as a band (seeds may differ in length)."""
    length = max(len(c) for c in curves)
    padded = np.full((len(curves), length), np.nan)
    for i, curve in enumerate(curves):
        padded[i, : len(curve)] = np.asarray(curve) * scale
    epochs = np.arange(1, length + 1)
    ax.plot(epochs, np.nanmean(padded, axis=0), color=color, marker="o", markersize=3, label=label)
    if len(curves) > 1:
        ax.fill_between(epochs, np.nanmin(padded, axis=0), np.nanmax(padded, axis=0), color=color, alpha=0.2,
                        linewidth=0)


@chart
def learning_curves(histories: Sequence[Any], title: str) -> Figure:
    """Loss and accuracy per epoch, training vs validation; mean line and min-max band over seeds."""
    fig = Figure(figsize=(WIDTH_IN, 2.4), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    _band(loss_ax, [h.loss for h in histories], TRAIN_COLOR, "training", 1.0)
    _band(loss_ax, [h.val_loss for h in histories], VALIDATION_COLOR, "validation", 1.0)
    _band(acc_ax, [h.accuracy for h in histories], TRAIN_COLOR, "training", 100.0)
    _band(acc_ax, [h.val_accuracy for h in histories], VALIDATION_COLOR, "validation", 100.0)
    loss_ax.set_ylabel("loss (cross-entropy)")
    acc_ax.set_ylabel("accuracy (%)")
    for ax in (loss_ax, acc_ax):
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(loc="best")
    band = f"mean of {len(histories)} seeds, band: min-max" if len(histories) > 1 else "one seed"
    fig.suptitle(f"{title} ({band})", fontsize=9)
    return fig


# The colorbar says what the percent is of; this says how cells print it.
SHARE_LABEL_KEY = "cell labels: rounded %; <1: under 1 %; >99: over 99 %, not all; blank: none"


def share_label(percent: float) -> str:
    """A confusion cell's text for a share in %: blank for none, never "0" or "100" for a part.

    Whole percents would round a few confusions to "0" (Python even rounds 0.5 to "0") and a nearly
    perfect class to "100"; both would hide mistakes, so those shares print as "<1" and ">99".
    Between, halves round up (12.5 -> "13"), so the printed number never depends on evenness.
    """
    if percent <= 0:
        return ""
    if percent < 1:
        return "<1"
    if 99 < percent < 100:
        return ">99"
    return str(math.floor(percent + 0.5))


@chart
def confusion_heatmap(matrix: np.ndarray, class_names: Sequence[str]) -> Figure:
    """Row-normalized confusion matrix (% of each true class), each cell labelled by ``share_label``."""
    totals = matrix.sum(axis=1, keepdims=True)
    percent = np.divide(matrix * 100.0, totals, out=np.zeros(matrix.shape), where=totals > 0)
    fig = Figure(figsize=(WIDTH_IN * 0.8, 4.4), layout="constrained")
    ax = fig.add_subplot()
    ax.grid(False)
    image = ax.imshow(percent, cmap="Blues", vmin=0, vmax=100)
    for (i, j), value in np.ndenumerate(percent):
        ax.text(j, i, share_label(value), ha="center", va="center", fontsize=6.5,
                color="white" if value > 60 else "black")
    ticks = range(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=40, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(SHARE_LABEL_KEY, fontsize=7)
    fig.colorbar(image, ax=ax, label="% of the true class", fraction=0.046, pad=0.03)
    return fig


@chart
def seed_strip(values: Mapping[str, Sequence[float]]) -> Figure | None:
    """Test accuracy of every seed per model (dots), with the mean ± std as a dash and whiskers (no bars)."""
    if not values:
        return None
    fig = Figure(figsize=(min(WIDTH_IN, 1.8 + 1.1 * len(values)), 2.4), layout="constrained")
    ax = fig.add_subplot()
    for i, accs in enumerate(values.values()):
        pct = np.asarray(accs) * 100
        offsets = np.linspace(-0.12, 0.12, len(pct)) if len(pct) > 1 else np.zeros(1)
        ax.scatter(i + offsets, pct, color=TRAIN_COLOR, s=16, zorder=3)
        std = float(np.std(pct, ddof=1)) if len(pct) > 1 else 0.0
        ax.errorbar([i + 0.3], [pct.mean()], yerr=[std], fmt="_", color="black", capsize=4, markersize=12)
    ax.set_xticks(range(len(values)), list(values), rotation=15 if len(values) > 3 else 0)
    ax.set_xlim(-0.5, len(values) - 0.3)
    ax.set_ylabel("test accuracy (%)")
    ax.set_xlabel("model (dots: seeds; dash: mean ± std over seeds)")
    return fig


@chart
def epoch_times(series: Mapping[str, Sequence[float]]) -> Figure | None:
    """Mean seconds per epoch over seeds, one line per model."""
    series = {label: s for label, s in series.items() if s}
    if not series:
        return None
    fig = Figure(figsize=(WIDTH_IN * 0.62, 2.2), layout="constrained")
    ax = fig.add_subplot()
    for label, seconds in series.items():
        ax.plot(np.arange(1, len(seconds) + 1), seconds, marker="o", markersize=3, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("time per epoch (s)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylim(bottom=0)
    ax.legend(loc="best")
    return fig
