"""Rendering: the PDF renderer fetches nothing but embedded data, templates ship in the package, and
output files appear whole or not at all."""

from __future__ import annotations

from importlib import resources
from io import BytesIO

import jinja2
import numpy as np
import pytest
from pypdf import PdfReader

from bench.errors import BenchError
from bench.report import figures
from bench.report.build import APPENDICES, SECTIONS
from bench.report.render import (
    DataOnlyFetcher,
    Rendered,
    default_out,
    render_pdf,
    stylesheet,
    template_environment,
    write_report,
)

PIXEL = figures.image_uri(np.zeros((2, 2), dtype=np.uint8), scale=1)


def test_the_pdf_fetcher_serves_data_uris_and_refuses_everything_else(tmp_path):
    secret = tmp_path / "secret.css"
    secret.write_text("body { color: red }")
    html = (f'<html><head><link rel="stylesheet" href="{secret.as_uri()}">'
            '<link rel="stylesheet" href="http://127.0.0.1:9/x.css"></head>'
            f'<body><p>hello</p><img src="{PIXEL}"><img src="https://example.invalid/y.png"></body></html>')
    fetcher = DataOnlyFetcher()
    pdf = render_pdf(html, fetcher)
    assert sorted(fetcher.refused) == sorted([secret.as_uri(), "http://127.0.0.1:9/x.css",
                                              "https://example.invalid/y.png"])
    assert "hello" in PdfReader(BytesIO(pdf)).pages[0].extract_text()


def test_every_template_ships_in_the_package():
    package = resources.files("bench.templates")
    assert package.joinpath("base.html").is_file() and package.joinpath("report.css").is_file()
    for anchor, _, _ in SECTIONS + APPENDICES:
        assert package.joinpath("partials").joinpath(f"{anchor}.html").is_file(), anchor


def test_a_missing_template_or_stylesheet_is_named():
    """Report and comparison share one environment: a missing file is Jinja's TemplateNotFound, naming it."""
    with pytest.raises(jinja2.TemplateNotFound, match=r"partials/nothing\.html"):
        template_environment().get_template("partials/nothing.html")
    with pytest.raises(jinja2.TemplateNotFound, match=r"nothing\.css"):
        stylesheet("nothing.css")
    assert template_environment().get_template("compare.html") and stylesheet("compare.css")


def test_template_filters_keep_a_number_with_its_unit():
    page = template_environment().from_string("{{ 0.87523 | percent }} {{ -0.005 | points }} {{ 2 | plural('seed') }} "
                                              "{{ 1.2 | clip('test_accuracy') | percent }}")
    assert page.render() == "87.52\u00a0% -0.50\u00a0points 2\u00a0seeds 100.00\u00a0%"


def test_render_times_are_durations():
    assert Rendered(seconds={"HTML": 0.42, "PDF": 2.5}).describe() == "rendered in 2.9 s (HTML 0.4 s, PDF 2.5 s)"


class Named:
    def __init__(self, *studies):
        self.studies = list(studies)


@pytest.mark.parametrize(("studies", "expected"), [(["smoke"], "smoke"), (["a/b", "c"], "a_b+c"),
                                                   (["<script>"], "script"), (["..."], "report")])
def test_default_out_is_a_safe_folder_name(studies, expected):
    assert default_out(Named(*studies)).as_posix() == f"reports/{expected}"


def test_out_must_not_be_a_file(tmp_path):
    out = tmp_path / "report"
    out.write_text("not a folder")
    with pytest.raises(BenchError, match="--out must be a folder"):
        write_report(Named("x"), out)
    assert out.read_text() == "not a folder"


def test_the_page_layout_check_finds_a_split_row_and_a_near_empty_page():
    import pagelayout

    tall = "<br>".join(["line"] * 30)
    rows = "".join(f"<tr><td>row {i}</td><td>{tall}</td></tr>" for i in range(4))
    split = pagelayout.layout(f"<html><body><table>{rows}</table></body></html>")
    assert pagelayout.split_rows(split), "a 30-line row across a page foot must be found"
    whole = pagelayout.layout(f"<html><head><style>tr {{ break-inside: avoid }}</style></head><body><table>{rows}"
                              "</table></body></html>")
    assert pagelayout.split_rows(whole) == []
    empty = pagelayout.layout('<html><body><p>one line</p><p style="break-before: page">next</p>'
                              '<h2 style="break-before: page">A section</h2></body></html>')
    assert pagelayout.near_empty_pages(empty) == ["page 1 of 3 is 4% full"]  # page 2 ends a section: allowed
