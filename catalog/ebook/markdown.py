"""The Markdown side of the ebook builder: parsing, image references and safe XHTML.

Shared by validation, the PDF and the EPUB. The package's public API is what
``catalog.ebook`` exports; the names here are for its own modules.
"""

from __future__ import annotations

import html
import posixpath
import re
from collections.abc import Iterator, Mapping
from html.parser import HTMLParser
from urllib.parse import unquote

from markdown_it.rules_block.fence import fence as _commonmark_fence
from markdown_it.rules_block.state_block import StateBlock
from markdown_it.token import Token

from catalog.markdown import CLEANER, new_parser


def _fence(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    """markdown-it's own fence rule, noting on the token whether the fence was closed.

    CommonMark lets a fence that is never closed run to the end of its container, so a
    forgotten closing fence silently turns the rest of a chapter into code. The rule
    itself knows, but does not say; ``token.meta["closed"]`` records it.
    """
    if not _commonmark_fence(state, start_line, end_line, silent):
        return False
    if not silent:
        token = state.tokens[-1]
        last = state.line - 1
        token.meta["closed"] = last > start_line and _is_closing_fence(state, last, token.markup)
    return True


def _is_closing_fence(state: StateBlock, line: int, markup: str) -> bool:
    """Whether ``line`` closes a fence opened with ``markup``: the test the rule applies.

    The rule stops at the first line that passes, so the fence's last line passes exactly
    when the rule found its closing fence there.
    """
    if state.is_code_block(line):
        return False
    start = state.bMarks[line] + state.tShift[line]
    end = state.skipCharsStr(start, markup[0])
    return end - start >= len(markup) and state.skipSpaces(end) >= state.eMarks[line]


# The site's dialect (catalog/markdown.py), noting whether each fence was closed.
MD = new_parser()
MD.block.ruler.at("fence", _fence, {"alt": ["paragraph", "reference", "blockquote", "list"]})

# The site's allow-list cleans a book's HTML too. <img> only ever comes from an image whose
# file is known (packaged in the book, or a URL the caller supplied): link_images turns any
# other image into its alt text before rendering.


def render_html(markdown: str, image_urls: Mapping[str, str] | None = None) -> str:
    """Render CommonMark to sanitised HTML that is also well-formed XHTML.

    Raw HTML is escaped by the parser, and nh3 then removes anything unsafe that is left
    (``javascript:`` URLs, unknown tags and attributes). The result is re-serialised as
    XHTML (``<br />``, numeric entities) so it can go into an EPUB as it is.

    ``image_urls`` maps image paths as written in the Markdown (``images/diagram.png``) to
    the URL to show them from; an image whose path is not a key shows its alt text.
    """
    tokens = parse(markdown, top_heading=1)
    link_images(tokens, image_urls or {})
    return html_from_tokens(tokens)


def parse(markdown: str, *, top_heading: int) -> list[Token]:
    """Parse ``markdown`` into block tokens, headings shifted so none is above ``top_heading``.

    In a chapter the title is the <h1>, so its body's own headings start at <h2> whether the
    author wrote them with ``#`` or ``##``.
    """
    tokens = MD.parse(markdown)
    _shift_headings(tokens, top_heading)
    return tokens


def _shift_headings(tokens: list[Token], top_heading: int) -> None:
    levels = [int(token.tag[1]) for token in tokens if token.type == "heading_open"]
    offset = max(0, top_heading - min(levels, default=top_heading))
    if not offset:
        return
    for token in tokens:
        if token.type in {"heading_open", "heading_close"}:
            token.tag = f"h{min(6, int(token.tag[1]) + offset)}"


def images(tokens: list[Token]) -> Iterator[Token]:
    """Every image token, in reading order (an image inside another's alt text is text)."""
    for token in tokens:
        if token.type == "inline":
            yield from (child for child in token.children or [] if child.type == "image")


def image_path(image: Token) -> str:
    """The path the author wrote: markdown-it percent-encodes it (``my%20file.png``)."""
    return unquote(str(image.attrGet("src") or ""))


def find_image(image: Token, files: Mapping[str, object]) -> str | None:
    """The key of ``files`` that ``image`` refers to, if any.

    Keys are paths as written in the Markdown; ``my diagram.png`` and ``./images/x.png``
    find ``my diagram.png`` and ``images/x.png``.
    """
    src = str(image.attrGet("src") or "")
    path = unquote(src)
    for candidate in (src, path, posixpath.normpath(path)):
        if candidate in files:
            return candidate
    return None


def alt_text(image: Token) -> str:
    """The image's description as plain text, markup removed (as CommonMark's alt)."""
    return MD.renderer.renderInlineAsText(image.children, MD.options, {})


def link_images(tokens: list[Token], urls: Mapping[str, str]) -> None:
    """Point each image at ``urls[path]``; an image with no URL becomes its alt text."""
    for token in tokens:
        if token.type == "inline" and token.children:
            token.children = [_linked(child, urls) for child in token.children]


def _linked(token: Token, urls: Mapping[str, str]) -> Token:
    if token.type != "image":
        return token
    key = find_image(token, urls)
    if key is None:
        return Token("text", "", 0, content=alt_text(token))
    token.attrSet("src", urls[key])
    return token


def html_from_tokens(tokens: list[Token]) -> str:
    return _to_xhtml(CLEANER.clean(MD.renderer.render(tokens, MD.options, {})))


# --- XHTML ---------------------------------------------------------------------

# Characters XML 1.0 forbids outright; an EPUB reader refuses a file that contains one.
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_VOID_ELEMENTS = frozenset({"area", "br", "col", "embed", "hr", "img", "input", "source", "wbr"})


def escape(text: str) -> str:
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
        attributes = "".join(f' {name}="{escape(value or "")}"' for name, value in attrs)
        self.parts.append(f"<{tag}{attributes}{' /' if tag in _VOID_ELEMENTS else ''}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID_ELEMENTS:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag not in _VOID_ELEMENTS:
            self.parts.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        self.parts.append(escape(data))


def _to_xhtml(fragment: str) -> str:
    serializer = _XhtmlSerializer()
    serializer.feed(fragment)
    serializer.close()
    return "".join(serializer.parts)
