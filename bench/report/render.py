"""Render a report to one self-contained HTML file (Jinja2, autoescaped) and to PDF (WeasyPrint).

The PDF is made from the same HTML string, so both outputs show the same numbers. WeasyPrint's URL
fetcher refuses everything but the report's own embedded ``data:`` URIs: rendering never touches the
network or the file system.
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
from bench.report.build import Report
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


def _template_source(name: str) -> str:
    """Templates ship inside the package (``bench.templates``), so installed wheels find them too."""
    node = resources.files(TEMPLATE_PACKAGE)
    for part in name.split("/"):
        node = node.joinpath(part)
    return node.read_text(encoding="utf-8")


def template_environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FunctionLoader(_template_source), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_html(report: Report) -> str:
    css = _template_source("report.css")
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return template_environment().get_template("base.html").render(report=report, css=css, version=__version__,
                                                                   generated=generated)


def render_pdf(html: str, fetcher: DataOnlyFetcher | None = None) -> bytes:
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
        steps = ", ".join(f"{name} {s:.1f} s" for name, s in self.seconds.items())
        return f"rendered in {self.total_s:.1f} s ({steps})"


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
