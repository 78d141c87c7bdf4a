"""Report sections built from records: grid-search stages (exhaustive and halving) and their charts."""

from __future__ import annotations

import pytest

from bench import report_sections
from bench.results import Stage


def stage(param_grid: dict, params: list[dict], means: list[float], **extra) -> Stage:
    n = len(params)
    ranks = [sorted(means, reverse=True).index(m) + 1 for m in means]
    cv = {"params": params, "mean_test_score": means, "std_test_score": [0.01] * n, "rank_test_score": ranks,
          "mean_fit_time": [1.25] * n, "split0_test_score": means, "split1_test_score": means, **extra}
    best = params[ranks.index(1)]
    return Stage(index=1, name=" + ".join(param_grid), param_grid=param_grid, fixed={}, cv_results=cv,
                 best_params=best, best_score=max(means), n_folds=2, wall_s=3.0)


def test_a_one_parameter_stage_has_a_row_per_candidate_and_a_chart():
    section = report_sections.stage_section(stage({"epochs": [1, 2]}, [{"epochs": 1}, {"epochs": 2}], [0.7, 0.8]))
    assert section["names"] == ["epochs"] and section["extra"] == []
    assert [r["params"] for r in section["rows"]] == [["1"], ["2"]]
    assert [r["best"] for r in section["rows"]] == [False, True]
    assert section["rows"][1]["mean"].text == "80.00 ± 1.00" and section["rows"][1]["folds"] == "80.0 / 80.0"
    assert section["best"] == "epochs = 2" and section["chart"] is not None


def test_a_two_parameter_stage_gets_a_heatmap_and_three_get_none():
    grid = {"learning_rate": [0.001, 0.01], "dropout": [0.0, 0.2]}
    params = [{"learning_rate": lr, "dropout": d} for lr in grid["learning_rate"] for d in grid["dropout"]]
    two = stage(grid, params, [0.70, 0.72, 0.74, 0.71])
    assert report_sections.stage_chart(two, list(grid)).width > 0
    three = stage({**grid, "epochs": [1]}, [{**p, "epochs": 1} for p in params], [0.70, 0.72, 0.74, 0.71])
    assert report_sections.stage_chart(three, list(three.param_grid)) is None
    assert report_sections.stage_section(three)["chart"] is None


def test_a_halving_stage_shows_rounds_and_charts_each_candidate_once(monkeypatch):
    params = [{"optimizer": "adam"}, {"optimizer": "sgd"}, {"optimizer": "nadam"}, {"optimizer": "adam"}]
    halving = stage({"optimizer": ["adam", "sgd", "nadam"]}, params, [0.70, 0.60, 0.65, 0.80],
                    iter=[0, 0, 0, 1], n_resources=[500, 500, 500, 1500])
    section = report_sections.stage_section(halving)
    assert section["extra"] == ["iter", "n_resources"]
    assert [r["extra"] for r in section["rows"]] == [["0", "500"], ["0", "500"], ["0", "500"], ["1", "1500"]]
    drawn = {}
    monkeypatch.setattr(report_sections.figures, "one_param_chart",
                        lambda name, values, means, stds: drawn.update(values=values, means=means))
    report_sections.stage_chart(halving, ["optimizer"])
    assert drawn == {"values": ["adam", "sgd", "nadam"], "means": [0.80, 0.60, 0.65]}  # adam: its last round


@pytest.mark.parametrize(("value", "text"), [(None, "—"), (0.001, "0.001"), (1e-4, "0.0001"), ([64, 32], "[64, 32]"),
                                             ("relu", "relu"), (True, "True")])
def test_free_values_read_as_short_text(value, text):
    assert report_sections.text_of(value) == text


def test_metric_text_has_units():
    assert report_sections.format_metric("test_accuracy", 0.8523) == "85.23\u00a0%"  # unit never wraps away
    assert report_sections.format_metric("gap_train_test", 0.034) == "+3.40\u00a0pts"
    assert report_sections.format_metric("fit_s", 12.345) == "12.35\u00a0s"
    assert report_sections.format_metric("images_per_s", 30787.1) == "30,787\u00a0images/s"
    assert report_sections.format_metric("test_loss", 0.45678) == "0.4568"
