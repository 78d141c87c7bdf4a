"""The trend page (``fmbench trend``): a ``Trend`` (``bench.analysis.trend``) as one HTML page and its PDF.

Same machinery as the report and the comparison: the one Jinja environment (autoescaped; every number
through ``bench.format``'s filters), ``report.css`` plus a few trend rules, figures as embedded PNGs
(``bench.report.figures``), and the one PDF renderer, whose fetcher refuses everything but ``data:`` URIs.

Readable at 1,000 commits: the figure's width is fixed (the A4 text width), dots shrink and lines thin as
commits grow, at most ``MAX_TICKS`` commit labels are drawn (every k-th commit), and change markers carry a
short label in the figure and their full sentence in the page's text.

Render time, measured (``write_trend`` after ``build_trend``; synthetic history from the real tiny-a entry: 2
models x 3 seeds a commit, one machine, a 3-point step; 2-core VM with other work running, median of 3, change
calibration cache cleared): 200 entries: analysis 0.20 s, figures 0.99 s, HTML 0.07 s, PDF 3.36 s, 4.6 s in
all (HTML 490 kB, PDF 345 kB); 1,000 entries: 0.43 + 1.44 + 0.07 + 4.29 = 6.2 s (HTML 715 kB, PDF 474 kB).
Two machines of 1,000 commits each (2,000 entries): 7.5 s. The PDF is most of it: with every study a table
row, 400 entries took 13 s and 2,000 entries 90 s, hence ``TABLE_ROWS``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from bench import __version__
from bench.analysis.changes import DESIGN_RATE
from bench.analysis.trend import ModelTrend, Series, Trend, short
from bench.format import plural
from bench.report.figures import WIDTH_IN, Picture, chart
from bench.report.links import report_link
from bench.report.render import Rendered, render_pdf, stylesheet, template_environment
from bench.results import write_bytes_atomic
from bench.results.history import HistoryEntry

HTML_NAME = "trend.html"
PDF_NAME = "trend.pdf"
MAX_TICKS = 20  # commit labels on the x axis: 20 rotated 7-character labels fill 6.8 in without overlapping
COLORS = [f"C{i}" for i in range(10)]  # matplotlib's default cycle: one colour per series, in the legend too
# Studies shown as table rows (newest first); every earlier one is a commit link in one paragraph. WeasyPrint
# sizes an auto-layout table by shaping every cell's text: 400 rows took 11 of a 13 s PDF, 2,000 rows 90 s.
TABLE_ROWS = 50


@dataclass(frozen=True)
class StudyRow:
    """One history entry in the page's table of studies (newest first), with its report link if any."""

    commit: str
    link: str | None
    when: str
    branch: str | None
    subject: str | None
    study: str
    machine_id: str
    stack_id: str
    profile: str
    seeds: int
    means: list[tuple[str, float]]


@dataclass
class ModelView:
    trend: ModelTrend
    anchor: str
    figure: Picture
    colors: list[str]
    tick_every: int
    links: dict[str, str | None] = field(default_factory=dict)  # short commit -> its study's report


@dataclass
class TrendPage:
    title: str
    meta: list[tuple[str, str]]
    models: list[ModelView]
    trend: Trend
    studies: list[StudyRow]  # newest first: the first TABLE_ROWS in a table, the rest as links
    table_rows: int = TABLE_ROWS
    design_rate: float = DESIGN_RATE


def tick_step(n_commits: int, most: int = MAX_TICKS) -> int:
    """Label every k-th commit so that at most ``most`` labels are drawn."""
    return max(1, math.ceil(n_commits / most))


def _sizes(n_commits: int) -> tuple[float, float]:
    """Dot area (pt²) and line width for a series of ``n_commits``: at 1,000 commits x 3 seeds, dots of
    area 9 merged into a solid smear; area 1.5 and 0.6-pt lines keep the band and the steps visible."""
    if n_commits <= 60:
        return 9.0, 1.2
    return (4.0, 0.9) if n_commits <= 300 else (1.5, 0.6)


def _accuracy_panel(ax, view_series: list[Series], colors: list[str], n_commits: int) -> None:
    dot, line = _sizes(n_commits)
    for s, color in zip(view_series, colors, strict=True):
        xs = np.array([p.x for p in s.points], dtype=float)
        seeds_x = np.concatenate([[p.x] * len(p.accuracies) for p in s.points])
        seeds_y = np.concatenate([p.accuracies for p in s.points]) * 100
        ax.scatter(seeds_x, seeds_y, s=dot, color=color, alpha=0.55, linewidths=0, zorder=3)
        ax.fill_between(xs, [p.low * 100 for p in s.points], [p.high * 100 for p in s.points], color=color,
                        alpha=0.18, linewidth=0, zorder=1)
        ax.plot(xs, [p.mean * 100 for p in s.points], color=color, linewidth=line, zorder=4,
                marker="o" if len(xs) == 1 else None, markersize=3, label=s.label)
        for marker in s.markers:
            ax.axvline(marker.x, color=color, linestyle="--", linewidth=0.9, zorder=5)
            ax.annotate(marker.short_label, xy=(marker.x, 0.98), xycoords=("data", "axes fraction"), rotation=90,
                        ha="right", va="top", fontsize=6.5, color=color,
                        bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "alpha": 0.7, "linewidth": 0})
    ax.set_ylabel("test accuracy (%)")


def _speed_panel(ax, view_series: list[Series], colors: list[str], what: str, n_commits: int) -> bool:
    """Mean over seeds as a line, lowest to highest seed as a band; False if no series measured ``what``."""
    _, line = _sizes(n_commits)
    drawn = False
    for s, color in zip(view_series, colors, strict=True):
        kept = [(p.x, getattr(p, what)) for p in s.points if getattr(p, what) is not None]
        if not kept:
            continue
        xs = np.array([x for x, _ in kept], dtype=float)
        ax.fill_between(xs, [v.low for _, v in kept], [v.high for _, v in kept], color=color, alpha=0.18,
                        linewidth=0)
        ax.plot(xs, [v.mean for _, v in kept], color=color, linewidth=line, marker="o" if len(xs) == 1 else None,
                markersize=3)
        for marker in s.markers:
            ax.axvline(marker.x, color=color, linestyle="--", linewidth=0.6, alpha=0.6)
        drawn = True
    ax.set_ylim(bottom=0)
    return drawn


def _has(trend: ModelTrend, what: str) -> bool:
    return any(getattr(p, what) is not None for s in trend.series for p in s.points)


@chart
def trend_figure(trend: ModelTrend, colors: list[str]) -> Figure:
    """Accuracy per commit (seeds, mean, band, change markers) over epoch-time and images/s panels."""
    with matplotlib.rc_context({"text.parse_math": False}):  # labels are data: a "$" is a dollar sign
        panels = [("accuracy", 2.6)] + [(w, 1.25) for w in ("epoch_s", "images_per_s") if _has(trend, w)]
        fig = Figure(figsize=(WIDTH_IN, 0.9 + sum(h for _, h in panels)), layout="constrained")
        axes = fig.subplots(len(panels), 1, sharex=True, height_ratios=[h for _, h in panels], squeeze=False)[:, 0]
        n = len(trend.commits)
        _accuracy_panel(axes[0], trend.series, colors, n)
        labels = {"epoch_s": "s per epoch\n(steady state)", "images_per_s": "images/s\n(inference)"}
        for ax, (what, _) in zip(axes[1:], panels[1:], strict=True):
            _speed_panel(ax, trend.series, colors, what, n)
            ax.set_ylabel(labels[what])
        step = tick_step(n)
        ticks = list(range(0, n, step))
        axes[-1].set_xticks(ticks, [short(trend.commits[i]) for i in ticks], rotation=60, ha="right", fontsize=6.5)
        axes[-1].set_xlim(-0.5, max(n, 2) - 0.5)
        axes[-1].set_xlabel(f"commit, in commit-time order ({plural(n, 'commit')}"
                            f"{f'; labelled every {step} commits' if step > 1 else ''})")
        fig.legend(loc="outside upper center", ncols=min(2, len(trend.series)), fontsize=7, frameon=False)
        return fig


def _links(trend: ModelTrend, entries: list[HistoryEntry], base: str | None) -> dict[str, str | None]:
    """Short commit -> the report of its (first) study, for the tables' commits."""
    first = {}
    for e in entries:
        first.setdefault(short(e.commit), report_link(base, e.commit, e.study, e.branch))
    return {p.short: first.get(p.short) for s in trend.series for p in s.points}


def model_view(index: int, trend: ModelTrend, entries: list[HistoryEntry], base: str | None) -> ModelView:
    colors = [COLORS[i % len(COLORS)] for i in range(len(trend.series))]
    figure = trend_figure(trend, colors)
    links = _links(trend, entries, base)
    return ModelView(trend, f"model-{index + 1}", figure, [to_hex(c) for c in colors], tick_step(len(trend.commits)),
                     links)


def study_rows(entries: list[HistoryEntry], base: str | None) -> list[StudyRow]:
    rows = []
    for e in reversed(entries):
        means = [(m, math.fsum(r.test_accuracy for r in e.runs if r.model == m) / len(e.seeds)) for m in e.models]
        rows.append(StudyRow(short(e.commit), report_link(base, e.commit, e.study, e.branch),
                             e.when.astimezone(UTC).strftime("%Y-%m-%d %H:%M"), e.branch, e.subject, e.study,
                             e.machine_id, e.stack_id, e.profile, len(e.seeds), means))
    return rows


def build_page(trend: Trend, location: str, filters: str, base: str | None = None) -> TrendPage:
    """Everything the template shows: figures drawn, links made, tables in order."""
    entries = trend.entries
    first, last = entries[0].when.astimezone(UTC), entries[-1].when.astimezone(UTC)
    machines = {(e.machine_id, e.stack_id) for e in entries}
    places = plural(len(machines), "machine and stack", "machines and stacks")
    meta = [("History", location), ("Filters", filters or "none"),
            ("Entries", f"{plural(len(entries), 'entry', 'entries')} from {places}"),
            ("Commits", f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC"),
            ("Window", f"the latest commit of each series against up to {plural(trend.window, 'commit')} before it")]
    views = [model_view(i, m, entries, base) for i, m in enumerate(trend.models)]
    return TrendPage(f"fmbench trend: {', '.join(m.model for m in trend.models)}", meta, views, trend,
                     study_rows(entries, base))


def render_html(page: TrendPage) -> str:
    css = stylesheet("report.css") + "\n" + stylesheet("trend.css")
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return template_environment().get_template("trend.html").render(page=page, css=css, version=__version__,
                                                                    generated=generated)


def write_trend(trend: Trend, out: Path, location: str, filters: str = "", base: str | None = None) -> Rendered:
    """Write ``out/trend.html`` and ``out/trend.pdf``; both are rendered before either is written."""
    rendered = Rendered()
    start = time.perf_counter()
    page = build_page(trend, location, filters, base)
    rendered.seconds["figures"] = time.perf_counter() - start
    start = time.perf_counter()
    html = render_html(page)
    rendered.seconds["HTML"] = time.perf_counter() - start
    start = time.perf_counter()
    pdf = render_pdf(html)
    rendered.seconds["PDF"] = time.perf_counter() - start
    for path, data in ((Path(out) / HTML_NAME, html.encode("utf-8")), (Path(out) / PDF_NAME, pdf)):
        write_bytes_atomic(path, data)
        rendered.paths.append(path)
    return rendered
