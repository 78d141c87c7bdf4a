"""Report sections built from records: grid-search stages (exhaustive and halving), their charts on one scale
and whether each winner stands out of the fold noise; speed per host or worker, threads and sessions in the
timing section."""

from __future__ import annotations

import statistics

import pytest

from bench.report import sections as report_sections
from bench.report.build import build_report, load_groups
from bench.report.render import render_html
from bench.results import Session, Stage


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
    # In the table the column headings give the units: % for accuracies; fit times carry theirs.
    assert section["rows"][1]["mean"].text == "80.00 ± 1.00" and section["rows"][1]["folds"] == "80.00 / 80.00"
    assert section["rows"][1]["fit"] == "1.25\u00a0s" and section["wall"] == "3.0\u00a0s"
    assert section["best_score"] == "80.00\u00a0%"
    assert section["best"] == "epochs = 2" and section["chart"] is not None


def test_a_two_parameter_stage_gets_a_dot_per_candidate_and_three_get_none(monkeypatch):
    grid = {"learning_rate": [0.001, 0.01], "dropout": [0.0, 0.2]}
    params = [{"learning_rate": lr, "dropout": d} for lr in grid["learning_rate"] for d in grid["dropout"]]
    two = stage(grid, params, [0.70, 0.72, 0.74, 0.71])
    assert report_sections.stage_chart(two, list(grid)).width > 0
    drawn = {}
    monkeypatch.setattr(report_sections.figures, "candidates_chart",
                        lambda names, candidates, means, stds, **kwargs: drawn.update(candidates=candidates, **kwargs))
    report_sections.stage_chart(two, list(grid), ylim=(60.0, 80.0))
    assert drawn == {"candidates": [["0.001", "0"], ["0.001", "0.2"], ["0.01", "0"], ["0.01", "0.2"]],
                     "winner": 2, "ylim": (60.0, 80.0)}  # labelled by both values; the winner by best_params
    monkeypatch.undo()
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
                        lambda name, values, means, stds, **kwargs: drawn.update(values=values, means=means, **kwargs))
    report_sections.stage_chart(halving, ["optimizer"])
    assert drawn == {"values": ["adam", "sgd", "nadam"], "means": [0.80, 0.60, 0.65],  # adam: its last round
                     "winner": 0, "ylim": None}


def plain(text: str) -> str:
    return text.replace("\u00a0", " ")


# tiny-a, seed 0's search: 3 folds, so the noise is 2 * sqrt((s1² + s2²) / 2) with scikit-learn's fold stds.
TINY_A_VERDICTS = [
    "Stage 1: winner 73.92 % ± 0.82 points (epochs = 2) vs runner-up 70.38 % ± 1.60 points (epochs = 1): "
    "clear winner (lead 3.54 points, noise ± 2.55 points).",
    "Stage 2: winner 73.92 % ± 0.82 points (batch_size = 32) vs runner-up 73.50 % ± 1.16 points (batch_size = 64): "
    "within fold noise (lead 0.42 points, noise ± 2.01 points).",
    "Stage 3: winner 76.00 % ± 1.04 points (learning_rate = 0.003) vs runner-up 73.92 % ± 0.82 points "
    "(learning_rate = 0.001): clear winner (lead 2.08 points, noise ± 1.87 points).",
    "Stage 4: winner 76.33 % ± 0.60 points (activation = tanh) vs runner-up 76.00 % ± 1.04 points "
    "(activation = relu): within fold noise (lead 0.33 points, noise ± 1.69 points).",
    "Stage 5: winner 76.42 % ± 1.74 points (neurons1 = 64) vs runner-up 76.33 % ± 0.60 points (neurons1 = 128): "
    "within fold noise (lead 0.08 points, noise ± 2.60 points).",
    "Stage 6: winner 76.42 % ± 1.74 points (optimizer = adam) vs runner-up 71.75 % ± 3.97 points "
    "(optimizer = rmsprop): within fold noise (lead 4.67 points, noise ± 6.13 points)."]


def tiny_a_stages(smoke_study) -> list[Stage]:
    (study,), _, _ = load_groups([smoke_study], strict=True)
    return study.manifest.tuning[0].stages


def test_each_tiny_a_stage_says_whether_its_winner_is_within_fold_noise(smoke_study):
    verdicts = [report_sections.stage_verdict(s) for s in tiny_a_stages(smoke_study)]
    assert [plain(v) for v in verdicts] == TINY_A_VERDICTS
    assert "±\u00a00.60\u00a0points" in verdicts[3]  # a number never wraps away from its unit


@pytest.mark.parametrize(("runner_up", "judged"),
                         [(0.77, "clear winner (lead 3.00 points, noise ± 2.83 points)"),
                          (0.775, "within fold noise (lead 2.50 points, noise ± 2.83 points)")])
def test_a_winner_is_clear_only_when_its_lead_exceeds_twice_the_standard_error(runner_up, judged):
    # Two folds, fold std 1 point each: noise = 2 * sqrt((1² + 1²) / (2 - 1)) = 2.83 points.
    two = stage({"epochs": [1, 2]}, [{"epochs": 1}, {"epochs": 2}], [runner_up, 0.80])
    assert plain(report_sections.stage_verdict(two)).endswith(f": {judged}.")


def test_a_stage_with_one_candidate_had_nothing_to_choose():
    one = stage({"optimizer": ["adam"]}, [{"optimizer": "adam"}], [0.8])
    assert report_sections.stage_verdict(one) == "Stage 1: one candidate (optimizer = adam), so nothing to choose."


def test_a_halving_stage_is_judged_in_its_last_round_with_two_candidates():
    # The last round scored adam alone on more images; its scores do not compare with the first round's.
    params = [{"optimizer": "adam"}, {"optimizer": "sgd"}, {"optimizer": "nadam"}, {"optimizer": "adam"}]
    halving = stage({"optimizer": ["adam", "sgd", "nadam"]}, params, [0.70, 0.60, 0.65, 0.80],
                    iter=[0, 0, 0, 1], n_resources=[500, 500, 500, 1500])
    assert plain(report_sections.stage_verdict(halving)) == (
        "Stage 1 (successive halving, round 1 of 2, on 500 training images): winner 70.00 % ± 1.00 points "
        "(optimizer = adam) vs runner-up 65.00 % ± 1.00 points (optimizer = nadam): clear winner "
        "(lead 5.00 points, noise ± 2.83 points).")


def test_the_stage_charts_of_one_search_share_one_accuracy_scale(smoke_study, monkeypatch):
    limits, draw = [], report_sections.figures.figure_picture
    monkeypatch.setattr(report_sections.figures, "figure_picture",
                        lambda fig: limits.append(fig.axes[0].get_ylim()) or draw(fig))
    sections = report_sections.stage_sections(tiny_a_stages(smoke_study))
    assert len(limits) == len(sections) == 6 and len(set(limits)) == 1
    low, high = limits[0]
    # Every stage's mean ± 1 std fits: rmsprop (71.75 ± 3.97 %) and the 64-unit layer (76.42 ± 1.74 %) set it.
    assert low < 71.75 - 3.97 and 76.42 + 1.74 < high < 80
    assert [plain(s["verdict"]) for s in sections] == TINY_A_VERDICTS


def test_the_grid_search_section_prints_every_stage_sentence_and_the_fold_caveat_once(smoke_study):
    html = plain(render_html(build_report([smoke_study])))
    for verdict in TINY_A_VERDICTS:
        assert f'<p class="verdict">{verdict}</p>' in html
    assert html.count("this is a rough guide") == 1
    assert "compared with 2 standard errors of the difference" in html
    assert "The folds share most of their training data" in html


@pytest.mark.parametrize(("value", "text"), [(None, "—"), (0.001, "0.001"), (1e-4, "0.0001"), ([64, 32], "[64, 32]"),
                                             ("relu", "relu"), (True, "True")])
def test_free_values_read_as_short_text(value, text):
    assert report_sections.text_of(value) == text


def test_metric_text_has_units():
    assert report_sections.metric_text("test_accuracy", 0.8523) == "85.23\u00a0%"  # unit never wraps away
    assert report_sections.metric_text("test_accuracy", 0.0031, spread=True) == "0.31\u00a0points"
    assert report_sections.metric_text("gap_train_test", 0.034) == "+3.40\u00a0points"
    assert report_sections.metric_text("fit_s", 12.345) == "12.35\u00a0s"
    assert report_sections.metric_text("fit_s", 150) == "2.5\u00a0min"
    assert report_sections.metric_text("images_per_s", 30787.1) == "30,787\u00a0images/s"
    assert report_sections.metric_text("test_loss", 0.45678) == "0.4568"


def spread_groups(study, place):
    """The committed study's groups, each run's host and worker set by ``place(run)``: (host, worker)."""
    _, groups, _ = load_groups([study], strict=True)
    for run in (r for g in groups for r in g.runs):
        run.host, run.worker = place(run)
    return groups


def expected_speeds(runs) -> list[str]:
    """Per epoch and fit as the report should show them, plain means over seeds of each run's steady state
    (its epochs after the first) and fit; inference speed the median of every timed pass, pooled."""
    means = [report_sections.metric_text(name, statistics.mean(value(r) for r in runs)) for name, value in
             (("epoch_s", lambda r: statistics.mean(r.history.epoch_seconds[1:])),
              ("fit_s", lambda r: r.timings.fit_s))]
    passes = [r.data.n_test / s for r in runs for s in r.timings.inference_repeats_s]
    return [*means, report_sections.metric_text("images_per_s", statistics.median(passes))]


def test_runs_on_two_hosts_get_a_row_per_model_and_host_with_their_means(smoke_study):
    groups = spread_groups(smoke_study, lambda r: ("alpha" if r.seed == 0 else "beta", "tcp://10.0.0.1:4000"))
    (table,) = report_sections.speed_by_place(groups)
    assert table["by"] == "host" and table["study"] == groups[0].study
    assert [(r["label"], r["place"], r["n"]) for r in table["rows"]] == [
        ("baseline", "alpha", 1), ("baseline", "beta", 2), ("tuned", "alpha", 1), ("tuned", "beta", 2)]
    baseline = groups[0].runs
    assert table["rows"][0]["cells"] == expected_speeds(baseline[:1])
    assert table["rows"][1]["cells"] == expected_speeds(baseline[1:])


def test_two_workers_on_one_host_get_a_row_per_worker(smoke_study):
    groups = spread_groups(smoke_study, lambda r: ("vm", f"tcp://127.0.0.1:{40431 + r.seed % 2}"))
    (table,) = report_sections.speed_by_place(groups)
    assert table["by"] == "worker"
    assert [(r["place"], r["n"]) for r in table["rows"] if r["label"] == "tuned"] == [
        ("tcp://127.0.0.1:40431", 2), ("tcp://127.0.0.1:40432", 1)]
    tuned = groups[1].runs
    assert table["rows"][2]["cells"] == expected_speeds([tuned[0], tuned[2]])


@pytest.mark.parametrize("place", [lambda r: ("vm", "in-process"),
                                   lambda r: ("vm", None if r.seed else "in-process"),  # migrated: not a place
                                   lambda r: (None, None)])
def test_runs_in_one_place_get_no_speed_per_place(smoke_study, place):
    groups = spread_groups(smoke_study, place)
    assert report_sections.speed_by_place(groups) == []
    assert report_sections.timing(groups, [groups[0].manifest])["places"] == []


def test_threads_and_sessions_show_only_what_a_study_recorded(smoke_study):
    groups = spread_groups(smoke_study, lambda r: ("vm", "in-process"))
    manifest = groups[0].manifest
    (study,) = report_sections.timing(groups, [manifest])["studies"]
    assert study["threads"] == "TensorFlow's default"
    assert report_sections.sessions([manifest]) == []  # one session: the wall time says it all
    first = manifest.sessions[0]
    resumed = Session(executor="local cluster of 2 workers", started="2026-12-01T09:30:05+00:00",
                      finished="2026-12-01T09:32:10+00:00", wall_s=125.0, units_run=4, units_skipped=8)
    manifest = manifest.model_copy(update={"threads_per_run": 2, "sessions": [first, resumed]})
    timing = report_sections.timing(groups, [manifest])
    assert timing["studies"][0]["threads"] == "2"
    assert timing["sessions"][1] == {"study": manifest.study, "started": "2026-12-01 09:30",
                                     "executor": "local cluster of 2 workers", "wall": "2.1\u00a0min", "run": 4,
                                     "skipped": 8}
    assert [s["executor"] for s in timing["sessions"]] == ["in-process", "local cluster of 2 workers"]


def test_the_dataset_section_says_whether_the_data_is_the_official_fashion_mnist(smoke_study):
    from bench.data import OFFICIAL_SHA256
    from bench.report.sections import official

    assert official(dict(OFFICIAL_SHA256)) == "yes: all four files match the published SHA-256"
    changed = {**OFFICIAL_SHA256, "t10k-labels-idx1-ubyte.gz": "0" * 64}
    assert official(changed).startswith("NO: t10k-labels-idx1-ubyte.gz differ")
    assert official({}).startswith("not known")
