"""The PDF's page: A5, the book's margins and fonts, and a page number at the foot.

Its own module so that ``pdf`` (the book's layout) and ``pdf_body`` (a chapter's text)
both build on it without importing each other.
"""

from __future__ import annotations

from fpdf import FPDF

from catalog.ebook import fonts

_MARGIN = 16.0  # mm: left, right and top on A5
_BOTTOM_MARGIN = 20.0  # room for the page number


class BookPdf(FPDF):
    """An A5 page with the page number at the foot of every page but the title page."""

    def __init__(self) -> None:
        super().__init__(format=(148, 210), unit="mm")  # A5; the name warns on fpdf2 2.8
        self.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.c_margin = 0  # text sits flush with the margins; code blocks pad themselves
        self.set_auto_page_break(auto=True, margin=_BOTTOM_MARGIN)
        self.typefaces = fonts.Typefaces(self, fonts.DEJAVU_DIR)
        self._page_is_blank = False

    def start_page(self) -> None:
        """Begin a part or chapter on a fresh page."""
        if self._page_is_blank:
            self._page_is_blank = False
        else:
            self.add_page()

    def mark_page_blank(self) -> None:
        """Note that the current page is empty, so the next ``start_page()`` can use it."""
        self._page_is_blank = True

    def footer(self) -> None:
        if self.page_no() == 1:
            return
        self.set_y(-12)
        self.typefaces.use("sans", "", 8)
        self.set_text_color(110)
        self.cell(0, 4, str(self.page_no()), align="C")
        self.set_text_color(0)
