"""Numbers written one way (issue 16, point 1): ``bench.format``'s style for each kind, and every output (the
report, the comparison, the gate's terminal table, its Markdown and its JUnit) writing a value alike.

The outputs are made from the committed studies (tests/data/studies/) and the committed smoke reference;
expected texts are computed here from the stored JSON, not through ``bench.format``.
"""

from __future__ import annotations

import html
import json
import re
import statistics
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bench import format as fmt
from bench import progress
from bench.analysis import ci_output
from bench.analysis.compare import compare, load_studies
from bench.analysis.gate import build_checks, build_reference, read_reference, run_checks
from bench.report import compare as report_compare
from bench.report import render
from bench.report.build import build_report
from bench.results import load_study

COMMITTED_REFERENCE = Path(__file__).resolve().parent / "data" / "smoke-reference.json"
SPACE = "[ \u00a0]"  # a number and its unit: a space, non-breaking in HTML
NUMBER = r"(?<![\w.])[-+]?\d[\d,]*(?:\.(\d+))?"  # the decimals, if any, as group 1


class Text(HTMLParser):
    """A page's text as a reader sees it: no markup, no style sheet, entities resolved."""

    def __init__(self, page: str):
        super().__init__()
        self.parts: list[str] = []
        self._skip = False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self._skip = tag in ("style", "script")

    def handle_endtag(self, tag):
        self._skip = False

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)

    def __str__(self) -> str:
        return " ".join(self.parts)


@pytest.fixture(scope="module")
def outputs(smoke_study, other_study) -> dict[str, str]:
    """Every output kind, as text: the report and the comparison of tiny-a and tiny-b, and the gate's three
    outputs for tiny-b against a reference made from tiny-a (with --max-drop 0.001, so some checks fail and
    their sentences show) and for tiny-a against the committed smoke reference."""
    report_html = render.render_html(build_report([smoke_study]))
    comparison_html = report_compare.render_html(compare(load_studies([smoke_study, other_study])))
    gate = run_checks(build_checks(build_reference(load_study(smoke_study)), load_study(other_study),
                                   max_drop=0.001, per_class=True))
    gate += run_checks(build_checks(read_reference(COMMITTED_REFERENCE), load_study(smoke_study)))
    assert any(not o.passed for o in gate) and any(o.passed for o in gate)
    return {"report": str(Text(report_html)), "comparison": str(Text(comparison_html)),
            "terminal": ci_output.terminal_table(gate),
            "markdown": ci_output.markdown_summary(gate, str(other_study), "reference.json"),
            "junit": html.unescape(ci_output.junit_xml(gate, "tiny-b vs tiny-a"))}


def stored_accuracy(folder: Path, model: str) -> float:
    """Mean test accuracy of a model's runs, read as plain JSON."""
    manifest = json.loads((folder / "study.json").read_text())
    runs = [json.loads((folder / name).read_text()) for name in manifest["runs"]]
    return statistics.fmean(r["metrics"]["test"]["accuracy"] for r in runs if r["model"] == model)


# --- one style per kind -------------------------------------------------------------------------------

def test_each_kind_has_one_style():
    assert fmt.percent(0.87523) == "87.52 %" and fmt.percent(0.123, digits=0) == "12 %"
    assert fmt.percent(0.87523, unit=False) == "87.52" and fmt.percent(None) == fmt.MISSING == "—"
    assert (fmt.points(0.005), fmt.points(-0.0304), fmt.points(0.005, signed=False)) == (
        "+0.50 points", "-3.04 points", "0.50 points")
    assert [fmt.plural(n, "seed") for n in (0, 1, 2, 1000)] == ["0 seeds", "1 seed", "2 seeds", "1,000 seeds"]
    assert fmt.plural(1, "statistical check") == "1 statistical check" and fmt.noun(3, "run") == "runs"
    assert fmt.score(0.45678) == "0.4568" and fmt.speed(30787.1) == "30,787 images/s"
    assert (fmt.p_value(0.0004), fmt.p_value(0.0234), fmt.p_value(float("nan"))) == ("< 0.001", "0.023", "undefined")
    assert (fmt.ratio(1.049), fmt.ratio(None)) == ("× 1.05", "—")
    assert fmt.span("1.00 %", "2.00 %") == "1.00 % to 2.00 %"
    assert fmt.unbreakable("87.52 %") == "87.52\u00a0%"


def test_one_duration_formatter_for_the_cli_and_the_report():
    assert progress.format_duration is fmt.format_duration  # the CLI's plan and runner print through progress
    assert [fmt.format_duration(s) for s in (4.2, 150, 3725)] == ["4 s", "2.5 min", "1 h 02 min"]
    assert fmt.format_duration(0.354, digits=2) == "0.35 s" and fmt.format_duration(12.34, digits=1) == "12.3 s"


@pytest.mark.parametrize(("metric", "value", "spread", "text"), [
    ("test_accuracy", 0.8752, False, "87.52 %"), ("test_accuracy", 0.0031, True, "0.31 points"),
    ("worst_seed", 0.1, False, "10.00 %"), ("gap_train_test", 0.034, False, "+3.40 points"),
    ("gap_train_test", 0.034, True, "3.40 points"), ("f1[Bag]", 0.95123, False, "0.9512"),
    ("test_loss", 0.45678, False, "0.4568"), ("fit_s", 12.345, False, "12.35 s"), ("fit_s", 150.0, False, "2.5 min"),
    ("images_per_s", 30787.1, False, "30,787 images/s")])
def test_a_metric_is_written_in_its_unit(metric, value, spread, text):
    assert fmt.metric(metric, value, spread) == text


def test_the_formatter_is_a_leaf_and_the_gate_does_not_reach_up_into_the_report():
    """bench.format imports nothing of fmbench, so the analysis and the report both use it without a circle;
    ci_output (under the report) must not pull the report in, nor TensorFlow."""
    code = ("import sys, bench.format; print(sorted(m for m in sys.modules if m.startswith('bench')));"
            "import bench.analysis.ci_output, bench.analysis.checks;"
            "print(sorted(m for m in sys.modules if m.startswith(('bench.report', 'tensorflow'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == ["['bench', 'bench.format']", "[]"]


def test_the_comparison_renders_with_the_reports_environment_pdf_and_png_encoder():
    from bench.report import figures

    assert report_compare.template_environment is render.template_environment
    assert report_compare.render_pdf is render.render_pdf
    assert report_compare.figure_picture is figures.figure_picture


# --- every output alike -------------------------------------------------------------------------------

KINDS = ["report", "comparison", "terminal", "markdown", "junit"]


@pytest.mark.parametrize("kind", KINDS)
def test_percentages_have_a_space_and_two_decimals_or_none(outputs, kind):
    text = outputs[kind]
    assert not re.search(r"\d%", text), re.search(r".{30}\d%.{10}", text)
    found = [(m.group(0), m.group(1)) for m in re.finditer(NUMBER + SPACE + "%", text)]
    # Shares to two decimals ("87.52 %"); chances, confidences and prose whole ("12 %", "95 % CI").
    assert found and all(decimals is None or len(decimals) == 2 for _, decimals in found), found


@pytest.mark.parametrize("kind", KINDS)
def test_point_differences_are_points_with_two_decimals(outputs, kind):
    text = outputs[kind].replace(ci_output.HEADER[5], "")  # "power 0.5 / 1 point": which drops, a label
    assert not re.search(r"\bpts?\b", text), re.search(r".{30}\bpts?\b", text)
    found = [(m.group(0), m.group(1)) for m in re.finditer(NUMBER + SPACE + r"points?\b", text)]
    assert found and all(decimals is not None and len(decimals) == 2 for _, decimals in found), found


@pytest.mark.parametrize("kind", KINDS)
def test_plurals_agree_with_their_number(outputs, kind):
    text = outputs[kind]
    assert not re.search(r"\w\(s\)", text), re.search(r".{30}\w\(s\)", text)
    nouns = "seed|run|check|core|fold|parameter|statistical check"
    assert not re.search(rf"(?<![\d.,])1{SPACE}({nouns})s\b", text), re.search(rf".{{20}}\b1{SPACE}({nouns})s\b", text)
    many = re.search(rf"(?<![\w.,])(0|[2-9]|\d[\d,]+){SPACE}({nouns})\b", text)
    assert not many, text[many.start() - 30:many.end() + 10]


def test_one_accuracy_reads_the_same_in_every_output(outputs, smoke_study):
    """tiny-a's baseline mean test accuracy: the report's headline, the comparison's study A, and the gate's
    reference made from tiny-a all write it as "75.43 %"; the gate used to write 0.7543 (the report's
    per-class table still may: its macro-average recall is that number, a score)."""
    mean = stored_accuracy(smoke_study, "baseline")
    written, old = f"{mean * 100:.2f} %", f"{mean:.4f}"
    for kind in KINDS:
        assert written in outputs[kind].replace("\u00a0", " "), kind
    for kind in ("terminal", "markdown", "junit"):
        assert old not in outputs[kind], kind


def test_one_difference_reads_the_same_in_the_comparison_and_the_gate(outputs, smoke_study, other_study):
    """tiny-b minus tiny-a for the baseline: compare's difference over all seeds is the gate's change."""
    difference = stored_accuracy(other_study, "baseline") - stored_accuracy(smoke_study, "baseline")
    written = f"{difference * 100:+.2f} points"
    for kind in ("comparison", "terminal", "markdown", "junit"):
        assert written in outputs[kind].replace("\u00a0", " "), kind
