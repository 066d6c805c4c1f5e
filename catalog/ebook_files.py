"""Turn a book's Markdown text into real ebook files: a typeset PDF and an EPUB 3.

Used by the demo seeding, and later by authors who write in Markdown and publish with a
click. Everything here is pure: a ``BookText`` in, bytes out; no database, no network, no
files written. The only thing read from disk is the DejaVu font, when the machine has it.
"""

from __future__ import annotations

import html
import io
import itertools
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

import nh3
from fpdf import FPDF, XPos, YPos
from markdown_it import MarkdownIt
from markdown_it.token import Token

if TYPE_CHECKING:
    from fpdf.outline import OutlineSection
    from fpdf.text_region import Paragraph

__all__ = ["BookText", "Chapter", "build_epub", "build_pdf", "render_html"]


@dataclass(frozen=True)
class Chapter:
    """One chapter: its title and its CommonMark body."""

    title: str
    markdown: str
    part: str = ""  # title of the part it belongs to; "" = the chapter stands alone


@dataclass(frozen=True)
class BookText:
    """Everything needed to build the files of one release of a book."""

    title: str
    subtitle: str
    authors: list[str]
    language: str  # BCP 47, e.g. "en", "pt-BR"
    identifier: str  # stable unique id, e.g. "urn:uuid:..." or "storefront:<slug>"
    chapters: list[Chapter]
    version: str = "1.0"


# --- Markdown ------------------------------------------------------------------

# Raw HTML off: authors write Markdown, and anything that looks like a tag is shown as text.
_MD = MarkdownIt("commonmark", {"html": False})

# Only what a book's prose needs. No <img>: images are not packaged into the files yet, so
# an image is shown as its alt text rather than as a link to something outside the book.
_ALLOWED_TAGS = {
    "a", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li", "ol",
    "p", "pre", "strong", "ul",
}  # fmt: skip
_CLEANER = nh3.Cleaner(
    tags=_ALLOWED_TAGS,
    attributes={"a": {"href", "title"}, "ol": {"start"}},
    url_schemes={"http", "https", "mailto"},
)


def render_html(markdown: str) -> str:
    """Render CommonMark to sanitised HTML that is also well-formed XHTML.

    Raw HTML is escaped by the parser, and nh3 then removes anything unsafe that is left
    (``javascript:`` URLs, unknown tags and attributes). The result is re-serialised as
    XHTML (``<br />``, numeric entities) so it can go into an EPUB as it is.
    """
    return _html_from_tokens(_parse(markdown, top_heading=1))


def _parse(markdown: str, *, top_heading: int) -> list[Token]:
    """Parse ``markdown`` into block tokens, headings shifted so none is above ``top_heading``.

    In a chapter the title is the <h1>, so its body's own headings start at <h2> whether the
    author wrote them with ``#`` or ``##``.
    """
    tokens = _MD.parse(markdown)
    _shift_headings(tokens, top_heading)
    _images_to_alt_text(tokens)
    return tokens


def _shift_headings(tokens: list[Token], top_heading: int) -> None:
    levels = [int(token.tag[1]) for token in tokens if token.type == "heading_open"]
    offset = max(0, top_heading - min(levels, default=top_heading))
    if not offset:
        return
    for token in tokens:
        if token.type in {"heading_open", "heading_close"}:
            token.tag = f"h{min(6, int(token.tag[1]) + offset)}"


def _images_to_alt_text(tokens: list[Token]) -> None:
    for token in tokens:
        if token.children:
            token.children = [
                Token("text", "", 0, content=child.content) if child.type == "image" else child
                for child in token.children
            ]


def _html_from_tokens(tokens: list[Token]) -> str:
    return _to_xhtml(_CLEANER.clean(_MD.renderer.render(tokens, _MD.options, {})))


# --- XHTML ---------------------------------------------------------------------

# Characters XML 1.0 forbids outright; an EPUB reader refuses a file that contains one.
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_VOID_ELEMENTS = frozenset({"area", "br", "col", "embed", "hr", "img", "input", "source", "wbr"})


def _escape(text: str) -> str:
    """Text (or an attribute value) made safe for XML."""
    return html.escape(_XML_ILLEGAL.sub("", text), quote=True)


class _XhtmlSerializer(HTMLParser):
    """Re-serialise HTML5 as XHTML.

    nh3 writes HTML5: ``<br>``, ``&nbsp;``, a bare ``<`` inside attribute values. None of
    that is well-formed XML, and EPUB content documents must be, so every tag, text and
    attribute is written out again with XML rules.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = "".join(f' {name}="{_escape(value or "")}"' for name, value in attrs)
        self.parts.append(f"<{tag}{attributes}{' /' if tag in _VOID_ELEMENTS else ''}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID_ELEMENTS:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag not in _VOID_ELEMENTS:
            self.parts.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        self.parts.append(_escape(data))


def _to_xhtml(fragment: str) -> str:
    serializer = _XhtmlSerializer()
    serializer.feed(fragment)
    serializer.close()
    return "".join(serializer.parts)


# --- Shared --------------------------------------------------------------------

# The few words the files themselves show; keyed by BCP 47 primary language.
_LABELS = {
    "en": {"contents": "Contents", "version": "Version", "cover": "Cover"},
    "pt": {"contents": "Sumário", "version": "Versão", "cover": "Capa"},
    "es": {"contents": "Índice", "version": "Versión", "cover": "Portada"},
    "fr": {"contents": "Table des matières", "version": "Version", "cover": "Couverture"},
    "de": {"contents": "Inhalt", "version": "Version", "cover": "Umschlag"},
}


def _label(book: BookText, key: str) -> str:
    primary = book.language.split("-")[0].lower()
    return _LABELS.get(primary, _LABELS["en"])[key]


def _validate(book: BookText) -> None:
    """Fail early and clearly rather than writing a file that readers reject."""
    missing = [name for name in ("title", "language", "identifier") if not getattr(book, name)]
    if missing:
        raise ValueError(f"BookText needs a {', '.join(missing)}")
    if not book.chapters:
        raise ValueError("BookText needs at least one chapter")
    if any(not chapter.title.strip() for chapter in book.chapters):
        raise ValueError("every chapter needs a title")


def _parts(book: BookText) -> list[tuple[str, list[Chapter]]]:
    """Consecutive chapters grouped by part; a group with part "" holds standalone chapters."""
    return [
        (part, list(chapters))
        for part, chapters in itertools.groupby(book.chapters, key=lambda c: c.part)
    ]


# --- PDF -------------------------------------------------------------------------

# Debian's fonts-dejavu-core ships the regular and bold files; the obliques come from
# fonts-dejavu-extra, which may be missing, so italic falls back to upright.
_DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")
_DEJAVU_FILES = {
    ("sans", ""): "DejaVuSans.ttf",
    ("sans", "B"): "DejaVuSans-Bold.ttf",
    ("sans", "I"): "DejaVuSans-Oblique.ttf",
    ("sans", "BI"): "DejaVuSans-BoldOblique.ttf",
    ("mono", ""): "DejaVuSansMono.ttf",
    ("mono", "B"): "DejaVuSansMono-Bold.ttf",
}
_DEJAVU_FAMILIES = {"sans": "DejaVuSans", "mono": "DejaVuSansMono"}
_CORE_FAMILIES = {"sans": "Helvetica", "mono": "Courier"}
_STYLE_FALLBACKS = {"": ("",), "B": ("B", ""), "I": ("I", ""), "BI": ("BI", "B", "I", "")}

# Characters the core fonts' encoding (cp1252) lacks but that have an obvious stand-in.
# Everything else outside cp1252 goes through NFKD (é-like letters lose their accent).
_CORE_FONT_SUBSTITUTES = {
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2015": "-", "\u2212": "-",
    "\u201b": "'", "\u2032": "'", "\u201f": '"', "\u2033": '"',
    "\u2190": "<-", "\u2192": "->", "\u2264": "<=", "\u2265": ">=", "\u2260": "!=",
    "\u2002": " ", "\u2003": " ", "\u2009": " ", "\u200a": " ", "\u202f": " ",
    "\u200b": "", "\u200d": "", "\ufeff": "",
    # Letters with a stroke are not composed characters, so NFKD leaves them alone.
    "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ħ": "h", "Ħ": "H", "ı": "i", "ŧ": "t", "Ŧ": "T",
}  # fmt: skip
# Control characters draw nothing, and a text region would take a form feed for a page break.
_PDF_CONTROL_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f]")

_MM_PER_PT = 25.4 / 72
_MARGIN = 16.0  # mm: left, right and top on A5
_BOTTOM_MARGIN = 20.0  # room for the page number
_BODY_PT = 10.0
_BODY_LEADING = 1.45  # line height as a multiple of the font size
_HEADING_LEADING = 1.25
_LINE = _BODY_PT * _MM_PER_PT * _BODY_LEADING  # mm
_CODE_PT = 8.0
_CODE_LINE = 3.8
_GAP = 2.5  # mm between blocks
_INDENT = 6.5  # mm per list or quote level
_CHAPTER_TITLE_PT = 20.0
_HEADING_PT = {2: 14.0, 3: 12.0}  # deeper headings: bold body size
_TOC_ROW = 6.5
_TOC_NUMBER_WIDTH = 12.0
_TOC_HEADING = 16.0  # mm taken by the "Contents" title
_CODE_BACKGROUND = (244, 244, 244)
_LINK_COLOR = (30, 80, 160)


class _Typefaces:
    """Picks DejaVu when the machine has it, else the PDF core fonts, and cleans text to match.

    TTF files are registered on first use, because parsing each one costs tens of
    milliseconds and most books never use some of the styles.
    """

    def __init__(self, pdf: FPDF, font_dir: Path) -> None:
        self._pdf = pdf
        self._files = {
            key: font_dir / name
            for key, name in _DEJAVU_FILES.items()
            if (font_dir / name).is_file()
        }
        self.unicode = ("sans", "") in self._files and ("mono", "") in self._files
        self._registered: set[tuple[str, str]] = set()
        if not self.unicode:
            # The core fonts are declared WinAnsiEncoding, which has real dashes and quotes.
            pdf.core_fonts_encoding = "cp1252"

    def use(self, face: str, style: str = "", size: float = _BODY_PT) -> None:
        if not self.unicode:
            self._pdf.set_font(_CORE_FAMILIES[face], style, size)
            return
        style = next(s for s in _STYLE_FALLBACKS[style] if (face, s) in self._files)
        if (face, style) not in self._registered:
            self._pdf.add_font(_DEJAVU_FAMILIES[face], style, self._files[face, style])
            self._registered.add((face, style))
        self._pdf.set_font(_DEJAVU_FAMILIES[face], style, size)

    def clean(self, text: str) -> str:
        """``text`` without anything the current fonts cannot draw."""
        text = _PDF_CONTROL_CHARS.sub("", text)
        return text if self.unicode else _to_cp1252(text)


def _to_cp1252(text: str) -> str:
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return "".join(_cp1252_char(char) for char in text)
    return text


def _cp1252_char(char: str) -> str:
    try:
        char.encode("cp1252")
    except UnicodeEncodeError:
        if char in _CORE_FONT_SUBSTITUTES:
            return _CORE_FONT_SUBSTITUTES[char]
        ascii_text = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
        return ascii_text or "?"
    return char


class _BookPdf(FPDF):
    """An A5 page with the page number at the foot of every page but the title page."""

    def __init__(self) -> None:
        super().__init__(format=(148, 210), unit="mm")  # A5; the name warns on fpdf2 2.8
        self.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.c_margin = 0  # text sits flush with the margins; code blocks pad themselves
        self.set_auto_page_break(auto=True, margin=_BOTTOM_MARGIN)
        self.typefaces = _Typefaces(self, _DEJAVU_DIR)
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


def build_pdf(book: BookText) -> bytes:
    """A typeset A5 PDF: title page, table of contents, part pages, then the chapters."""
    _validate(book)
    pdf = _BookPdf()
    pdf.set_title(book.title)
    pdf.set_subject(book.subtitle)
    pdf.set_author(", ".join(book.authors))
    pdf.set_lang(book.language)
    pdf.set_creator("Storefront")
    _pdf_title_page(pdf, book)
    _pdf_toc_placeholder(pdf, book)
    for part, chapters in _parts(book):
        if part:
            _pdf_part_page(pdf, part)
        for chapter in chapters:
            _pdf_chapter(pdf, chapter, level=1 if part else 0)
    return bytes(pdf.output())


def _pdf_title_page(pdf: _BookPdf, book: BookText) -> None:
    pdf.add_page()
    pdf.set_y(60)
    _centered(pdf, book.title, "B", 24, line=10)
    if book.subtitle:
        pdf.ln(3)
        _centered(pdf, book.subtitle, "", 14, line=7)
    pdf.ln(14)
    _centered(pdf, ", ".join(book.authors), "", 12, line=6)
    pdf.set_y(-40)
    _centered(pdf, f"{_label(book, 'version')} {book.version}", "", 9, line=5)


def _centered(pdf: _BookPdf, text: str, style: str, size: float, *, line: float) -> None:
    pdf.typefaces.use("sans", style, size)
    pdf.set_x(pdf.l_margin)
    pdf.multi_cell(
        0, line, pdf.typefaces.clean(text), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )


def _pdf_toc_placeholder(pdf: _BookPdf, book: BookText) -> None:
    """Reserve the contents pages now; fpdf2 fills them in once page numbers are known.

    fpdf2 insists that the contents fill exactly the pages reserved, so rows are one line
    each and the page breaks are ours, computed from the same row count.
    """
    pdf.add_page()
    rows_per_page = int((pdf.eph - _TOC_HEADING - 0.01) // _TOC_ROW)
    entries = len(book.chapters) + sum(1 for part, _ in _parts(book) if part)
    pages = -(-entries // rows_per_page)  # ceiling division

    def render(_: FPDF, outline: list[OutlineSection]) -> None:
        _centered(pdf, _label(book, "contents"), "B", 16, line=8)
        pdf.ln(_TOC_HEADING - 8)
        for i, section in enumerate(outline):
            if i and i % rows_per_page == 0:
                pdf.add_page()
                pdf.ln(_TOC_HEADING)
            _pdf_toc_row(pdf, section)

    pdf.insert_toc_placeholder(render, pages=pages)
    # fpdf2 moves on to a new, empty page after the reserved ones: the first chapter's.
    pdf.mark_page_blank()


def _pdf_toc_row(pdf: _BookPdf, section: OutlineSection) -> None:
    link = pdf.add_link(page=section.page_number)
    number = str(section.page_number)
    indent = section.level * _INDENT
    pdf.typefaces.use("sans", "B" if section.level == 0 else "", _BODY_PT)
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


def _pdf_part_page(pdf: _BookPdf, part: str) -> None:
    pdf.start_page()
    pdf.set_y(pdf.h / 3)
    pdf.start_section(part, level=0)
    _centered(pdf, part, "B", 22, line=10)


def _pdf_chapter(pdf: _BookPdf, chapter: Chapter, *, level: int) -> None:
    pdf.start_page()
    pdf.start_section(chapter.title, level=level)
    pdf.typefaces.use("sans", "B", _CHAPTER_TITLE_PT)
    pdf.multi_cell(0, 9, pdf.typefaces.clean(chapter.title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(6)
    _PdfBody(pdf).render(_parse(chapter.markdown, top_heading=2))


class _PdfBody:
    """Draws a chapter body's markdown-it tokens with fpdf2.

    Each paragraph or heading goes through one fpdf2 text region, which wraps a run of
    differently styled fragments as a whole; separate ``write()`` calls would break words
    in two wherever the style changes near the end of a line.
    """

    def __init__(self, pdf: _BookPdf) -> None:
        self.pdf = pdf
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
                self._text_block(token.children or [])
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
        self._heading_pt = _HEADING_PT.get(level, _BODY_PT)
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
        self.pdf.set_left_margin(self.pdf.l_margin + _INDENT)

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
        self.typefaces.use("sans", "", _BODY_PT)
        self.pdf.set_x(self.pdf.l_margin - _INDENT)
        self.pdf.cell(_INDENT, _LINE, self.typefaces.clean(self._marker))
        self._marker = ""

    def _text_block(self, children: list[Token]) -> None:
        leading = _HEADING_LEADING if self._heading_pt else _BODY_LEADING
        marker, self._marker = self._marker, ""
        # A marker hangs in the indent to the left of the text, so the region starts there.
        left = self.pdf.l_margin - (_INDENT if marker else 0)
        self.pdf.set_x(left)  # a region starts at the current x when that is inside it
        self._font()
        region = self.pdf.text_columns(
            l_margin=left, r_margin=self.pdf.r_margin, line_height=leading
        )
        with region:
            paragraph_options = {"indent": _INDENT, "bullet_string": marker} if marker else {}
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
        size = self._heading_pt or _BODY_PT
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


# --- EPUB ----------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # fixed, so the same book gives the same bytes
_CONTAINER_XML = """<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles>
    <rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml" />
  </rootfiles>
</container>
"""
_STYLESHEET = """body { font-family: serif; line-height: 1.5; margin: 0 4%; }
h1, h2, h3, h4, h5, h6 { font-family: sans-serif; line-height: 1.25; page-break-after: avoid; break-after: avoid; }
h1 { font-size: 1.8em; margin: 1.5em 0 1em; }
pre { font-family: monospace; font-size: 0.85em; white-space: pre-wrap; background: #f4f4f4; padding: 0.6em 0.8em; }
code { font-family: monospace; }
blockquote { margin: 1em 1.5em; font-style: italic; }
.titlepage, .part { text-align: center; margin-top: 25%; }
.subtitle { font-size: 1.3em; }
.authors { margin-top: 2em; font-size: 1.1em; }
.version { margin-top: 4em; font-size: 0.85em; }
.cover { margin: 0; padding: 0; text-align: center; }
.cover img { max-width: 100%; max-height: 100%; }
"""
_XHTML = "application/xhtml+xml"


@dataclass(frozen=True)
class _Item:
    """One file of the package, as the OPF manifest and spine see it."""

    href: str  # relative to the OPF, which lives in OEBPS/
    media_type: str
    content: bytes
    properties: str = ""
    in_spine: bool = True

    @property
    def id(self) -> str:
        # "images/cover.png" -> "images-cover": unique, and a valid XML id (starts with a letter).
        return re.sub(r"[^A-Za-z0-9-]", "-", self.href.rsplit(".", 1)[0])


@dataclass(frozen=True)
class _NavEntry:
    title: str
    href: str
    children: tuple[_NavEntry, ...] = ()


def build_epub(
    book: BookText, *, cover_png: bytes | None = None, modified: datetime | None = None
) -> bytes:
    """An EPUB 3 file: optional cover, title page, contents, part pages and chapters.

    ``modified`` becomes ``dcterms:modified``, which readers combine with the identifier to
    tell one release from the next; it defaults to now. Pass it to get identical bytes for
    identical input.
    """
    _validate(book)
    if cover_png is not None and not cover_png.startswith(_PNG_SIGNATURE):
        raise ValueError("cover_png is not a PNG image")
    items = _epub_content(book, cover_png)
    modified_at = (modified or datetime.now(UTC)).astimezone(UTC)
    opf = _opf(book, items, modified_at)
    return _zip_epub(
        [("META-INF/container.xml", _CONTAINER_XML.encode()), ("OEBPS/content.opf", opf)]
        + [("OEBPS/" + item.href, item.content) for item in items]
    )


def _epub_content(book: BookText, cover_png: bytes | None) -> list[_Item]:
    """Every file the OPF lists, in reading order."""
    front = _cover_items(book, cover_png) if cover_png is not None else []
    front.append(_Item("title.xhtml", _XHTML, _xhtml_page(book, book.title, _title_page(book))))
    body, toc = _body_items(book)
    nav = _Item("nav.xhtml", _XHTML, _nav_page(book, toc, has_cover=cover_png is not None), "nav")
    stylesheet = _Item("style.css", "text/css", _STYLESHEET.encode(), in_spine=False)
    return [*front, nav, *body, stylesheet]


def _cover_items(book: BookText, cover_png: bytes) -> list[_Item]:
    image = _Item("images/cover.png", "image/png", cover_png, "cover-image", in_spine=False)
    body = (
        '<section class="cover" epub:type="cover">'
        f'<img src="{image.href}" alt="{_escape(book.title)}" /></section>'
    )
    page = _xhtml_page(book, _label(book, "cover"), body, body_class="cover")
    return [image, _Item("cover.xhtml", _XHTML, page)]


def _body_items(book: BookText) -> tuple[list[_Item], list[_NavEntry]]:
    """Part pages and chapters in reading order, and the contents tree that links them."""
    items: list[_Item] = []
    toc: list[_NavEntry] = []
    chapter_numbers = itertools.count(1)
    part_numbers = itertools.count(1)
    for part, chapters in _parts(book):
        chapter_items, entries = [], []
        for chapter in chapters:
            href = f"chapter-{next(chapter_numbers):03d}.xhtml"
            chapter_items.append(_Item(href, _XHTML, _chapter_page(book, chapter)))
            entries.append(_NavEntry(chapter.title, href))
        if part:
            href = f"part-{next(part_numbers):02d}.xhtml"
            items.append(_Item(href, _XHTML, _part_page(book, part)))
            toc.append(_NavEntry(part, href, tuple(entries)))
        else:
            toc.extend(entries)
        items.extend(chapter_items)
    return items, toc


def _xhtml_page(book: BookText, title: str, body: str, *, body_class: str = "") -> bytes:
    lang = _escape(book.language)
    body_attribute = f' class="{body_class}"' if body_class else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html>\n'
        f'<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" lang="{lang}" xml:lang="{lang}">\n'
        f'<head>\n<meta charset="UTF-8" />\n<title>{_escape(title)}</title>\n'
        '<link rel="stylesheet" type="text/css" href="style.css" />\n</head>\n'
        f"<body{body_attribute}>\n{body}\n</body>\n</html>\n"
    ).encode()


def _title_page(book: BookText) -> str:
    lines = ['<section class="titlepage" epub:type="titlepage">', f"<h1>{_escape(book.title)}</h1>"]
    if book.subtitle:
        lines.append(f'<p class="subtitle">{_escape(book.subtitle)}</p>')
    if book.authors:
        lines.append(f'<p class="authors">{_escape(", ".join(book.authors))}</p>')
    version = f"{_label(book, 'version')} {book.version}"
    lines += [f'<p class="version">{_escape(version)}</p>', "</section>"]
    return "\n".join(lines)


def _part_page(book: BookText, part: str) -> bytes:
    body = f'<section class="part" epub:type="part" role="doc-part">\n<h1>{_escape(part)}</h1>\n</section>'
    return _xhtml_page(book, part, body)


def _chapter_page(book: BookText, chapter: Chapter) -> bytes:
    body = (
        f'<section epub:type="chapter" role="doc-chapter">\n<h1>{_escape(chapter.title)}</h1>\n'
        f"{_html_from_tokens(_parse(chapter.markdown, top_heading=2))}</section>"
    )
    return _xhtml_page(book, chapter.title, body)


def _nav_page(book: BookText, toc: list[_NavEntry], *, has_cover: bool) -> bytes:
    contents = _escape(_label(book, "contents"))
    landmarks = [("toc", "nav.xhtml", contents), ("bodymatter", toc[0].href, _escape(toc[0].title))]
    if has_cover:
        landmarks.insert(0, ("cover", "cover.xhtml", _escape(_label(book, "cover"))))
    landmark_items = "\n".join(
        f'<li><a epub:type="{kind}" href="{href}">{title}</a></li>'
        for kind, href, title in landmarks
    )
    body = (
        f'<nav epub:type="toc" id="toc" role="doc-toc">\n<h1>{contents}</h1>\n{_nav_list(toc)}\n</nav>\n'
        f'<nav epub:type="landmarks" id="landmarks" hidden="hidden">\n<ol>\n{landmark_items}\n</ol>\n</nav>'
    )
    return _xhtml_page(book, _label(book, "contents"), body)


def _nav_list(entries: tuple[_NavEntry, ...] | list[_NavEntry]) -> str:
    items = []
    for entry in entries:
        nested = f"\n{_nav_list(entry.children)}\n" if entry.children else ""
        items.append(f'<li><a href="{entry.href}">{_escape(entry.title)}</a>{nested}</li>')
    return "<ol>\n" + "\n".join(items) + "\n</ol>"


def _opf(book: BookText, items: list[_Item], modified: datetime) -> bytes:
    metadata = [
        f'<dc:identifier id="book-id">{_escape(book.identifier)}</dc:identifier>',
        f'<dc:title id="book-title">{_escape(book.title)}</dc:title>',
        '<meta refines="#book-title" property="title-type">main</meta>',
    ]
    if book.subtitle:
        metadata.append(f'<dc:title id="book-subtitle">{_escape(book.subtitle)}</dc:title>')
        metadata.append('<meta refines="#book-subtitle" property="title-type">subtitle</meta>')
    metadata.append(f"<dc:language>{_escape(book.language)}</dc:language>")
    for n, author in enumerate(book.authors, start=1):
        metadata.append(f'<dc:creator id="creator-{n}">{_escape(author)}</dc:creator>')
        metadata.append(
            f'<meta refines="#creator-{n}" property="role" scheme="marc:relators">aut</meta>'
        )
    metadata.append(f'<meta property="dcterms:modified">{modified:%Y-%m-%dT%H:%M:%SZ}</meta>')
    metadata.append(f'<meta property="schema:version">{_escape(book.version)}</meta>')
    if any("cover-image" in item.properties for item in items):
        metadata.append('<meta name="cover" content="images-cover" />')  # for EPUB 2 readers
    manifest = [_manifest_line(item) for item in items]
    spine = [f'<itemref idref="{item.id}" />' for item in items if item.in_spine]
    lang = _escape(book.language)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="book-id" xml:lang="{lang}">\n'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">\n'
        + "\n".join(metadata)
        + "\n</metadata>\n"
        "<manifest>\n" + "\n".join(manifest) + "\n</manifest>\n"
        "<spine>\n" + "\n".join(spine) + "\n</spine>\n</package>\n"
    ).encode()


def _manifest_line(item: _Item) -> str:
    properties = f' properties="{item.properties}"' if item.properties else ""
    return f'<item id="{item.id}" href="{item.href}" media-type="{item.media_type}"{properties} />'


def _zip_epub(files: list[tuple[str, bytes]]) -> bytes:
    """The OCF container: ``mimetype`` first and stored, so tools can sniff the type."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(_zip_entry("mimetype", zipfile.ZIP_STORED), b"application/epub+zip")
        for name, content in files:
            archive.writestr(_zip_entry(name, zipfile.ZIP_DEFLATED), content)
    return buffer.getvalue()


def _zip_entry(name: str, compression: int) -> zipfile.ZipInfo:
    entry = zipfile.ZipInfo(name, date_time=_ZIP_TIMESTAMP)
    entry.compress_type = compression
    entry.external_attr = 0o644 << 16  # a plain readable file once unpacked
    return entry
