"""The trend page (bench.report.trend, `fmbench trend`): it flags exactly the commit of a step and no other,
splits series by machine, filters, escapes what users wrote, links only over http(s) or relatively, renders
a PDF that names the change, and renders a history of 1,000 entries. Fast tier: nothing is trained."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from pypdf import PdfReader
from trendhistory import on_machine, real_entry, real_step, sha, synthetic

from bench.analysis.trend import build_trend, short
from bench.cli import main
from bench.errors import BenchError
from bench.format import NBSP
from bench.report.links import check_reports_base, report_link
from bench.report.trend import MAX_TICKS, TABLE_ROWS, tick_step, write_trend
from bench.results.history import HistoryEntry, HistoryStore

CHANGE_ITEM = re.compile(r'<li class="change[^"]*" data-model="([^"]*)" data-after="([^"]*)">(.*?)</li>', re.S)


def text(html: str) -> str:
    """The page's words: non-breaking spaces as spaces."""
    return html.replace(NBSP, " ")


@pytest.fixture(scope="module")
def step_page(tmp_path_factory):
    """The real step history (tiny-a, 8 points lower from commit 6) beside an unchanged second machine."""
    out = tmp_path_factory.mktemp("trend")
    entries = real_step()
    other = on_machine(real_entry("tiny-a", 0), "AMD EPYC 9654")
    entries += [other.model_copy(update={"commit": e.commit, "commit_time": e.commit_time, "study_digest": str(i)})
                for i, e in enumerate(entries)]
    rendered = write_trend(build_trend(sorted(entries, key=lambda e: e.when)), out, "/somewhere/history")
    return out, rendered, entries


def test_the_page_flags_exactly_the_step_commit(step_page):
    out, rendered, entries = step_page
    assert [p.name for p in rendered.paths] == ["trend.html", "trend.pdf"]
    html = text((out / "trend.html").read_text(encoding="utf-8"))
    items = CHANGE_ITEM.findall(html)
    assert [(model, after) for model, after, _ in items] == [("baseline", short(sha(6))), ("tuned", short(sha(6)))]
    for _, _, label in items:
        assert f"between {short(sha(5))} and {short(sha(6))}: -8.00 points" in label
        assert f"machine {entries[0].machine_id}" in label  # the stepped machine, not the unchanged one
    # Every commit range the page names (change list, change tables, windows cut at a change) is that one.
    assert set(re.findall(r"between <?[^ ]*?([0-9a-f]{7})\b.*? and <?[^ ]*?([0-9a-f]{7})\b", html)) == {
        (short(sha(5)), short(sha(6)))}
    assert "No change detected" not in html


def test_the_page_loads_nothing_and_runs_nothing(step_page):
    """What a headless browser would be asked (none is installed here): no script, no request, the marker shown.
    Every image is inline, the page's policy forbids anything else, and each change marker is in a figure."""
    out, _, _ = step_page
    html = (out / "trend.html").read_text(encoding="utf-8")
    assert "<script" not in html.lower() and "<link" not in html.lower() and "@import" not in html
    sources = re.findall(r'\b(?:src|srcset|poster|data)="([^"]*)"', html)
    assert sources and all(source.startswith("data:image/png;base64,") for source in sources)
    assert "url(" not in html  # CSS loads nothing either
    assert ("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
            "style-src 'unsafe-inline'\">") in html
    assert len(re.findall(r'<figure', html)) >= 2


def test_series_are_split_by_machine_in_legend_and_tables(step_page):
    out, _, entries = step_page
    html = text((out / "trend.html").read_text(encoding="utf-8"))
    machines = {e.machine_id for e in entries}
    assert len(machines) == 2
    for machine in machines:
        assert html.count(f"machine {machine} · stack") >= 4  # series and latest tables, both models
    assert "Entries</th><td>24 entries from 2 machines and stacks" in html
    by_machine = html[html.index('<section id="by-machine">'):html.index('<section id="studies">')]
    assert by_machine.count("<tr><td>") == 4  # 2 models x 2 machines


def test_the_latest_commit_table_shows_the_numbers(step_page):
    out, _, _ = step_page
    html = text((out / "trend.html").read_text(encoding="utf-8"))
    trend = build_trend(real_step(), ["baseline"])
    latest = trend.models[0].series[0].latest
    # commits 6-10 after the step; the window stops at the change between commits 5 and 6
    assert (latest.window_first, latest.window_last, latest.window_commits) == (short(sha(6)), short(sha(10)), 5)
    assert latest.difference == pytest.approx(0.0) and latest.mean == pytest.approx(np.mean([0.682, 0.651, 0.690]))
    assert f'data-value="{latest.mean}">{latest.mean * 100:.2f} %' in html
    assert f"starts at the change between {short(sha(5))} and {short(sha(6))}" in html


def test_the_pdf_names_the_change(step_page):
    out, _, _ = step_page
    reader = PdfReader(out / "trend.pdf")
    words = " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages).replace(NBSP, " ")
    assert f"between {short(sha(5))} and {short(sha(6))}: -8.00 points" in words
    assert "Latest commit against the window before it" in words and len(reader.pages) >= 3


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) is not installed")
def test_the_pdf_pages_are_not_blank(step_page, tmp_path):
    from matplotlib import image

    out, _, _ = step_page
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(out / "trend.pdf"), str(tmp_path / "page")], check=True,
                   timeout=300)
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) == len(PdfReader(out / "trend.pdf").pages)
    inked = [float(np.mean(image.imread(p)[..., :3] < 0.9)) for p in pages]
    assert all(share > 0.005 for share in inked), inked  # text on every page
    assert max(inked) > 0.05, inked  # a page with the figure: far more ink than text alone


def _hostile(entry: HistoryEntry, model: str) -> HistoryEntry:
    """The entry with its baseline renamed ``model`` and user-written text that must not become markup."""
    data = entry.model_dump(mode="json")
    data["models"] = [model if m == "baseline" else m for m in data["models"]]
    data["model_config_digests"] = {model if k == "baseline" else k: v for k, v in data["model_config_digests"].items()}
    for run in data["runs"]:
        run["model"] = model if run["model"] == "baseline" else run["model"]
    data.update(subject='<script>alert("subject")</script>', branch='feat/"><b>bold</b>', study="<i>study</i>")
    return HistoryEntry.model_validate(data)


def test_user_text_is_escaped(base, tmp_path):
    model = "<img src=x onerror=alert(1)>"
    entries = [_hostile(e, model) for e in synthetic(base, 6, step_at=3, step=-0.05)]
    write_trend(build_trend(entries), tmp_path, "<b>store</b>", "--branch <u>x</u>",
                "https://ci.example.com/{branch}/{study}/report.html")
    html = (tmp_path / "trend.html").read_text(encoding="utf-8")
    assert "<script" not in html and "<img src=x" not in html and "<b>" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(&#34;subject&#34;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "&lt;b&gt;store&lt;/b&gt;" in html
    assert 'href="https://ci.example.com/feat%2F%22%3E%3Cb%3Ebold%3C%2Fb%3E/%3Ci%3Estudy%3C%2Fi%3E/report.html"' in html
    assert CHANGE_ITEM.findall(text(html))[0][1] == short(sha(3))


@pytest.fixture(scope="module")
def base():
    return real_entry("tiny-a", 0)


def test_report_links():
    commit = sha(7)
    assert report_link(None, commit, "s") is None
    assert report_link("https://ci.example.com/r/", commit, "s") == f"https://ci.example.com/r/{commit}/report.html"
    assert report_link("../studies/{study}/report.html", commit, "a b/c") == "../studies/a%20b%2Fc/report.html"
    assert report_link("http://x.org/{short}", commit, "s") == f"http://x.org/{commit[:7]}"
    for good in ("https://ci.example.com/reports", "reports", "../r/{commit}", "/abs/{study}.html"):
        assert check_reports_base(good) == good
    for bad in ("javascript:alert(1)", "data:text/html,x", "file:///etc/passwd", "//evil.example.com/x",
                "\\\\evil.example.com\\x", "https://", "https://x.org/{nope}", "https://x.org/a b", "", " "):
        with pytest.raises(BenchError, match="--reports-base"):
            check_reports_base(bad)


def test_ticks_are_sampled():
    assert tick_step(10) == 1 and tick_step(20) == 1 and tick_step(21) == 2 and tick_step(1000) == 50
    assert all(len(range(0, n, tick_step(n))) <= MAX_TICKS for n in (1, 19, 20, 21, 199, 200, 1000, 12345))


@pytest.fixture(scope="module")
def store(tmp_path_factory, base):
    """Machine A on main, commits 0-9, a step at 6; machine B on dev, commits 0-4, unchanged."""
    location = tmp_path_factory.mktemp("history") / "store"
    history = HistoryStore(str(location))
    for entry in synthetic(base, 10, step_at=6, step=-0.05, seed=7):
        history.add(entry)
    other = on_machine(base, "AMD EPYC 9654").model_copy(update={"branch": "dev"})
    for entry in synthetic(other, 5, seed=8, salt="b"):
        history.add(entry)
    return location, base.machine_id, other.machine_id


def _meta_entries(out) -> str:
    html = text((out / "trend.html").read_text(encoding="utf-8"))
    return re.search(r"Entries</th><td>([^<]*)</td>", html).group(1)


def test_cli_writes_the_page_and_filters(store, tmp_path, capsys):
    location, _, machine_b = store
    assert main(["trend", "--history", str(location), "--out", str(tmp_path / "all")]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {tmp_path / 'all' / 'trend.html'} and {tmp_path / 'all' / 'trend.pdf'}; rendered in" in printed
    assert _meta_entries(tmp_path / "all") == "15 entries from 2 machines and stacks"
    cases = {"machine": (["--machine", machine_b], "5 entries from 1 machine and stack"),
             "branch": (["--branch", "main"], "10 entries from 1 machine and stack"),
             "since": (["--since", "2026-01-01T07:00:00+00:00"], "3 entries from 1 machine and stack")}
    for name, (flags, expected) in cases.items():
        assert main(["--quiet", "trend", "--history", str(location), "--out", str(tmp_path / name), *flags]) == 0
        assert _meta_entries(tmp_path / name) == expected, name
    assert main(["--quiet", "trend", "--history", str(location), "--out", str(tmp_path / "m"), "--model", "tuned"]) == 0
    html = (tmp_path / "m" / "trend.html").read_text(encoding="utf-8")
    assert "<title>fmbench trend: tuned</title>" in html and 'data-model="baseline"' not in html


def test_cli_by_machine_prints_the_table(store, tmp_path, capsys):
    location, machine_a, machine_b = store
    assert main(["--quiet", "trend", "--history", str(location), "--out", str(tmp_path), "--by", "machine"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["model", "machine", "stack", "commit"]
    assert [line.split()[:2] for line in lines[1:5]] == [["baseline", machine_a], ["baseline", machine_b],
                                                        ["tuned", machine_a], ["tuned", machine_b]]


def test_cli_empty_history_is_one_line_exit_2(store, tmp_path, capsys):
    location, _, _ = store
    rc = main(["trend", "--history", str(location), "--out", str(tmp_path / "x"), "--branch", "nope", "--model", "cnn"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert err.startswith(f"fmbench trend: error: no history entries in {location} match --model cnn, --branch nope;")
    assert not (tmp_path / "x").exists()
    assert main(["trend", "--history", str(tmp_path / "none"), "--out", str(tmp_path / "y")]) == 2
    assert f"no history entries in {tmp_path / 'none'};" in capsys.readouterr().err
    assert main(["trend", "--history", str(location), "--out", str(tmp_path / "z"), "--reports-base", "ftp://x"]) == 2
    assert "--reports-base may only link over http or https" in capsys.readouterr().err


def test_a_thousand_entries_render(base, tmp_path):
    """Readable at 1,000 commits: rendered, the step named, at most 20 commit labels, 50 table rows and the rest
    as links. No timing assertion (README and bench/report/trend.py give the measured times)."""
    entries = synthetic(base, 1000, step_at=600, seed=11)
    rendered = write_trend(build_trend(entries), tmp_path, "memory://history", "",
                           "https://ci.example.com/reports")
    html = text((tmp_path / "trend.html").read_text(encoding="utf-8"))
    assert [after for _, after, _ in CHANGE_ITEM.findall(html)] == [short(sha(600))] * 2
    assert "labelled every 50 commits" in html
    studies = html[html.index('<section id="studies">'):]
    assert studies.count("<tr><td>") == TABLE_ROWS
    assert studies.count('href="https://ci.example.com/reports/') == 1000
    assert len(PdfReader(tmp_path / "trend.pdf").pages) >= 3 and rendered.total_s > 0
