"""A chapter's body in the PDF: markdown-it tokens drawn with fpdf2.

The package's public API is what ``catalog.ebook`` exports; the names here are for its
own modules.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import TYPE_CHECKING

from fpdf import XPos, YPos
from markdown_it.token import Token

from catalog.ebook import markdown
from catalog.ebook.book import ImageFile
from catalog.ebook.pdf_page import BookPdf

if TYPE_CHECKING:
    from fpdf.text_region import Paragraph

_MM_PER_PT = 25.4 / 72
BODY_PT = 10.0
_BODY_LEADING = 1.45  # line height as a multiple of the font size
_HEADING_LEADING = 1.25
_LINE = BODY_PT * _MM_PER_PT * _BODY_LEADING  # mm
_CODE_PT = 8.0
_CODE_LINE = 3.8
_GAP = 2.5  # mm between blocks
INDENT = 6.5  # mm per list or quote level
_HEADING_PT = {2: 14.0, 3: 12.0}  # deeper headings: bold body size
_CODE_BACKGROUND = (244, 244, 244)
_LINK_COLOR = (30, 80, 160)
_CAPTION_PT = 8.5
_CAPTION_LINE = 4.0
_CAPTION_COLOR = 90
_IMAGE_DPI = 96  # an image is shown at this resolution, or smaller to fit the page
_BREAKS = frozenset({"softbreak", "hardbreak"})
_TEXT = frozenset({"text", "code_inline", "softbreak", "hardbreak"})  # what draws something


class PdfBody:
    """Draws a chapter body's markdown-it tokens with fpdf2.

    Each paragraph or heading goes through one fpdf2 text region, which wraps a run of
    differently styled fragments as a whole; separate ``write()`` calls would break words
    in two wherever the style changes near the end of a line.
    """

    def __init__(self, pdf: BookPdf, images: Mapping[str, ImageFile]) -> None:
        self.pdf = pdf
        self.images = images
        self.typefaces = pdf.typefaces
        self._bold = 0  # counters, not flags, because emphasis nests (***both***)
        self._italic = 0
        self._heading_pt: float | None = None
        self._link = ""
        self._lists: list[int | None] = []  # next number of each open list; None = bullets
        self._margins: list[float] = []  # left margins to restore when an item or quote ends
        self._marker = ""  # list marker waiting for the item's first block

    def render(self, tokens: list[Token]) -> None:
        for token in tokens:
            self._block(token)

    def _block(self, token: Token) -> None:
        match token.type:
            case "heading_open":
                self._open_heading(int(token.tag[1]))
            case "heading_close":
                self._heading_pt = None
                self.pdf.ln(_GAP / 2)
            case "paragraph_close" if not token.hidden:  # hidden: a tight list's item, no gap
                self.pdf.ln(_GAP)
            case "inline":
                self._inline_block(token.children or [])
            case "bullet_list_open" | "ordered_list_open":
                self._flush_marker()
                ordered = token.type == "ordered_list_open"
                self._lists.append(int(token.attrGet("start") or 1) if ordered else None)
            case "bullet_list_close" | "ordered_list_close":
                self._lists.pop()
                if not self._lists:
                    self.pdf.ln(_GAP)
            case "list_item_open":
                self._open_item()
            case "list_item_close":
                self._close_item()
            case "blockquote_open":
                self._flush_marker()
                self._indent()
                self._italic += 1
            case "blockquote_close":
                self._italic -= 1
                self._dedent()
            case "fence" | "code_block":
                self._code_block(token.content)
            case "hr":
                self._rule()

    def _open_heading(self, level: int) -> None:
        self._flush_marker()
        self._heading_pt = _HEADING_PT.get(level, BODY_PT)
        # Keep a heading with the first lines below it rather than alone at a page's foot.
        if (
            self.pdf.get_y() + 2 * self._heading_pt * _MM_PER_PT + 3 * _LINE
            > self.pdf.page_break_trigger
        ):
            self.pdf.add_page()
        else:
            self.pdf.ln(_GAP)

    def _indent(self) -> None:
        self._margins.append(self.pdf.l_margin)
        self.pdf.set_left_margin(self.pdf.l_margin + INDENT)

    def _dedent(self) -> None:
        self.pdf.set_left_margin(self._margins.pop())
        self.pdf.set_x(self.pdf.l_margin)

    def _open_item(self) -> None:
        number = self._lists[-1]
        if number is None:
            self._marker = "•"
        else:
            self._marker = f"{number}."
            self._lists[-1] = number + 1
        self._indent()  # the item's text wraps back under its first word, not its marker

    def _close_item(self) -> None:
        if self._marker:  # an empty item still shows its marker
            self._flush_marker()
            self.pdf.ln(_LINE)
        self._dedent()

    def _flush_marker(self) -> None:
        """Draw a pending list marker on its own, when the item starts with no paragraph."""
        if not self._marker:
            return
        self.typefaces.use("sans", "", BODY_PT)
        self.pdf.set_x(self.pdf.l_margin - INDENT)
        self.pdf.cell(INDENT, _LINE, self.typefaces.clean(self._marker))
        self._marker = ""

    def _inline_block(self, children: list[Token]) -> None:
        """A paragraph's or heading's content: text as text blocks, each image on its own."""
        if not any(child.type == "image" for child in children):
            self._text_block(children)
            return
        run: list[Token] = []
        for child in [*children, None]:
            if child is not None and child.type != "image":
                run.append(child)
                continue
            while run and run[0].type in _BREAKS:  # the line break next to an image
                run.pop(0)
            while run and run[-1].type in _BREAKS:
                run.pop()
            if any(token.type in _TEXT and token.content.strip() for token in run):
                self._text_block(run)
            else:  # nothing to draw, but emphasis or a link may open or close here
                for token in run:
                    self._style(token)
            run = []
            if child is not None:
                self._image(child)

    def _image(self, token: Token) -> None:
        """The image centred, as large as it is at 96 dpi or as fits, its alt text below."""
        key = markdown.find_image(token, self.images)
        if key is None:  # cannot happen after check(); an image is never worth a crash
            return
        image = self.images[key]
        self._flush_marker()
        pdf = self.pdf
        caption = " ".join(self.typefaces.clean(markdown.alt_text(token)).split())
        width_available = pdf.w - pdf.l_margin - pdf.r_margin
        caption_height = 0.0
        if caption:
            self.typefaces.use("sans", "I", _CAPTION_PT)
            lines = pdf.multi_cell(
                width_available, _CAPTION_LINE, caption, dry_run=True, output="LINES"
            )
            caption_height = 1.5 + len(lines) * _CAPTION_LINE
        height_available = max(pdf.eph / 3, pdf.eph - caption_height - _GAP)
        width = min(width_available, image.width * 25.4 / _IMAGE_DPI)
        height = width * image.height / image.width
        if height > height_available:
            height, width = height_available, height_available * image.width / image.height
        if pdf.get_y() + height + caption_height > pdf.page_break_trigger:
            pdf.add_page()
        y = pdf.get_y()
        x = pdf.l_margin + (width_available - width) / 2
        pdf.image(io.BytesIO(image.data), x=x, y=y, w=width, h=height, link=self._link)
        pdf.set_y(y + height)
        if caption:
            pdf.ln(1.5)
            color = pdf.text_color
            pdf.set_text_color(_CAPTION_COLOR)
            pdf.multi_cell(
                0, _CAPTION_LINE, caption, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT
            )
            pdf.set_text_color(color if color is not None else 0)
        pdf.ln(_GAP)

    def _text_block(self, children: list[Token]) -> None:
        leading = _HEADING_LEADING if self._heading_pt else _BODY_LEADING
        marker, self._marker = self._marker, ""
        # A marker hangs in the indent to the left of the text, so the region starts there.
        left = self.pdf.l_margin - (INDENT if marker else 0)
        self.pdf.set_x(left)  # a region starts at the current x when that is inside it
        self._font()
        region = self.pdf.text_columns(
            l_margin=left, r_margin=self.pdf.r_margin, line_height=leading
        )
        with region:
            paragraph_options = {"indent": INDENT, "bullet_string": marker} if marker else {}
            with region.paragraph(**paragraph_options) as paragraph:
                for child in children:
                    self._inline(child, paragraph)
        self.pdf.set_x(self.pdf.l_margin)

    def _inline(self, token: Token, paragraph: Paragraph) -> None:
        match token.type:
            case "text":
                paragraph.write(self.typefaces.clean(token.content), link=self._link or None)
            case "softbreak":
                paragraph.write(" ")
            case "hardbreak":
                paragraph.write("\n")
            case "code_inline":
                self._font("mono")
                paragraph.write(self.typefaces.clean(token.content), link=self._link or None)
                self._font()
            case _:
                self._style(token)

    def _style(self, token: Token) -> None:
        """Follow emphasis and links opening and closing."""
        match token.type:
            case "strong_open" | "strong_close":
                self._bold += token.nesting
                self._font()
            case "em_open" | "em_close":
                self._italic += token.nesting
                self._font()
            case "link_open":
                href = str(token.attrGet("href") or "")
                # Same rule as the HTML sanitiser: only web and mail links become clickable.
                self._link = href if href.startswith(("http://", "https://", "mailto:")) else ""
                self.pdf.set_text_color(*_LINK_COLOR)
            case "link_close":
                self._link = ""
                self.pdf.set_text_color(0)

    def _font(self, face: str = "sans") -> None:
        bold = self._bold > 0 or self._heading_pt is not None
        style = ("B" if bold else "") + ("I" if self._italic > 0 else "")
        size = self._heading_pt or BODY_PT
        self.typefaces.use(face, style, size * 0.9 if face == "mono" else size)

    def _code_block(self, code: str) -> None:
        self._flush_marker()
        self.typefaces.use("mono", "", _CODE_PT)
        self.pdf.set_x(self.pdf.l_margin)
        self.pdf.set_fill_color(*_CODE_BACKGROUND)
        text = self.typefaces.clean(code.rstrip("\n").expandtabs(4)) or " "
        self.pdf.multi_cell(
            0, _CODE_LINE, text, fill=True, padding=(1.5, 2), new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )
        self.pdf.ln(_GAP)

    def _rule(self) -> None:
        self._flush_marker()
        y = self.pdf.get_y() + _GAP
        self.pdf.set_draw_color(180)
        self.pdf.line(self.pdf.l_margin, y, self.pdf.w - self.pdf.r_margin, y)
        self.pdf.ln(2 * _GAP)
