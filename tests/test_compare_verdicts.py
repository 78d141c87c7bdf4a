"""compare's verdicts on the committed real studies (tiny-a, tiny-b): Holm over the table, McNemar apart, and
the paragraph that says what differs (``bench.analysis.compare_verdict``)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bench.analysis.compare import compare, environment_diff
from bench.analysis.compare_verdict import verdict
from bench.analysis.significance import holm, ratio_of_geometric_means
from bench.analysis.stats import metric_values
from bench.report.compare import render_html
from bench.results import load_study


def test_p_values_are_holm_adjusted_over_every_model_and_study(smoke_study, other_study):
    """Issue 9, point 4: two models x two studies against A, Welch and paired: one family of eight."""
    a, b = load_study(smoke_study), load_study(other_study)
    comparison = compare([a, b, b])
    tests = [d for v in comparison.versus for d in v.tests]
    assert comparison.family == len(tests) == 8
    assert [d.p_adjusted for d in tests] == pytest.approx(holm([d.p_value for d in tests]))
    assert all(v.advice.alpha == pytest.approx(0.05 / 8) for v in comparison.versus)


def test_a_study_level_verdict_never_rests_on_mcnemar(smoke_study, other_study):
    """Point 3: a seed whose two trained models differ (McNemar, exact p = 0.001) does not make the studies
    differ; the verdict is Welch's and the paired t's, over seeds."""
    versus = next(v for v in compare([load_study(smoke_study), load_study(other_study)]).versus
                  if v.model == "baseline")
    assert min(t.p_value for t in versus.trained_pairs) < 0.01
    assert not versus.significant and all(d.p_adjusted > 0.05 for d in versus.tests)
    html = render_html(compare([load_study(smoke_study), load_study(other_study)]))
    assert "Holm-adjusted over the 4 study-level tests" in html and "mid-p" not in html


def expected_speed(name: str, a: list[float], b: list[float], above: str, below: str) -> str:
    """The verdict's words for one speed, computed here without compare: the ratio of geometric means, and
    a 95 % t-interval on the logs with Welch's standard error and min(n) - 1 degrees of freedom."""
    log_a, log_b = np.log(a), np.log(b)
    difference = log_b.mean() - log_a.mean()
    se = math.sqrt(log_a.var(ddof=1) / len(a) + log_b.var(ddof=1) / len(b))
    half = float(scipy_stats.t.ppf(0.975, min(len(a), len(b)) - 1)) * se
    low, high = math.exp(difference - half), math.exp(difference + half)
    word = "no measurable difference" if low <= 1 <= high else (above if difference > 0 else below) + " in B"
    return f"{name} × {math.exp(difference):.2f} (95 % CI × {low:.2f} to × {high:.2f}): {word}"


def test_the_verdict_of_tiny_b_against_tiny_a(smoke_study, other_study):
    """Issue 18, point 5: one paragraph says what differs. tiny-b trains the baseline 3 epochs instead of 2:
    its accuracy moves +1.77 points, within seed noise; that setting is named as what is not like for like."""
    a, b = load_study(smoke_study), load_study(other_study)
    speeds = {model: "; ".join(
        expected_speed(name, metric_values(a.ok_runs(model), metric), metric_values(b.ok_runs(model), metric), *words)
        for metric, name, words in (("epoch_s", "seconds per epoch", ("slower", "faster")),
                                    ("images_per_s", "images per second", ("faster", "slower"))))
              for model in ("baseline", "tuned")}
    assert "in B" not in "".join(speeds.values())  # timings of one machine, 3 seeds: nothing measurable
    assert verdict(compare([a, b])) == (
        "B (tiny-b) against A (tiny-a): no model's accuracy differs beyond seed noise; no speed difference is "
        "measurable. "
        "baseline: accuracy +1.77 points (95 % CI -3.28 points to +6.82 points), within seed noise (Welch p 1.000, "
        f"paired p 1.000, Holm-adjusted); {speeds['baseline']}. "
        "tuned: accuracy +0.00 points (95 % CI -8.51 points to +8.51 points), within seed noise (Welch p 1.000, "
        "paired p 1.000, Holm-adjusted; paired: no spread over seeds: the difference is exact); "
        f"{speeds['tuned']}. "
        "Not like for like: B (tiny-b) differs from A in its settings: baseline.params.epochs (2 in A, 3 in B); "
        "a difference above may come from these.")


def test_the_verdict_of_a_study_against_itself_is_like_for_like(smoke_study):
    study = load_study(smoke_study)
    text = verdict(compare([study, study, study]))
    assert text.startswith("B (tiny-a) against A (tiny-a): no model's accuracy differs beyond seed noise; "
                           "no speed difference is measurable. baseline: accuracy +0.00 points")
    assert "C (tiny-a) against A (tiny-a): " in text and "seconds per epoch × 1.00 (95 % CI × " in text
    assert text.count("Like for like as far as fmbench records: the same profile, settings, data, test set and "
                      "environment.") == 2 and "in B" not in text and "in C" not in text


def test_the_verdict_names_a_measured_slowdown_and_what_differs(smoke_study, other_study):
    """Every timing of B twice A's with little spread (seconds per epoch x 2, images per second / 2), on
    another CPU: both speeds are called, each in its own direction, and the environment field is named;
    one seed a side is never called."""
    a, b = load_study(smoke_study), load_study(other_study)
    comparison = compare([a, b])
    epoch = ratio_of_geometric_means([0.30, 0.31, 0.29], [0.61, 0.59, 0.60])
    images = ratio_of_geometric_means([20_000, 19_500, 20_500], [10_100, 9_900, 10_000])
    other = b.manifest.environment.model_copy(update={"cpu_model": "Intel Xeon <Gold>"})
    slow = replace(comparison, environment=environment_diff([a.manifest.environment, other]), protocol=[],
                   versus=[replace(v, epoch_s_ratio=epoch, images_per_s_ratio=images) for v in comparison.versus])
    text = verdict(slow)
    assert text.startswith("B (tiny-b) against A (tiny-a): no model's accuracy differs beyond seed noise; speed "
                           "differs measurably for baseline and tuned. baseline: accuracy +1.77 points")
    assert (f"; seconds per epoch × 2.00 (95 % CI × {epoch.ci_low:.2f} to × {epoch.ci_high:.2f}): slower in B; "
            f"images per second × 0.50 (95 % CI × {images.ci_low:.2f} to × {images.ci_high:.2f}): slower in B.") in text
    assert text.count(": slower in B") == 4 and "faster" not in text and "no measurable" not in text
    assert text.endswith("Not like for like: B (tiny-b) differs from A in its environment: cpu_model "
                         f"({a.manifest.environment.cpu_model} in A, Intel Xeon <Gold> in B); "
                         "a difference above may come from these.")
    one_seed = replace(slow, versus=[replace(v, epoch_s_ratio=ratio_of_geometric_means([0.3], [0.6]),
                                             images_per_s_ratio=None) for v in slow.versus])
    assert verdict(one_seed).count("seconds per epoch × 2.00: no measurable difference (an interval needs 2 seeds "
                                   "in each study).") == 2
    assert "images per second" not in verdict(one_seed)  # no ratio (a side without the value): no words
