"""Figures: real PNGs embedded as data URIs, drawn at their A4 design size, without global side effects."""

from __future__ import annotations

import base64
import io

import matplotlib
import numpy as np
import pytest
from matplotlib import image as mpl_image
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.patches import Rectangle

from bench.report import figures
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


def test_two_parameter_heatmap_leaves_untried_pairs_blank():
    scores = {("0.001", "0"): 0.8, ("0.001", "0.2"): 0.82, ("0.01", "0"): 0.78}  # one pair missing
    picture = figures.two_param_heatmap(["learning_rate", "dropout"], ["0.001", "0.01"], ["0", "0.2"], scores)
    assert decode(picture.uri).shape[0] > 50


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
