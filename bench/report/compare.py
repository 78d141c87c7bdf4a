"""Render a ``Comparison`` as a self-contained HTML page and a PDF (figures inlined as data: URIs)."""

from __future__ import annotations

import base64
import io
import math
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import jinja2

from bench.analysis.compare import Comparison
from bench.analysis.significance import SEEDS_LIMIT
from bench.analysis.stats import Summary
from bench.results import write_bytes_atomic

HTML_NAME = "comparison.html"
PDF_NAME = "comparison.pdf"


def _template_source(name: str) -> str | None:
    path = resources.files("bench.templates").joinpath(*name.split("/"))
    return path.read_text(encoding="utf-8") if path.is_file() else None


def template_environment() -> jinja2.Environment:
    """Autoescaped: folder names, study names and package versions are user-controlled text."""
    env = jinja2.Environment(loader=jinja2.FunctionLoader(_template_source), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(pct=format_percent, accuracy_bound=accuracy_bound, pts=format_points, pvalue=format_p,
                       ratio=format_ratio, seeds=format_seeds)
    return env


def format_percent(value: float) -> str:
    return f"{value * 100:.2f} %"


def accuracy_bound(value: float) -> float:
    """A t-interval over few seeds can reach past 0 or 1; accuracy cannot."""
    return min(1.0, max(0.0, value))


def format_points(value: float) -> str:
    return f"{value * 100:+.2f} pts"


def format_p(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "undefined"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def format_seeds(value: int | None) -> str:
    """Seeds advice; None means past the advisor's limit."""
    return f"over {SEEDS_LIMIT:,}" if value is None else f"{value:,}"


def format_ratio(value: float | None) -> str:
    return "–" if value is None else f"× {value:.2f}"


def accuracy_figure(comparison: Comparison) -> str:
    """Per model, one marker per study: mean and 95 % CI, seeds as dots. Returns a PNG data: URI."""
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
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=130)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _plot_summary(ax, summary: Summary, y: float, color: str) -> None:
    ax.scatter([v * 100 for v in summary.values], [y] * summary.n, s=12, color="0.6", zorder=2)
    low, high = (summary.ci_low, summary.ci_high) if summary.ci_low is not None else (summary.mean, summary.mean)
    low, high = accuracy_bound(low), accuracy_bound(high)
    ax.errorbar([summary.mean * 100], [y], xerr=[[(summary.mean - low) * 100], [(high - summary.mean) * 100]],
                fmt="o", color=color, capsize=4, zorder=3)


def render_html(comparison: Comparison) -> str:
    env = template_environment()
    profiles = {s.manifest.profile for s in comparison.studies}
    return env.get_template("compare.html").render(
        comparison=comparison, figure=accuracy_figure(comparison), css=_template_source("compare.css"),
        created=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), profiles_differ=len(profiles) > 1)


def render_pdf(html: str) -> bytes:
    """WeasyPrint with a fetcher that allows data: URIs only: the PDF never reaches a network or disk."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    return HTML(string=html, url_fetcher=URLFetcher(allowed_protocols={"data"})).write_pdf()


def write_comparison(comparison: Comparison, out: Path) -> tuple[Path, Path]:
    """Write ``comparison.html`` and ``comparison.pdf`` into ``out`` (each atomically)."""
    html = render_html(comparison)
    pdf = render_pdf(html)
    out = Path(out)
    write_bytes_atomic(out / HTML_NAME, html)
    write_bytes_atomic(out / PDF_NAME, pdf)
    return out / HTML_NAME, out / PDF_NAME
