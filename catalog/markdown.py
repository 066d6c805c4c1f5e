"""Markdown to safe HTML: the one dialect and the one allow-list for every text an
author writes, on the site (blurbs, bios, samples, announcements) and in the
books (catalog/ebook/markdown.py builds its parser and cleans its HTML here)."""

import nh3
from markdown_it import MarkdownIt

# What may remain of the rendered HTML. Tables parse only on the site: the PDF
# does not draw them, so a book's Markdown keeps them as text (new_parser).
ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table",
    "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "th": {"align"},
    "td": {"align"},
}
# nh3 removes anything unsafe that the parser let through (javascript: links,
# event handlers, unknown tags) and makes links rel="noopener noreferrer".
CLEANER = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=ALLOWED_ATTRIBUTES,
    url_schemes={"http", "https", "mailto"},
    link_rel="noopener noreferrer",
)


def new_parser() -> MarkdownIt:
    """CommonMark with raw HTML off: authors write Markdown, and anything that looks
    like a tag is shown as text."""
    return MarkdownIt("commonmark", {"html": False, "linkify": False})


_md = new_parser().enable("table")


def render_markdown(text: str) -> str:
    """Render ``text`` (CommonMark and tables) to sanitised HTML."""
    if not text:
        return ""
    return CLEANER.clean(_md.render(text))
