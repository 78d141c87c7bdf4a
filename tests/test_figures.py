"""Figures: real PNGs embedded as data URIs, drawn at their A4 design size, without global side effects."""

from __future__ import annotations

import base64
import io

import matplotlib
import numpy as np
import pytest
from matplotlib import image as mpl_image

from bench import figures
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
