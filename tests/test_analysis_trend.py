"""bench.analysis.trend: series per machine, stack and settings; points, bands and speed per commit; detected
changes named by short commits; the latest commit against its window; the by-machine table. Built from the
committed real studies at fake commits and from synthetic entries (tests/trendhistory.py). Fast tier."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trendhistory
from scipy import stats as scipy_stats
from trendhistory import on_machine, real_entry, sha, synthetic

from bench.analysis.trend import (
    Spread,
    build_trend,
    format_by_machine,
    latest_vs_window,
    short,
)


@pytest.fixture(scope="module")
def real_step():
    """tiny-a at commits 0-5, then the same study with every accuracy 8 points lower at commits 6-11."""
    return trendhistory.real_step()


@pytest.fixture(scope="module")
def base():
    return real_entry("tiny-a", 0)


def test_points_hold_each_seed_their_mean_band_and_speed(real_step):
    trend = build_trend(real_step)
    assert [m.model for m in trend.models] == ["baseline", "tuned"]
    baseline = trend.models[0]
    assert baseline.commits == [sha(i) for i in range(12)] and len(baseline.series) == 1
    first = baseline.series[0].points[0]
    assert (first.x, first.commit, first.short, first.seeds) == (0, sha(0), sha(0)[:7], (0, 1, 2))
    assert first.accuracies == (0.762, 0.731, 0.770)  # the run files' test accuracies
    assert first.mean == pytest.approx((0.762 + 0.731 + 0.770) / 3) and (first.low, first.high) == (0.731, 0.770)
    runs = [r for r in real_step[0].runs if r.model == "baseline"]
    assert first.epoch_s == Spread(math.fsum(r.epoch_s for r in runs) / 3, min(r.epoch_s for r in runs),
                                   max(r.epoch_s for r in runs), 3)
    assert first.images_per_s.n == 3 and first.images_per_s.low == min(r.images_per_s for r in runs)
    assert baseline.series[0].points[6].accuracies == (0.682, 0.651, 0.690)


def test_the_step_is_found_at_its_commit_and_nowhere_else(real_step):
    trend = build_trend(real_step)
    for model in trend.models:
        (series,) = model.series
        assert [(m.change.before, m.change.after) for m in series.markers] == [(short(sha(5)), short(sha(6)))]
        marker = series.markers[0]
        assert marker.x == 5.5 and marker.change.size == pytest.approx(-8.0, abs=0.01)
        assert marker.label.startswith(f"between {short(sha(5))} and {short(sha(6))}: -8.00 points")


def test_a_settings_change_starts_a_new_series_and_says_so(real_step):
    """tiny-b trains the baseline 3 epochs, not 2: the baseline's settings differ, the tuned model's do not."""
    entries = [real_entry("tiny-a", i) for i in range(4)] + [real_entry("tiny-b", 4)]
    trend = build_trend(entries)
    baseline, tuned = trend.models
    assert [len(s.points) for s in baseline.series] == [4, 1]
    assert baseline.series[0].key.config_digest != baseline.series[1].key.config_digest
    assert baseline.series[1].note.startswith(f"settings changed at {short(sha(4))}: a new series starts there")
    assert "settings" in baseline.series[0].label and baseline.series[0].note == ""
    assert [len(s.points) for s in tuned.series] == [5] and "settings" not in tuned.series[0].label


def test_series_split_by_machine(base):
    a = synthetic(base, 30, step_at=15, seed=1)
    b = synthetic(on_machine(base, "AMD EPYC 9654"), 30, seed=2, salt="b", level=0.79)
    trend = build_trend(sorted(a + b, key=lambda e: (e.when, e.machine_id)))
    baseline = trend.models[0]
    assert len(baseline.commits) == 30  # both machines ran the same commits: one axis
    by_id = {s.key.machine_id: s for s in baseline.series}
    assert set(by_id) == {a[0].machine_id, b[0].machine_id} and all(len(s.points) == 30 for s in by_id.values())
    assert [m.change.after for m in by_id[a[0].machine_id].markers] == [short(sha(15))]
    assert by_id[b[0].machine_id].markers == []
    assert by_id[b[0].machine_id].points[3].accuracies == tuple(
        r.test_accuracy for r in b[3].runs if r.model == "baseline")


def test_by_machine_holds_the_latest_entry_of_each_machine_and_stack(base):
    a = synthetic(base, 5, seed=1)
    b = synthetic(on_machine(base, "AMD EPYC 9654"), 3, seed=2, salt="b")
    rows = build_trend(sorted(a + b, key=lambda e: e.when)).by_machine
    assert [(r.model, r.machine_id, r.commit) for r in rows] == [
        ("baseline", a[0].machine_id, short(sha(4))), ("baseline", b[0].machine_id, short(sha(2))),
        ("tuned", a[0].machine_id, short(sha(4))), ("tuned", b[0].machine_id, short(sha(2)))]
    accuracies = [r.test_accuracy for r in a[4].runs if r.model == "baseline"]
    summary = scipy_stats.t.interval(0.95, 2, loc=np.mean(accuracies), scale=scipy_stats.sem(accuracies))
    assert rows[0].mean == pytest.approx(np.mean(accuracies)) and rows[0].ci == pytest.approx(summary)
    assert rows[0].seeds == 3 and rows[0].epoch_s.n == 3
    # the committed study's own machine (whichever wrote it), then the one made up here
    assert "AMD EPYC 9654" not in rows[0].machine and rows[1].machine.startswith("AMD EPYC 9654")
    text = format_by_machine(rows)
    assert text.splitlines()[0].split()[:3] == ["model", "machine", "stack"]
    assert f"baseline  {a[0].machine_id}" in text and "AMD EPYC 9654" in text


def test_latest_against_the_window_matches_a_pooled_t_test(base):
    entries = synthetic(base, 14, seed=3)
    series = build_trend(entries, ["baseline"], window=10).models[0].series[0]
    latest = series.latest
    old = [r.test_accuracy for e in entries[3:13] for r in e.runs if r.model == "baseline"]
    new = [r.test_accuracy for r in entries[13].runs if r.model == "baseline"]
    assert (latest.commit, latest.window_first, latest.window_last) == (short(sha(13)), short(sha(3)), short(sha(12)))
    assert (latest.window_commits, latest.window_seeds, latest.seeds) == (10, 30, 3) and latest.cut_at is None
    assert latest.mean == pytest.approx(np.mean(new)) and latest.window_mean == pytest.approx(np.mean(old))
    assert latest.difference == pytest.approx(np.mean(new) - np.mean(old))
    expected = scipy_stats.ttest_ind(new, old, equal_var=True)
    assert latest.p_value == pytest.approx(expected.pvalue)
    half = scipy_stats.t.ppf(0.975, 31) * (np.mean(new) - np.mean(old)) / expected.statistic
    assert latest.difference_ci == pytest.approx((latest.difference - half, latest.difference + half))
    assert latest.window_ci == pytest.approx(scipy_stats.t.interval(0.95, 29, np.mean(old), scipy_stats.sem(old)))


def test_the_window_stops_at_a_change(base):
    entries = synthetic(base, 30, step_at=25, seed=4)
    series = build_trend(entries, ["baseline"]).models[0].series[0]
    latest = series.latest
    assert [m.change.after for m in series.markers] == [short(sha(25))]
    assert (latest.window_first, latest.window_last, latest.window_commits) == (short(sha(25)), short(sha(28)), 4)
    assert latest.cut_at.after == short(sha(25)) and abs(latest.difference) < 0.01


def test_one_commit_has_no_window(base):
    assert latest_vs_window([], []) is None
    (series,) = build_trend(synthetic(base, 1), ["baseline"]).models[0].series
    assert series.latest is None and series.markers == []


def test_two_entries_of_one_commit_pool_their_seeds(base):
    (one,) = synthetic(base, 1, seed=5)
    other = one.model_copy(update={"study": "again", "study_digest": "f" * 64,
                                   "runs": [r.model_copy(update={"seed": r.seed + 3}) for r in one.runs]})
    series = build_trend([one, other], ["baseline"]).models[0].series[0]
    (point,) = series.points
    assert point.seeds == (0, 1, 2, 3, 4, 5) and point.studies == (one.study, "again")


def test_model_filter_and_order(real_step):
    assert [m.model for m in build_trend(real_step, ["tuned"]).models] == ["tuned"]
    assert build_trend(real_step, ["nonesuch"]).entries == []
    assert [r.model for r in build_trend(real_step, ["tuned"]).by_machine] == ["tuned"]


def test_a_figure_nobody_measured_is_none():
    assert Spread.of([None, None]) is None
    assert Spread.of([1.0, None, 3.0]) == Spread(2.0, 1.0, 3.0, 2)
