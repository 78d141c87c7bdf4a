"""Render a ``Comparison`` as a self-contained HTML page and a PDF (figures inlined as data: URIs).

Templates, number formats, the PNG encoder and the PDF renderer are the report's (``render``, ``figures``,
``bench.format``), so a number reads the same in a comparison as in a report.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bench.analysis.compare import Comparison
from bench.analysis.compare_verdict import verdict
from bench.analysis.significance import SEEDS_LIMIT
from bench.analysis.stats import Summary
from bench.format import unbreakable
from bench.report.build import clip
from bench.report.figures import Picture, figure_picture
from bench.report.render import render_pdf, stylesheet, template_environment
from bench.results import write_bytes_atomic

HTML_NAME = "comparison.html"
PDF_NAME = "comparison.pdf"


def accuracy_figure(comparison: Comparison) -> Picture:
    """Per model, one marker per study: mean and 95 % CI, seeds as dots."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no display backend

    n_studies = len(comparison.labels)
    fig = Figure(figsize=(7.5, 0.9 + 0.45 * n_studies * len(comparison.models)))
    ax = fig.add_subplot()
    ticks, names = [], []
    for m, model in enumerate(comparison.models):
        for i, summary in enumerate(comparison.accuracy[model]):
            ticks.append(m * (n_studies + 1) + i)
            names.append(f"{model} · {comparison.labels[i]}")
            if summary is not None:
                _plot_summary(ax, summary, ticks[-1], f"C{i}")
    ax.set_yticks(ticks, names)
    ax.invert_yaxis()
    ax.set_xlabel("test accuracy (%)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return figure_picture(fig)


def _plot_summary(ax, summary: Summary, y: float, color: str) -> None:
    ax.scatter([v * 100 for v in summary.values], [y] * summary.n, s=12, color="0.6", zorder=2)
    low, high = (summary.ci_low, summary.ci_high) if summary.ci_low is not None else (summary.mean, summary.mean)
    low, high = clip("test_accuracy", low), clip("test_accuracy", high)
    ax.errorbar([summary.mean * 100], [y], xerr=[[(summary.mean - low) * 100], [(high - summary.mean) * 100]],
                fmt="o", color=color, capsize=4, zorder=3)


def render_html(comparison: Comparison) -> str:
    profiles = {s.manifest.profile for s in comparison.studies}
    return template_environment().get_template("compare.html").render(
        comparison=comparison, figure=accuracy_figure(comparison), css=stylesheet("compare.css"),
        created=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), profiles_differ=len(profiles) > 1,
        seeds_limit=SEEDS_LIMIT, verdict=verdict(comparison, glue=unbreakable))


def write_comparison(comparison: Comparison, out: Path) -> tuple[Path, Path]:
    """Write ``comparison.html`` and ``comparison.pdf`` into ``out`` (each atomically)."""
    html = render_html(comparison)
    pdf = render_pdf(html)
    out = Path(out)
    write_bytes_atomic(out / HTML_NAME, html)
    write_bytes_atomic(out / PDF_NAME, pdf)
    return out / HTML_NAME, out / PDF_NAME
