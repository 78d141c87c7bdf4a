"""compare's verdicts on the committed real studies (tiny-a, tiny-b): Holm over the table, McNemar apart."""

from __future__ import annotations

import pytest

from bench.analysis.compare import compare
from bench.analysis.significance import holm
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
