"""The typeset PDF: an A5 book with title page, contents, part pages and chapters.

The package's public API is what ``catalog.ebook`` exports; ``build_pdf`` is the entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from fpdf import FPDF, XPos, YPos

from catalog.ebook import markdown
from catalog.ebook.book import (
    BookText,
    Chapter,
    ImageFile,
    Progress,
    check,
    label,
    parts,
    rendering,
)
from catalog.ebook.pdf_body import BODY_PT, INDENT, PdfBody
from catalog.ebook.pdf_page import BookPdf

if TYPE_CHECKING:
    from fpdf.outline import OutlineSection

_CHAPTER_TITLE_PT = 20.0
_TOC_ROW = 6.5
_TOC_NUMBER_WIDTH = 12.0
_TOC_HEADING = 16.0  # mm taken by the "Contents" title


def build_pdf(book: BookText, *, progress: Progress | None = None) -> bytes:
    """A typeset A5 PDF: title page, table of contents, part pages, then the chapters.

    ``validate(book)`` runs first. ``progress(done, total, chapter)`` is called after each
    chapter is typeset; a chapter that fails raises ManuscriptError naming its source.
    """
    images = check(book)
    pdf = BookPdf()
    pdf.set_title(book.title)
    pdf.set_subject(book.subtitle)
    pdf.set_author(", ".join(book.authors))
    pdf.set_lang(book.language)
    pdf.set_creator("Storefront")
    _pdf_title_page(pdf, book)
    _pdf_toc_placeholder(pdf, book)
    done, total = 0, len(book.chapters)
    for part, chapters in parts(book):
        if part:
            _pdf_part_page(pdf, part)
        for chapter in chapters:
            done += 1
            with rendering(chapter, done):
                _pdf_chapter(pdf, chapter, images, level=1 if part else 0)
            if progress is not None:
                progress(done, total, chapter)
    return bytes(pdf.output())


def _pdf_title_page(pdf: BookPdf, book: BookText) -> None:
    pdf.add_page()
    pdf.set_y(60)
    _centered(pdf, book.title, "B", 24, line=10)
    if book.subtitle:
        pdf.ln(3)
        _centered(pdf, book.subtitle, "", 14, line=7)
    pdf.ln(14)
    _centered(pdf, ", ".join(book.authors), "", 12, line=6)
    pdf.set_y(-40)
    _centered(pdf, f"{label(book, 'version')} {book.version}", "", 9, line=5)


def _centered(pdf: BookPdf, text: str, style: str, size: float, *, line: float) -> None:
    pdf.typefaces.use("sans", style, size)
    pdf.set_x(pdf.l_margin)
    pdf.multi_cell(
        0, line, pdf.typefaces.clean(text), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )


def _pdf_toc_placeholder(pdf: BookPdf, book: BookText) -> None:
    """Reserve the contents pages now; fpdf2 fills them in once page numbers are known.

    fpdf2 insists that the contents fill exactly the pages reserved, so rows are one line
    each and the page breaks are ours, computed from the same row count.
    """
    pdf.add_page()
    rows_per_page = int((pdf.eph - _TOC_HEADING - 0.01) // _TOC_ROW)
    entries = len(book.chapters) + sum(1 for part, _ in parts(book) if part)
    pages = -(-entries // rows_per_page)  # ceiling division

    def render(_: FPDF, outline: list[OutlineSection]) -> None:
        _centered(pdf, label(book, "contents"), "B", 16, line=8)
        pdf.ln(_TOC_HEADING - 8)
        for i, section in enumerate(outline):
            if i and i % rows_per_page == 0:
                pdf.add_page()
                pdf.ln(_TOC_HEADING)
            _pdf_toc_row(pdf, section)

    pdf.insert_toc_placeholder(render, pages=pages)
    # fpdf2 moves on to a new, empty page after the reserved ones: the first chapter's.
    pdf.mark_page_blank()


def _pdf_toc_row(pdf: BookPdf, section: OutlineSection) -> None:
    link = pdf.add_link(page=section.page_number)
    number = str(section.page_number)
    indent = section.level * INDENT
    pdf.typefaces.use("sans", "B" if section.level == 0 else "", BODY_PT)
    width = pdf.epw - indent - _TOC_NUMBER_WIDTH
    pdf.set_x(pdf.l_margin + indent)
    pdf.cell(width, _TOC_ROW, _fit(pdf, pdf.typefaces.clean(section.name), width), link=link)
    pdf.cell(0, _TOC_ROW, number, align="R", link=link, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _fit(pdf: FPDF, text: str, width: float) -> str:
    """``text`` shortened with an ellipsis until it fits on one line of ``width`` mm."""
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "…") > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _pdf_part_page(pdf: BookPdf, part: str) -> None:
    pdf.start_page()
    pdf.set_y(pdf.h / 3)
    pdf.start_section(part, level=0)
    _centered(pdf, part, "B", 22, line=10)


def _pdf_chapter(
    pdf: BookPdf, chapter: Chapter, images: Mapping[str, ImageFile], *, level: int
) -> None:
    pdf.start_page()
    pdf.start_section(chapter.title, level=level)
    pdf.typefaces.use("sans", "B", _CHAPTER_TITLE_PT)
    pdf.multi_cell(0, 9, pdf.typefaces.clean(chapter.title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(6)
    PdfBody(pdf, images).render(markdown.parse(chapter.markdown, top_heading=2))
