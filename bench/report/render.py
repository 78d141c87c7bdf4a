"""Render a report to one self-contained HTML file (Jinja2, autoescaped) and to PDF (WeasyPrint).

The PDF is made from the same HTML string, so both outputs show the same numbers. WeasyPrint's URL
fetcher refuses everything but the report's own embedded ``data:`` URIs: rendering never touches the
network or the file system.

The one template environment (with ``bench.format``'s formatters as filters) and the one PDF renderer
of fmbench: the comparison (``bench.report.compare``) renders through these too.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import jinja2
from weasyprint import HTML
from weasyprint.urls import URLFetcher

from bench import __version__
from bench.errors import BenchError
from bench.format import (
    count,
    format_duration,
    p_value,
    percent,
    plural,
    points,
    ratio,
    score,
    span,
    speed,
    unbreakable,
)
from bench.report.build import Report, clip
from bench.results import write_bytes_atomic

TEMPLATE_PACKAGE = "bench.templates"


class DataOnlyFetcher(URLFetcher):
    """A WeasyPrint URL fetcher that serves ``data:`` URIs and refuses (and records) everything else."""

    def __init__(self) -> None:
        super().__init__(allowed_protocols={"data"})
        self.refused: list[str] = []

    def fetch(self, url: str, headers=None):
        if not url.startswith("data:"):
            self.refused.append(url)
            raise ValueError(f"fmbench reports embed everything; refusing to fetch {url}")
        return super().fetch(url, headers)


def _template_source(name: str) -> str | None:
    """Templates ship inside the package (``bench.templates``), so installed wheels find them too; None
    tells Jinja a template is missing (``TemplateNotFound``, naming it)."""
    node = resources.files(TEMPLATE_PACKAGE).joinpath(*name.split("/"))
    return node.read_text(encoding="utf-8") if node.is_file() else None


def stylesheet(name: str) -> str:
    """A CSS file shipped with the templates, inlined into a page (which may load nothing)."""
    source = _template_source(name)
    if source is None:
        raise jinja2.TemplateNotFound(name)
    return source


def _html(formatter):
    """A formatter as a filter: its spaces non-breaking, so no line breaks between a number and its unit."""
    return lambda *args, **kwargs: unbreakable(formatter(*args, **kwargs))


FILTERS = {"count": count, "duration": format_duration, "p_value": p_value, "percent": percent, "plural": plural,
           "points": points, "ratio": ratio, "score": score, "speed": speed}


def template_environment() -> jinja2.Environment:
    """Autoescaped: folder names, study names and package versions are user-controlled text."""
    env = jinja2.Environment(loader=jinja2.FunctionLoader(_template_source), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update({name: _html(formatter) for name, formatter in FILTERS.items()})
    env.filters["clip"] = lambda value, metric: clip(metric, value)  # a filter takes the value first
    env.globals["span"] = span
    return env


def render_html(report: Report) -> str:
    css = stylesheet("report.css")
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return template_environment().get_template("base.html").render(report=report, css=css, version=__version__,
                                                                   generated=generated)


def render_pdf(html: str, fetcher: DataOnlyFetcher | None = None) -> bytes:
    """The PDF of a page whose every image and style is embedded: the fetcher refuses anything else."""
    return HTML(string=html, url_fetcher=fetcher or DataOnlyFetcher()).write_pdf()


@dataclass
class Rendered:
    """What was written, and how long each step took (seconds)."""

    paths: list[Path] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())

    def describe(self) -> str:
        steps = ", ".join(f"{name} {format_duration(s, digits=1)}" for name, s in self.seconds.items())
        return f"rendered in {format_duration(self.total_s, digits=1)} ({steps})"


def default_out(report: Report) -> Path:
    """reports/<study name>[+<study name>...], anything but letters, digits and ._+- replaced by _."""
    name = re.sub(r"[^A-Za-z0-9._+-]+", "_", "+".join(report.studies)).strip("._+") or "report"
    return Path("reports") / name[:80]


def write_report(report: Report, out: Path, html: bool = True, pdf: bool = True) -> Rendered:
    """Write ``out/report.html`` and/or ``out/report.pdf``; both are rendered before either is written."""
    if out.exists() and not out.is_dir():
        raise BenchError(f"--out must be a folder, but {out} is a file", fix="pass a folder such as reports/NAME")
    rendered = Rendered()
    start = time.perf_counter()
    page = render_html(report)
    rendered.seconds["HTML"] = time.perf_counter() - start
    outputs = [(out / "report.html", page.encode("utf-8"))] if html else []
    if pdf:
        start = time.perf_counter()
        outputs.append((out / "report.pdf", render_pdf(page)))
        rendered.seconds["PDF"] = time.perf_counter() - start
    for path, data in outputs:
        write_bytes_atomic(path, data)
        rendered.paths.append(path)
    return rendered
