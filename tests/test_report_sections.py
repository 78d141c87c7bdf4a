"""Report sections built from records: grid-search stages (exhaustive and halving) and their charts; speed
per host or worker, threads and sessions in the timing section."""

from __future__ import annotations

import statistics

import pytest

from bench.report import sections as report_sections
from bench.report.build import load_groups
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
    """Per epoch, fit and inference speed as the report should show them: plain means of the stored values."""
    return [report_sections.metric_text(name, statistics.mean(value(r) for r in runs)) for name, value in
            (("epoch_s", lambda r: r.timings.epoch_s_mean), ("fit_s", lambda r: r.timings.fit_s),
             ("images_per_s", lambda r: r.timings.images_per_s))]


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
