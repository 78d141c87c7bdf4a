"""Comparisons of real studies: data shape, HTML and PDF, self-comparison, the verdict, escaping, bad input."""

from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path

import pytest
from markupsafe import escape
from pypdf import PdfReader

from bench.analysis.compare import compare, environment_diff, load_studies
from bench.analysis.compare_verdict import verdict
from bench.format import unbreakable
from bench.report.render import render_pdf
from bench.results import load_study


def test_environment_diff_keeps_only_fields_that_differ(smoke_study):
    env = load_study(smoke_study).manifest.environment
    other = env.model_copy(update={"cpu_model": "Intel Xeon", "packages": {**env.packages, "keras": "3.0.0"}})
    rows = {row.field: row for row in environment_diff([env, other, env])}
    assert set(rows) == {"cpu_model", "packages.keras"}
    assert rows["cpu_model"].values == [env.cpu_model, "Intel Xeon", env.cpu_model]
    assert rows["packages.keras"].differs == [False, True, False]


def test_a_study_compared_with_itself_shows_no_difference(smoke_study):
    study = load_study(smoke_study)
    comparison = compare([study, study])
    assert comparison.environment == []
    assert [v.model for v in comparison.versus] == ["baseline", "tuned"]
    for versus in comparison.versus:
        assert versus.difference.difference == 0 and versus.difference.p_value == 1.0
        assert versus.paired.p_value == 1.0 and versus.paired.note == "no spread over seeds: the difference is exact"
        assert not versus.significant and versus.churn == 0.0
        seeds = len(study.ok_runs(versus.model))
        assert [(t.only_a, t.only_b, t.p_value) for t in versus.trained_pairs] == [(0, 0, 1.0)] * seeds
        assert versus.epoch_s_ratio.ratio == 1.0 and not versus.epoch_s_ratio.measurable
        assert versus.advice.seeds >= 2
    assert comparison.tuning_ratios == [1.0, 1.0]


@pytest.fixture
def elsewhere(other_study, tmp_path) -> Path:
    """The committed tiny-b study, marked as run on another machine and stack, under a hostile name."""
    out = tmp_path / "elsewhere"
    shutil.copytree(other_study, out)
    manifest = json.loads((out / "study.json").read_text())
    manifest["study"] = "tiny-b <b>elsewhere</b>"
    manifest["environment"]["cpu_model"] = "Intel Xeon <Gold>"
    manifest["environment"]["packages"]["keras"] = "3.0.0"
    (out / "study.json").write_text(json.dumps(manifest))
    for path in out.glob("*-seed*.json"):  # a run names its study, as the manifest does
        path.write_text(json.dumps({**json.loads(path.read_text()), "study": manifest["study"]}))
    return out


def test_two_real_studies_render_html_and_pdf(smoke_study, elsewhere, cli, tmp_path):
    out = tmp_path / "report"
    done = cli("compare", str(smoke_study), str(elsewhere), "--out", str(out))
    assert done.returncode == 0, done.stderr
    html = (out / "comparison.html").read_text()
    assert '<td class="wrap differs">Intel Xeon &lt;Gold&gt;</td>' in html
    assert '<td class="wrap differs">3.0.0</td>' in html and "packages.keras" in html
    assert "python</code>" not in html  # identical fields are left out
    assert "tiny-b &lt;b&gt;elsewhere&lt;/b&gt;" in html and "<b>elsewhere" not in html
    text = "".join(page.extract_text() for page in PdfReader(out / "comparison.pdf").pages)
    assert "Environment differences" in text and "Intel Xeon <Gold>" in text
    assert "Differences" in text and "baseline" in text and text.index("What differs") < text.index("Studies")


def test_the_verdict_is_printed_last_and_heads_the_page_escaped(smoke_study, elsewhere, cli, tmp_path):
    """Issue 18, point 5: the paragraph on stdout after where it wrote, and on the page above every table,
    with the study's hostile name and CPU escaped."""
    comparison = compare(load_studies([smoke_study, elsewhere]))
    out = tmp_path / "report"
    done = cli("compare", str(smoke_study), str(elsewhere), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"wrote {out / 'comparison.html'} and {out / 'comparison.pdf'}",
                                        verdict(comparison)]
    assert verdict(comparison).startswith("B (tiny-b <b>elsewhere</b>) against A (tiny-a): ")
    assert "its environment: cpu_model (" in verdict(comparison) and ", Intel Xeon <Gold> in B)" in verdict(comparison)
    html = (out / "comparison.html").read_text()
    paragraph = f'<h2>What differs</h2>\n<p class="verdict">{escape(verdict(comparison, glue=unbreakable))}</p>'
    assert html.count(paragraph) == 1 and html.index(paragraph) < html.index("<table")
    assert "B (tiny-b &lt;b&gt;elsewhere&lt;/b&gt;) against A" in paragraph
    assert "Intel Xeon &lt;Gold&gt; in B" in paragraph


def test_the_verdict_is_the_result_so_quiet_prints_it(smoke_study, other_study, cli, tmp_path):
    done = cli("--quiet", "compare", str(smoke_study), str(other_study), "--out", str(tmp_path / "quiet"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == verdict(compare(load_studies([smoke_study, other_study]))) + "\n"
    assert "Not like for like: B (tiny-b) differs from A in its settings: baseline.params.epochs" in done.stdout


def test_difference_and_p_value_of_two_real_studies(smoke_study, other_study):
    a, b = load_studies([smoke_study, other_study])
    versus = {v.model: v for v in compare([a, b]).versus}
    assert list(versus) == ["baseline", "tuned"]
    for model, row in versus.items():
        accuracy_a = [r.metrics.test.accuracy for r in a.ok_runs(model)]
        accuracy_b = [r.metrics.test.accuracy for r in b.ok_runs(model)]
        assert row.difference.difference == pytest.approx(sum(accuracy_b) / 3 - sum(accuracy_a) / 3)
        assert len(row.trained_pairs) == 3 and row.paired is not None  # seeds 0-2 on both sides
    # tiny-b changed only the baseline's epochs: the tuned runs are the same runs, image for image.
    assert versus["tuned"].churn == 0.0 and 0 < versus["baseline"].churn < 0.5


def test_self_comparison_report_reads_zero_and_p_one(smoke_study, cli, tmp_path):
    out = tmp_path / "self"
    done = cli("compare", str(smoke_study), str(smoke_study), "--out", str(out))
    assert done.returncode == 0, done.stderr
    html = (out / "comparison.html").read_text()
    assert "The environments are identical in every recorded field" in html
    seeds = len(load_study(smoke_study).ok_runs("baseline"))
    assert html.count("+0.00\u00a0points<br>") == 4 and html.count(" / 0 of ") == 2 * seeds  # Welch and paired; McNemar
    assert html.count(">0.00\u00a0%<br>") == 2  # churn


def test_comparison_html_has_the_reports_content_security_policy(smoke_study, other_study):
    """comparison.html, like report.html, may run no script and load nothing but data: images."""
    from bench.report.compare import render_html

    policy = ('<meta http-equiv="Content-Security-Policy" '
              "content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">")
    report_template = Path(__file__).resolve().parent.parent / "templates" / "layout.html"  # report's, trend's
    assert policy in report_template.read_text()
    html = render_html(compare(load_studies([smoke_study, other_study])))
    assert html.count(policy) == 1 and html.index(policy) < html.index("<title>")


def _png_data_uri() -> str:
    from matplotlib.figure import Figure

    buffer = io.BytesIO()
    Figure(figsize=(1, 1)).savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def test_pdf_renderer_fetches_data_uris_only(tmp_path):
    uri = _png_data_uri()
    on_disk = tmp_path / "figure.png"
    on_disk.write_bytes(base64.b64decode(uri.split(",", 1)[1]))
    inline = PdfReader(io.BytesIO(render_pdf(f'<img src="{uri}">')))
    local = PdfReader(io.BytesIO(render_pdf(f'<img src="file://{on_disk}"><img src="http://127.0.0.1:9/x.png">')))
    assert len(inline.pages[0].images) == 1
    assert len(local.pages[0].images) == 0


def test_compare_bad_inputs_exit_2(smoke_study, cli, tmp_path):
    done = cli("compare", str(smoke_study))
    assert done.returncode == 2 and "compare needs at least two results folders" in done.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    done = cli("compare", str(smoke_study), str(empty))
    assert done.returncode == 2
    assert done.stderr.strip() == (f"fmbench compare: error: no study.json in {empty}; "
                                   "pass a folder written by 'fmbench run'")
    failed = tmp_path / "failed"
    shutil.copytree(smoke_study, failed)
    for path in failed.glob("*-seed*.json"):
        path.write_text(json.dumps({**json.loads(path.read_text()), "status": "failed", "error": "boom"}))
    done = cli("compare", str(smoke_study), str(failed))
    assert done.returncode == 2 and f"{failed}: no successful run to compare" in done.stderr


def test_the_comparison_pdf_splits_no_row_and_leaves_no_page_nearly_empty(smoke_study, other_study):
    """A compare table row once split across two PDF pages (issue 18); checked on WeasyPrint's own layout."""
    import pagelayout

    from bench.report.compare import render_html

    document = pagelayout.layout(render_html(compare(load_studies([smoke_study, other_study]))))
    assert pagelayout.split_rows(document) == []
    assert pagelayout.near_empty_pages(document) == []
    assert len(document.pages) <= 4, len(document.pages)  # 3 pages when written
