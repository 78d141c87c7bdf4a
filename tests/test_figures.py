"""Figures: real PNGs embedded as data URIs, drawn at their A4 design size, without global side effects, and
no colour scale fitted to so few values that any gap fills it."""

from __future__ import annotations

import base64
import io

import matplotlib
import numpy as np
import pytest
from conftest import STUDIES
from matplotlib import image as mpl_image
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from bench.report import figures
from bench.report.build import build_report
from bench.results import History


def decode(uri: str) -> np.ndarray:
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    return mpl_image.imread(io.BytesIO(base64.b64decode(uri[len(prefix):])), format="png")


def history(n: int, start: float) -> History:
    epochs = np.arange(n)
    return History(loss=list(1.0 / (epochs + 1) + start), accuracy=list(0.7 + 0.02 * epochs),
                   val_loss=list(1.1 / (epochs + 1) + start), val_accuracy=list(0.68 + 0.02 * epochs),
                   epoch_seconds=[1.5] + [0.4] * (n - 1))


def test_image_uri_is_an_enlarged_png_with_dark_ink_on_white():
    image = np.zeros((28, 28), dtype=np.uint8)
    image[10:18, 10:18] = 255  # a bright square on black, as Fashion-MNIST stores garments
    pixels = decode(figures.image_uri(image, scale=3))
    assert pixels.shape[:2] == (84, 84)
    assert pixels[0, 0, 0] == pytest.approx(1.0)  # background shown white
    assert pixels[42, 42, 0] == pytest.approx(0.0)  # the garment shown dark


@pytest.mark.parametrize(("values", "kind"), [([1, 2, 5], "numbers"), ([1e-4, 1e-3, 1e-1], "log numbers"),
                                              (["adam", "sgd", "rmsprop"], "categories")])
def test_one_parameter_chart_is_a_png_at_its_design_width(values, kind):
    picture = figures.one_param_chart("learning_rate", values, [0.70, 0.80, 0.75], [0.01, 0.02, 0.01])
    pixels = decode(picture.uri)
    assert abs(pixels.shape[1] - figures.WIDTH_IN * 0.62 * figures.DPI) <= 1
    assert picture.width == round(pixels.shape[1] * 96 / figures.DPI), kind


def figure_of(builder, *args):
    """The matplotlib Figure a chart draws, before the ``chart`` decorator turns it into a PNG."""
    return builder.__wrapped__(*args)


def test_stage_chart_draws_dots_with_std_whiskers_not_bars():
    # The audited case: bars on an axis from ~64 % made rmsprop (71.8 %) look half as good as adam (76.4 %).
    fig = figure_of(figures.one_param_chart, "optimizer", ["adam", "sgd", "rmsprop"], [0.764, 0.66, 0.718],
                    [0.01, 0.02, 0.015])
    ax = fig.axes[0]
    assert not [p for p in ax.patches if isinstance(p, Rectangle)]
    assert not [c for c in ax.containers if isinstance(c, BarContainer)]
    (whiskers,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    _, _, (segments,) = whiskers.lines
    spans = sorted((round(float(s[0, 1]), 6), round(float(s[1, 1]), 6)) for s in segments.get_segments())
    assert spans == [(64.0, 68.0), (70.3, 73.3), (75.4, 77.4)]  # mean ± 1 std, in %
    assert "mean ± 1 std over CV folds" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["adam", "sgd", "rmsprop"]


def test_stage_chart_keeps_a_log_axis_for_learning_rates():
    fig = figure_of(figures.one_param_chart, "learning_rate", [1e-2, 1e-4, 1e-3], [0.70, 0.80, 0.75],
                    [0.01, 0.02, 0.01])
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "learning rate"
    assert [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


def _drawn_figures():
    yield figure_of(figures.one_param_chart, "optimizer", ["adam", "sgd"], [0.9, 0.88], [0.01, 0.01])
    yield figure_of(figures.one_param_chart, "epochs", [2, 5, 10], [0.70, 0.80, 0.75], [0.01, 0.02, 0.01])
    yield figure_of(figures.candidates_chart, ["activation", "kernel_initializer"], [["relu", "he"], ["tanh", "he"]],
                    [0.76, 0.763], [0.01, 0.006])
    yield figure_of(figures.seed_strip, {"baseline": [0.84, 0.85], "tuned": [0.88, 0.89, 0.885]})
    yield figure_of(figures.epoch_times, {"baseline": [1.5, 0.4, 0.4], "tuned": [2.0, 0.9]})
    yield figure_of(figures.learning_curves, [history(5, 0.0), history(3, 0.1)], "tuned")


def test_no_chart_draws_bars_on_an_axis_that_leaves_out_zero():
    # A bar encodes by length: project rule is bars from zero, or dots with intervals instead.
    for fig in _drawn_figures():
        for ax in fig.axes:
            if [c for c in ax.containers if isinstance(c, BarContainer)]:
                low, high = ax.get_ylim()
                assert low <= 0 <= high, ax.get_ylabel()


COLOUR_MAPPED = ("imshow", "matshow", "pcolor", "pcolormesh", "pcolorfast")


def record_colour_maps(monkeypatch) -> list[dict]:
    """From now on, every colour-mapped array an Axes draws: its number of distinct values and whether its
    colour scale was fixed by the caller (vmin and vmax, or a norm with both) rather than fitted to the data."""
    drawn: list[dict] = []

    def spy(name: str):
        draw = getattr(Axes, name)

        def recorded(self, *args, **kwargs):
            data = np.ma.masked_invalid(np.asarray(args[-1] if name.startswith("pcolor") else args[0], float))
            norm = kwargs.get("norm")
            fixed = (kwargs.get("vmin") is not None and kwargs.get("vmax") is not None) or (
                isinstance(norm, Normalize) and norm.vmin is not None and norm.vmax is not None)
            if data.ndim == 2:  # 3-D is RGB(A): shown as given, no colour map
                drawn.append({"method": name, "values": len(np.unique(data.compressed())), "fixed": fixed})
            return draw(self, *args, **kwargs)

        return recorded

    for name in COLOUR_MAPPED:
        monkeypatch.setattr(Axes, name, spy(name))
    return drawn


def autoscaled_over_few_values(drawn: list[dict]) -> list[dict]:
    """Colour maps fitted to fewer than 3 values: a gap of any size, however small, spans the whole map."""
    return [d for d in drawn if d["values"] < 3 and not d["fixed"]]


def test_the_colour_map_check_catches_an_autoscaled_map_over_two_values(monkeypatch):
    drawn = record_colour_maps(monkeypatch)
    ax = Figure().add_subplot()
    ax.imshow([[76.34, 76.40]], cmap="viridis")  # the retired stage heatmap: full purple vs full yellow
    ax.imshow([[76.34, 76.40]], cmap="viridis", vmin=0, vmax=100)
    ax.pcolormesh(np.array([[1.0, 1.0], [1.0, np.nan]]))
    ax.imshow(np.zeros((2, 2, 3)))  # RGB: no colour map
    assert [(d["method"], d["values"], d["fixed"]) for d in drawn] == [
        ("imshow", 2, False), ("imshow", 2, True), ("pcolormesh", 1, False)]
    assert autoscaled_over_few_values(drawn) == [drawn[0], drawn[2]]


@pytest.mark.parametrize("study", ["tiny-a", "tiny-b"])
def test_no_report_figure_autoscales_a_colour_map_over_fewer_than_3_values(monkeypatch, study):
    # Every figure build_report draws for a committed study (its stages have 1 or 2 candidates per parameter).
    drawn = record_colour_maps(monkeypatch)
    report = build_report([STUDIES / study])
    assert report.searches and drawn  # the grid search was drawn, and the confusion matrices were seen
    assert autoscaled_over_few_values(drawn) == []


@pytest.mark.parametrize(("percent", "label"), [(0.0, ""), (0.3, "<1"), (0.5, "<1"), (0.99, "<1"), (1.0, "1"),
                                                (2.5, "3"), (12.5, "13"), (87.5, "88"), (99.0, "99"),
                                                (99.5, ">99"), (99.97, ">99"), (100.0, "100")])
def test_confusion_share_labels_never_print_0_or_100_for_a_part(percent, label):
    assert figures.share_label(percent) == label


def test_confusion_heatmap_labels_follow_the_share_rule():
    matrix = np.array([[995, 5, 0], [3, 997, 0], [125, 5, 870], [0, 0, 0]])  # 0.5 %, 0.3 %, 12.5 %, empty row
    fig = figure_of(figures.confusion_heatmap, matrix, ["a", "b", "c", "d"])
    ax = fig.axes[0]
    labels = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    grid = [[labels.get((i, j), "") for j in range(3)] for i in range(4)]  # no text counts as blank
    assert grid == [[">99", "<1", ""], ["<1", ">99", ""], ["13", "<1", "87"], ["", "", ""]]
    assert "0" not in labels.values()
    assert ax.get_title() == figures.SHARE_LABEL_KEY and "<1: under 1 %" in ax.get_title()
    assert fig.axes[1].get_ylabel() == "% of the true class"  # the colorbar


def test_a_two_parameter_stage_draws_each_candidate_as_a_dot_labelled_by_both_values():
    # The audited case: a heatmap autoscaled over 76.34 and 76.40 % painted them as opposite ends of the map.
    fig = figure_of(figures.candidates_chart, ["neurons1", "neurons2"], [["64", "64"], ["128", "64"]],
                    [0.7640, 0.7634], [0.0174, 0.0060], 0, (67.0, 79.0))
    ax = fig.axes[0]
    assert not ax.images and not [c for c in ax.containers if isinstance(c, BarContainer)]
    (whiskers,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    _, _, (segments,) = whiskers.lines
    spans = [(round(float(s[0, 1]), 2), round(float(s[1, 1]), 2)) for s in segments.get_segments()]
    assert spans == [(74.66, 78.14), (75.74, 76.94)]  # mean ± 1 std, in %
    assert ax.get_ylim() == (67.0, 79.0)  # the search's shared scale, not one zoomed to these two
    assert [t.get_text() for t in ax.get_xticklabels()] == ["64\n64", "128\n64"]
    assert ax.get_xlabel() == "line 1: hidden layer 1 (units); line 2: hidden layer 2 (units)"
    (star,) = [line for line in ax.get_lines() if line.get_marker() == "*"]
    assert list(star.get_xdata()) == [0.0] and star.get_label() == "winner"


def test_a_stage_chart_marks_the_given_winner_on_the_given_scale():
    # Under successive halving the winner's last score can be lower than a candidate's score of an earlier round.
    fig = figure_of(figures.one_param_chart, "optimizer", ["adam", "sgd"], [0.80, 0.82], [0.01, 0.01], 0, (70, 90))
    ax = fig.axes[0]
    (star,) = [line for line in ax.get_lines() if line.get_marker() == "*"]
    assert list(star.get_xdata()) == [0.0] and ax.get_ylim() == (70, 90)
    assert figures.accuracy_limits([0.80, 0.82], [0.01, 0.0]) == pytest.approx((78.76, 82.24))  # pad 8 % of span


def test_learning_curves_accept_seeds_of_different_lengths():
    picture = figures.learning_curves([history(5, 0.0), history(3, 0.1)], "tuned")
    assert abs(decode(picture.uri).shape[1] - figures.WIDTH_IN * figures.DPI) <= 1


def test_confusion_heatmap_handles_an_empty_row():
    matrix = np.array([[5, 1, 0], [0, 0, 0], [2, 0, 7]])
    assert figures.confusion_heatmap(matrix, ["a", "b", "c"]).width > 0


def test_charts_with_nothing_to_draw_are_none():
    assert figures.seed_strip({}) is None
    assert figures.epoch_times({"baseline": []}) is None
    assert figures.seed_strip({"baseline": [0.8]}) is not None


def test_figures_leave_global_matplotlib_state_alone():
    before = dict(matplotlib.rcParams)
    figures.epoch_times({"baseline": [1.0, 0.5]})
    assert dict(matplotlib.rcParams) == before


def test_parameter_labels_carry_units():
    assert figures.param_label("batch_size") == "batch size (images)"
    assert figures.param_label("neurons1") == "hidden layer 1 (units)"
    assert figures.param_label("some_new_param") == "some new param"
