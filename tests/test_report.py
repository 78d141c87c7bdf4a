"""The report from a real smoke study: every section, numbers equal to the stored per-seed values, the
per-class table equal to scikit-learn's, a parseable PDF, escaping, missing sections, invalid files."""

from __future__ import annotations

import json
import re
import shutil
import statistics
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path

import pytest
from pypdf import PdfReader
from sklearn.metrics import classification_report

from bench.analysis.significance import difference_of_means, paired_difference
from bench.analysis.stats import summarize
from bench.errors import BenchError
from bench.report.build import APPENDICES, SECTIONS, build_report
from bench.report.glance import Versus, change_sentence
from bench.report.render import default_out, render_html, render_pdf
from bench.report.sections import metric_text

INJECTED = "<script>alert(1)</script>"


class Cells(HTMLParser):
    """Every element carrying a ``data-value``: its data-* attributes and its text."""

    def __init__(self, html: str):
        super().__init__()
        self.cells: list[dict] = []
        self._open: dict | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "data-value" in attrs:
            self._open = {**attrs, "text": ""}
            self.cells.append(self._open)

    def handle_data(self, data):
        if self._open is not None:
            self._open["text"] += data

    def handle_endtag(self, tag):
        if tag == "td":
            self._open = None

    def find(self, **attrs) -> list[dict]:
        keys = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [c for c in self.cells if all(c.get(f"data-{k}") == v for k, v in keys.items())]


def stored_runs(folder: Path) -> dict[str, list[dict]]:
    """Run files read as plain JSON (not through bench), by model, in seed order."""
    manifest = json.loads((folder / "study.json").read_text())
    runs: dict[str, list[dict]] = {}
    for name in manifest["runs"]:
        run = json.loads((folder / name).read_text())
        runs.setdefault(run["model"], []).append(run)
    return {model: sorted(rs, key=lambda r: r["seed"]) for model, rs in runs.items()}


def copy_study(source: Path, target: Path, edit_manifest=None, edit_run=None) -> Path:
    shutil.copytree(source, target)
    if edit_manifest:
        path = target / "study.json"
        path.write_text(json.dumps(edit_manifest(json.loads(path.read_text()))))
    if edit_run:
        for path in target.glob("*-seed*.json"):
            path.write_text(json.dumps(edit_run(json.loads(path.read_text()))))
    return target


@pytest.fixture(scope="module")
def rendered(smoke_study, tmp_path_factory):
    """The smoke study's report, rendered once for this module: (report, html, pdf bytes)."""
    report = build_report([smoke_study])
    html = render_html(report)
    return report, html, render_pdf(html)


def test_every_section_heading_is_present_and_provenance_is_an_appendix_at_the_end(rendered):
    _, html, _ = rendered
    for number, (anchor, heading, _) in enumerate(SECTIONS, start=1):
        assert f'<section id="{anchor}">' in html
        assert f"<h2>{number}. {heading}</h2>" in html
    for letter, (anchor, heading, _) in zip("AB", APPENDICES, strict=True):
        assert f'<section id="{anchor}" class="appendix">\n  <h2>Appendix {letter}. {heading}</h2>' in html
    positions = [html.index(f'<section id="{anchor}"') for anchor, _, _ in SECTIONS + APPENDICES]
    assert positions == sorted(positions)


def test_headline_numbers_equal_the_mean_of_stored_per_seed_values(rendered, smoke_study):
    _, html, _ = rendered
    cells = Cells(html)
    getters = {"train_accuracy": lambda r: r["metrics"]["train"]["accuracy"],
               "validation_accuracy": lambda r: r["metrics"]["validation"]["accuracy"],
               "test_accuracy": lambda r: r["metrics"]["test"]["accuracy"],
               "test_loss": lambda r: r["metrics"]["test"]["loss"],
               "gap_train_test": lambda r: r["gaps"]["train_minus_test"],
               "fit_s": lambda r: r["timings"]["fit_s"],
               "images_per_s": lambda r: r["timings"]["images_per_s"]}
    for model, runs in stored_runs(smoke_study).items():
        assert len(runs) == 3
        for metric, getter in getters.items():
            values = [getter(r) for r in runs]
            (cell,) = [c for c in cells.find(model=model, metric=metric) if "data-seed" not in c]
            # Speeds are the median over seeds (a t-interval of busy seeds reached 0), the rest the mean.
            aggregate = statistics.median if metric in ("images_per_s", "fit_s") else statistics.fmean
            assert float(cell["data-value"]) == pytest.approx(aggregate(values), rel=1e-12)
            assert cell["data-n"] == "3"
            for run in runs:  # and the per-seed table shows each stored value as it is
                (cell,) = cells.find(model=model, metric=metric, seed=str(run["seed"]))
                assert float(cell["data-value"]) == getter(run)
        (cell,) = [c for c in cells.find(model=model, metric="test_accuracy") if "data-seed" not in c]
        mean, std = statistics.fmean(getters["test_accuracy"](r) for r in runs), statistics.stdev(
            getters["test_accuracy"](r) for r in runs)
        assert cell["text"].replace("\xa0", " ").startswith(f"{mean * 100:.2f} % ± {std * 100:.2f} points")
        assert "95 % CI" in cell["text"]


def _sklearn_mean_report(runs: list[dict]) -> dict:
    """Per-seed classification_report(output_dict=True), every cell averaged over seeds."""
    reports = [classification_report(r["predictions"]["true"], r["predictions"]["predicted"],
                                     target_names=r["per_class"]["class_names"], output_dict=True, zero_division=0)
               for r in runs]
    mean = {}
    for key, cell in reports[0].items():
        mean[key] = ({c: statistics.fmean(rep[key][c] for rep in reports) for c in cell} if isinstance(cell, dict)
                     else statistics.fmean(rep[key] for rep in reports))
    return mean


def test_per_class_table_equals_sklearn_classification_report(rendered, smoke_study):
    _, html, _ = rendered
    cells = Cells(html)
    for model, runs in stored_runs(smoke_study).items():
        expected = _sklearn_mean_report(runs)
        shown = {(c["data-row"], c.get("data-col")): c for c in cells.find(model=model) if "data-row" in c}
        assert len(shown) == 4 * (len(expected) - 1) + 1  # four columns per row, one cell for accuracy
        assert float(shown[("accuracy", None)]["data-value"]) == pytest.approx(expected["accuracy"], abs=1e-12)
        for key, cell in expected.items():
            for column, value in (cell.items() if isinstance(cell, dict) else ()):
                assert float(shown[(key, column)]["data-value"]) == pytest.approx(value, abs=1e-9), (model, key)
        macro = expected["macro avg"]["f1-score"]
        assert shown[("macro avg", "f1-score")]["text"] == f"{macro:.4f}"


def test_pdf_parses_has_pages_and_holds_the_headline_test_accuracy(rendered, smoke_study):
    _, _, pdf = rendered
    reader = PdfReader(BytesIO(pdf))
    assert len(reader.pages) > 1
    first_page = reader.pages[0].extract_text().replace("\xa0", " ")
    for model, runs in stored_runs(smoke_study).items():
        mean = statistics.fmean(r["metrics"]["test"]["accuracy"] for r in runs)
        assert f"{mean * 100:.2f} %" in first_page, model
    assert "Page 1 of" in first_page


def test_prediction_captions_are_right_and_wrong_as_stored(rendered, smoke_study):
    report, html, _ = rendered
    for block, (model, runs) in zip(report.predictions, stored_runs(smoke_study).items(), strict=True):
        run = runs[0]
        names = run["per_class"]["class_names"]
        truth, predicted = run["predictions"]["true"][:25], run["predictions"]["predicted"][:25]
        assert block["label"] == model and block["seed"] == run["seed"]
        assert [i["right"] for i in block["first"]] == [t == p for t, p in zip(truth, predicted, strict=True)]
        assert [i["caption"] for i in block["first"]] == [names[p] for p in predicted]
        assert f'alt="{names[predicted[0]]} ({names[truth[0]]})"' in html
        assert len(block["mistakes"]) == 25 and not any(i["right"] for i in block["mistakes"])
    assert html.count('class="tile wrong"') == sum(
        sum(1 for i in b["first"] if not i["right"]) + len(b["mistakes"]) for b in report.predictions)


def test_injected_markup_in_a_run_name_comes_out_escaped(smoke_study, tmp_path):
    def rename(record):  # consistently: the baseline's runs and the manifest's record of its parameters
        record["study"] = INJECTED
        if record["kind"] == "run" and record["model"] == "baseline":
            record["hyperparameters"]["optimizer"] = '"><img src=x onerror=alert(2)>'
        elif record["kind"] == "manifest":
            record["model_specs"]["baseline"]["params"]["optimizer"] = '"><img src=x onerror=alert(2)>'
        return record

    folder = copy_study(smoke_study, tmp_path / "study", rename, rename)
    report = build_report([folder])
    html = render_html(report)
    assert INJECTED not in html and "<img src=x" not in html and "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in html
    assert "<" not in default_out(report).name and "/" not in default_out(report).name


def test_a_baseline_only_study_renders_without_tuning_sections(smoke_study, tmp_path):
    def baseline_only(manifest):
        manifest.update(models=["baseline"], tuning=[],
                        runs=[name for name in manifest["runs"] if name.startswith("baseline")])
        return manifest

    folder = copy_study(smoke_study, tmp_path / "study", baseline_only)
    for path in folder.glob("tuned-*.json"):
        path.unlink()
    report = build_report([folder])
    html = render_html(report)
    assert [s["anchor"] for s in report.sections] == [a for a, _, _ in SECTIONS + APPENDICES if a != "grid-search"]
    assert "Grid search" not in html and "Tuning time per stage" not in html and "Tuning " not in html
    assert report.groups == ["baseline"]
    assert len(PdfReader(BytesIO(render_pdf(html))).pages) > 1


def test_runs_of_one_study_in_two_folders_merge(smoke_study, tmp_path, rendered):
    def keep_seeds(seeds):  # as if `--seeds 0` ran on one machine and `--seeds 1 2` on another
        def edit(m):
            tuning = [{**t, "seed": seeds[0]} for t in m["tuning"]]  # each machine tunes on its first seed
            return {**m, "seeds": seeds, "tuning": tuning,
                    "runs": [n for n in m["runs"] if int(n.rsplit("seed", 1)[1][:-5]) in seeds]}
        return edit

    first = copy_study(smoke_study, tmp_path / "a", keep_seeds([0]))
    second = copy_study(smoke_study, tmp_path / "b", keep_seeds([1, 2]))
    for folder, seeds in ((first, [0]), (second, [1, 2])):
        for path in folder.glob("*-seed*.json"):
            if int(path.stem.rsplit("seed", 1)[1]) not in seeds:
                path.unlink()
    merged = build_report([first, second])
    assert merged.problems == [] and merged.groups == ["baseline", "tuned"]
    assert merged.headline == rendered[0].headline


def test_different_studies_show_side_by_side(smoke_study, tmp_path):
    def rename(record):
        return {**record, "study": "other"}

    other = copy_study(smoke_study, tmp_path / "other", rename, rename)
    report = build_report([smoke_study, other])
    name = json.loads((smoke_study / "study.json").read_text())["study"]
    assert report.groups == [f"{name} · baseline", f"{name} · tuned", "other · baseline", "other · tuned"]
    assert [s["study"] for s in report.searches] == [name, "other"]
    assert sum("Tuning" in s["text"] for s in report.outcome) == 2


def test_an_invalid_run_file_is_reported_by_path_and_reason(smoke_study, tmp_path):
    folder = copy_study(smoke_study, tmp_path / "study")
    (folder / "tuned-seed1.json").write_text("{ not json")
    report = build_report([folder])
    (problem,) = report.problems
    assert problem.startswith(f"{folder / 'tuned-seed1.json'}: not valid JSON")
    test_accuracy = next(r for r in report.headline if r["metric"] == "test_accuracy")
    assert [c["n"] for c in test_accuracy["cells"]] == [3, 2]  # the rest renders: tuned from its other seeds
    assert problem in render_html(report).replace("&#39;", "'")
    with pytest.raises(BenchError, match=r"tuned-seed1\.json: not valid JSON"):
        build_report([folder], strict=True)


def test_a_failed_run_is_shown_and_left_out_of_the_means(smoke_study, tmp_path):
    def fail(run):
        if run["model"] == "tuned" and run["seed"] == 1:
            run.update(status="failed", error="<b>out of memory</b>")
        return run

    folder = copy_study(smoke_study, tmp_path / "study", edit_run=fail)
    report = build_report([folder])
    html = render_html(report)
    test_accuracy = next(r for r in report.headline if r["metric"] == "test_accuracy")
    assert [c["n"] for c in test_accuracy["cells"]] == [3, 2]
    assert "failed: &lt;b&gt;out of memory&lt;/b&gt;" in html
    assert any(s["worse"] and s["text"] == "1 run failed: left out of every mean; see Seeds." for s in report.outcome)


def test_a_search_repeated_per_seed_lists_every_seeds_best_parameters(smoke_study, tmp_path):
    def repeat(manifest):
        again = {**manifest["tuning"][0], "seed": 1, "best_params": {**manifest["tuning"][0]["best_params"],
                                                                      "optimizer": "sgd"}}
        return {**manifest, "tuning": [manifest["tuning"][0], again], "search": "halving"}

    report = build_report([copy_study(smoke_study, tmp_path / "study", repeat)])
    html = render_html(report)
    (search,) = report.searches
    assert search["tuning_seeds"] == [0, 1] and search["repeated"]
    assert next(r["cells"] for r in search["best"] if r["name"] == "optimizer")[1] == "sgd"
    assert "successive halving (scikit-learn HalvingGridSearchCV)" in html
    assert "the stages below are those of seed 0" in html
    assert len(report.timing["stages"]) == 2 * len(search["stages"])


def test_a_study_on_two_hosts_shows_speed_per_host_threads_and_sessions_escaped(smoke_study, tmp_path):
    def spread(run):
        return {**run, "host": "<b>alpha</b>" if run["seed"] == 0 else "beta", "worker": "tcp://10.0.0.9:4000"}

    def resumed(manifest):
        first = manifest["sessions"][0]
        again = {**first, "executor": "<i>tcp://sched:8786</i>", "units_run": 4, "units_skipped": 8}
        return {**manifest, "threads_per_run": 3, "sessions": [first, again]}

    folder = copy_study(smoke_study, tmp_path / "study", resumed, spread)
    html = render_html(build_report([folder]))
    assert "<h3>Speed per host</h3>" in html and "<b>" not in html and "<i>" not in html
    fit = {run["seed"]: run["timings"]["fit_s"] for run in stored_runs(folder)["tuned"]}
    alpha, beta = metric_text("fit_s", fit[0]), metric_text("fit_s", statistics.mean([fit[1], fit[2]]))
    assert re.search(f"<tr><td>tuned</td><td>&lt;b&gt;alpha&lt;/b&gt;</td><td class=\"num\">1</td>"
                     f"<td class=\"num\">[^<]+</td><td class=\"num\">{alpha}</td>", html)
    assert re.search(f"<tr><td>tuned</td><td>beta</td><td class=\"num\">2</td>"
                     f"<td class=\"num\">[^<]+</td><td class=\"num\">{beta}</td>", html)
    assert "<h3>Sessions</h3>" in html and "&lt;i&gt;tcp://sched:8786&lt;/i&gt;" in html
    assert '<td class="num">4</td><td class="num">8</td>' in html
    assert '<td class="num">3</td></tr>' in html  # threads per run, last column of the whole-study row


def test_a_study_on_two_workers_of_one_host_shows_speed_per_worker(smoke_study, tmp_path):
    def spread(run):
        return {**run, "host": "vm", "worker": f"tcp://127.0.0.1:{40431 + run['seed'] % 2}"}

    html = render_html(build_report([copy_study(smoke_study, tmp_path / "study", edit_run=spread)]))
    assert "<h3>Speed per worker</h3>" in html and "Speed per host" not in html
    assert html.count("<td>tcp://127.0.0.1:40431</td><td class=\"num\">2</td>") == 2  # one row per model
    assert html.count("<td>tcp://127.0.0.1:40432</td><td class=\"num\">1</td>") == 2


def test_a_study_on_one_host_and_worker_shows_no_speed_per_place_nor_sessions(rendered):
    report, html, _ = rendered
    assert report.timing["places"] == [] and report.timing["sessions"] == []
    assert "Speed per" not in html and "<h3>Sessions</h3>" not in html
    assert "TensorFlow&#39;s default" in html


@pytest.mark.parametrize(("make", "message"), [
    (lambda folder: None, "results folder does not exist"),
    (lambda folder: folder.mkdir(), "no study.json in"),
])
def test_a_folder_that_is_not_a_study_is_an_error(tmp_path, make, message):
    make(tmp_path / "x")
    with pytest.raises(BenchError, match=message):
        build_report([tmp_path / "x"])


def test_a_study_without_one_readable_run_is_an_error(smoke_study, tmp_path):
    folder = copy_study(smoke_study, tmp_path / "study")
    for path in folder.glob("*-seed*.json"):
        path.write_text("[]")
    with pytest.raises(BenchError, match=r"no readable run in .*; nothing to report; .*expected a JSON object"):
        build_report([folder])


def plain(text: str) -> str:
    return text.replace("\xa0", " ")


def paired_versus(a: list[float], b: list[float]) -> Versus:
    return Versus("baseline", summarize(a), summarize(b), paired_difference(a, b), True, len(a))


def test_a_tuning_loss_is_said_plainly_with_the_interval_of_the_difference():
    single = Versus("baseline", summarize([0.891]), summarize([0.857]), difference_of_means([0.891], [0.857]),
                    False, 1)
    sentence = change_sentence(single, "Tuning")
    assert not sentence["worse"]  # not confirmed: nothing to mark
    assert plain(sentence["text"]) == ("Tuning lowered test accuracy by 3.40 points (89.10 % → 85.70 %); with a single "
                                "seed there is no interval, so the difference is not yet confirmed.")
    gain = change_sentence(paired_versus([0.80, 0.81, 0.82], [0.90, 0.92, 0.92]), "Tuning")
    assert not gain["worse"]
    assert plain(gain["text"]) == ("Tuning raised test accuracy by 10.33 points (81.00 % → 91.33 %); the 95 % "
                                   "interval of the difference, paired over 3 seeds, is +8.90 to +11.77 points: "
                                   "beyond seed noise.")
    noisy = change_sentence(paired_versus([0.80, 0.83, 0.78], [0.81, 0.80, 0.81]), "mine, measured against baseline,")
    assert plain(noisy["text"]).startswith("mine, measured against baseline, raised test accuracy by 0.33 points")
    assert plain(noisy["text"]).endswith("within seed noise.") and not noisy["worse"]
    loss = change_sentence(paired_versus([0.90, 0.92, 0.92], [0.80, 0.81, 0.82]), "Tuning")
    assert loss["worse"] and plain(loss["text"]).startswith("Tuning lowered test accuracy by 10.33 points")


def test_the_pdf_splits_no_row_and_leaves_no_page_nearly_empty(rendered):
    """Read from WeasyPrint's layout of the report (tests/pagelayout.py): a table row cut by a page break,
    or a page under a third full that does not end a section. The smoke study's PDF was 14 pages, with
    stage 6 alone on page 7; now 9 (a 2-model smoke study, 1,000 test images)."""
    import pagelayout

    _, html, pdf = rendered
    document = pagelayout.layout(html)
    assert pagelayout.split_rows(document) == []
    assert pagelayout.near_empty_pages(document) == []
    assert len(PdfReader(BytesIO(pdf)).pages) == len(document.pages) <= 9


def test_page_one_answers_the_four_questions_for_every_model(rendered):
    report, html, _ = rendered
    assert [row["label"] for row in report.glance] == ["baseline", "tuned"]
    baseline, tuned = report.glance
    assert baseline["versus"]["text"] == "—" and tuned["versus"]["text"].endswith(" vs baseline")
    assert tuned["versus"]["note"].startswith("95 % CI ") and "seed noise" in tuned["versus"]["note"]
    assert baseline["worst"].startswith("worst: seed ") and baseline["stable"].startswith("3 seeds, range ")
    assert any("per epoch after the first" in part for part in baseline["fast"])
    assert any(part.endswith("images/s at inference") for part in baseline["fast"])
    texts = [plain(s["text"]) for s in report.outcome]
    assert texts[0].startswith("Tuning ") and "paired over 3 seeds" in texts[0]
    assert texts[1].startswith("Best test accuracy: ") and "; ahead of " in texts[1]
    assert texts[2].startswith("How fast on this machine (medians over seeds): baseline ")
    assert "; tuned " in texts[2] and "not verifiable" in texts[2]
    assert html.index('<table class="glance">') < html.index('<table class="headline">')


def test_fmbench_report_writes_html_and_pdf(cli, smoke_study, tmp_path):
    out = tmp_path / "reports" / "smoke"
    done = cli("report", str(smoke_study), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.pdf"]
    assert "rendered in" in done.stdout and done.stderr == ""
    assert PdfReader(out / "report.pdf").pages


def test_fmbench_report_strict_makes_an_invalid_file_fatal(cli, smoke_study, tmp_path):
    folder = copy_study(smoke_study, tmp_path / "study")
    (folder / "baseline-seed0.json").write_text('{"schema_version": 1, "kind": "run"}')
    lenient = cli("report", str(folder), "--out", str(tmp_path / "lenient"), "--html")
    assert lenient.returncode == 0, lenient.stderr
    assert f"warning: {folder / 'baseline-seed0.json'}: invalid RunResult" in lenient.stderr
    assert [p.name for p in (tmp_path / "lenient").iterdir()] == ["report.html"]
    strict = cli("report", str(folder), "--out", str(tmp_path / "strict"), "--strict")
    assert strict.returncode == 2
    assert strict.stderr.startswith(f"fmbench report: error: {folder / 'baseline-seed0.json'}: invalid RunResult")
    assert "Traceback" not in strict.stderr and not (tmp_path / "strict").exists()


def test_unverifiable_figures_are_marked_once_with_a_note(rendered):
    report, html, _ = rendered
    marked = {row["metric"] for row in report.headline if not row["verifiable"]}
    assert marked == {"train_accuracy", "train_loss", "test_loss", "fit_s", "epoch_s", "images_per_s"}
    # and once more: page one's "How fast here" column
    assert html.count('<sup title="measured, not verifiable">†</sup>') == len(marked) + 1
    assert html.count("† Measured and not verifiable from the files") == 1
    assert "Official Fashion-MNIST: yes: all four files match the published SHA-256." in html
