"""How a report falls onto PDF pages, read from WeasyPrint's own layout (the boxes it draws), not guessed
from extracted text: which table rows a page break cut in two, and which pages are nearly empty."""

from __future__ import annotations

from weasyprint import HTML
from weasyprint.formatting_structure import boxes

from bench.report.render import DataOnlyFetcher

NEAR_EMPTY = 1 / 3  # a page filled less than this, that does not end a section, wastes paper


def _walk(box):
    yield box
    for child in getattr(box, "children", []):
        if not isinstance(child, boxes.MarginBox):  # page numbers and running titles are not content
            yield from _walk(child)


def _header_rows(page) -> set[int]:
    """Rows of a table's head, which WeasyPrint repeats on every page a table spans (by design)."""
    return {id(row.element) for group in _walk(page) if isinstance(group, boxes.TableRowGroupBox) and group.is_header
            for row in group.children}


def split_rows(document) -> list[str]:
    """Table rows drawn on more than one page, by their text."""
    pages_of: dict[int, list[int]] = {}
    texts: dict[int, str] = {}
    for number, page in enumerate(document.pages, start=1):
        header = _header_rows(page._page_box)
        for box in _walk(page._page_box):
            if isinstance(box, boxes.TableRowBox) and id(box.element) not in header:
                pages_of.setdefault(id(box.element), []).append(number)
                texts[id(box.element)] = " ".join("".join(box.element.itertext()).split())[:60]
    return [f"row '{texts[key]}' on pages {pages}" for key, pages in pages_of.items() if len(set(pages)) > 1]


def fullness(page) -> float:
    """The share of a page's content area, from its top, down to the lowest thing drawn on it."""
    box = page._page_box
    top, height = box.content_box_y(), box.height
    drawn = (boxes.TextBox, boxes.ReplacedBox, boxes.TableRowBox)
    bottom = max((b.position_y + b.margin_height() for b in _walk(box) if isinstance(b, drawn)), default=top)
    return (bottom - top) / height


def starts_a_section(page) -> bool:
    box = page._page_box
    heads = [b.position_y for b in _walk(box) if isinstance(b, boxes.BlockBox) and b.element_tag == "h2"]
    return any(y <= box.content_box_y() + 30 for y in heads)


def near_empty_pages(document) -> list[str]:
    """Pages under a third full, except one that ends a section (the next page starts one) or the last."""
    pages = document.pages
    return [f"page {i + 1} of {len(pages)} is {fullness(page):.0%} full" for i, page in enumerate(pages[:-1])
            if fullness(page) < NEAR_EMPTY and not starts_a_section(pages[i + 1])]


def layout(html: str):
    return HTML(string=html, url_fetcher=DataOnlyFetcher()).render()
