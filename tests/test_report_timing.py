"""Speed in the report (issue 18): the steady-state epoch apart from the first, which compiles; inference
as the median and range of every timed pass; headline speeds as the median over seeds with their range,
never a t-interval; and files from before repeated passes shown as one timing.

Timings are set on the committed study's runs in memory, so the expected texts follow from the values
below and not from the machine that wrote the study.
"""

from __future__ import annotations

import json
import shutil

import pytest

from bench.report import build
from bench.report import sections as report_sections
from bench.report.build import load_groups

# Per seed: epoch seconds and timed inference passes (the committed studies have 1,000 test images).
EPOCHS = {0: [0.9, 0.2, 0.3], 1: [1.1, 0.2, 0.2], 2: [0.7, 0.3, 0.3]}
PASSES = {0: [0.05, 0.05, 0.5, 0.05, 0.05], 1: [0.04] * 5, 2: [0.1, 0.05, 0.05, 0.05, 0.05]}


def plain(text: str) -> str:
    return text.replace("\u00a0", " ")


def timed(run, epochs: list[float] | None, passes: list[float]) -> None:
    """Give ``run`` these epoch seconds (None: no epochs, as an estimator) and inference passes, its stored
    inference time and speed their median as the harness writes them."""
    run.history = None if epochs is None else run.history.model_copy(update={"epoch_seconds": epochs})
    median = sorted(passes)[len(passes) // 2]
    run.timings = run.timings.model_copy(update={"inference_repeats_s": passes, "inference_s": median,
                                                 "images_per_s": run.data.n_test / median})


@pytest.fixture
def groups(smoke_study):
    """tiny-a's baseline with EPOCHS and PASSES; its tuned model as a one-epoch model timed 5 times."""
    _, found, _ = load_groups([smoke_study], strict=True)
    baseline, tuned = found
    for run in baseline.runs:
        timed(run, EPOCHS[run.seed], PASSES[run.seed])
    for run in tuned.runs:
        timed(run, [0.8], [0.1] * 5)
    return found


def test_the_timing_table_shows_steady_and_first_epochs_apart_and_the_median_and_range_of_every_pass(groups):
    models = report_sections.timing(groups, [groups[0].manifest])["models"]
    baseline, tuned = ([plain(c) for c in m["cells"]] for m in models)
    fit = report_sections.metric_text("fit_s", sum(r.timings.fit_s for r in groups[0].runs) / 3)
    # Steady: the means of 0.25, 0.2 and 0.3 s; first: of 0.9, 1.1 and 0.7 s. Passes: 15 pooled, the 8th of
    # 2,000 (one slow pass), 10,000, 20,000 x 8 and 25,000 x 5 images/s.
    assert baseline == ["0.25 s", "0.90 s", plain(fit), "20,000 images/s", "2,000 images/s to 25,000 images/s",
                        "5 per seed"]
    assert tuned[:2] == ["—", "0.80 s"]  # one epoch: no steady state
    assert tuned[3:] == ["10,000 images/s", "10,000 images/s to 10,000 images/s", "5 per seed"]


def test_a_model_without_epochs_has_no_epoch_times_in_the_timing_table(groups):
    for run in groups[1].runs:
        timed(run, None, [0.1, 0.2, 0.3])
    tuned = report_sections.timing(groups, [groups[0].manifest])["models"][1]["cells"]
    assert tuned[:2] == ["—", "—"] and plain(tuned[3]) == "5,000 images/s" and tuned[5] == "3 per seed"


def test_headline_speeds_are_the_median_over_seeds_with_their_range_not_an_interval(groups):
    rows = {row["metric"]: row for row in build.headline(groups)}
    epoch, speed = rows["epoch_s"]["cells"], rows["images_per_s"]["cells"]
    # Per seed: steady epochs of 0.25, 0.2 and 0.3 s; median passes of 20,000, 25,000 and 20,000 images/s.
    assert (epoch[0]["value"], plain(epoch[0]["text"]), plain(epoch[0]["ci"])) == (
        0.25, "0.25 s", "range 0.20 s to 0.30 s")
    assert (speed[0]["value"], plain(speed[0]["text"]), plain(speed[0]["ci"])) == (
        20_000, "20,000 images/s", "range 20,000 images/s to 25,000 images/s")
    assert epoch[1] == {"model": "tuned", "value": None, "text": "not measured", "ci": "", "n": 0}
    assert "CI" not in speed[1]["ci"] and speed[1]["n"] == 3
    assert rows["fit_s"]["cells"][0]["ci"].startswith("range ")  # a fit time is a speed too
    assert "95 % CI" in rows["test_accuracy"]["cells"][0]["ci"]  # other rows keep their t-interval
    assert rows["epoch_s"]["title"] == "Time per epoch, steady state (median over seeds)"


def test_a_speed_of_one_seed_has_no_range():
    assert build.speed_cell("images_per_s", [12_345.0]) == {"value": 12_345.0, "text": "12,345\u00a0images/s",
                                                           "ci": "one seed: no range", "n": 1}


def test_runs_from_before_repeated_passes_show_one_timing_not_a_repeated_measurement(smoke_study, tmp_path):
    folder = shutil.copytree(smoke_study, tmp_path / "study")
    for path in folder.glob("*-seed*.json"):  # as schema 3 wrote them, whatever the committed version is
        run = json.loads(path.read_text())
        run["schema_version"] = 3
        run["timings"].pop("inference_repeats_s", None)
        path.write_text(json.dumps(run))
    _, groups, problems = load_groups([folder], strict=True)
    assert problems == []
    baseline = report_sections.timing(groups, [groups[0].manifest])["models"][0]["cells"]
    speeds = sorted(r.timings.images_per_s for r in groups[0].runs)
    assert baseline[3] == report_sections.metric_text("images_per_s", speeds[1])
    assert baseline[5] == "one timing, not a repeated measurement"
