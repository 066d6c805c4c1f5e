"""Turn a book's Markdown text into real ebook files: a typeset PDF and an EPUB 3.

Used by the demo seeding, and by authors who write in Markdown and publish with a click.
Everything here is pure: a ``BookText`` in, bytes out; no database, no network, no files
written. The only thing read from disk is the DejaVu font, when the machine has it.

Modules: ``book`` (the data, ``validate`` and ``toc``), ``markdown`` (parsing and safe
XHTML), ``pdf`` with ``pdf_body``, ``pdf_page`` and ``fonts``, and ``epub``.
"""

from catalog.ebook.book import BookText, Chapter, ManuscriptError, toc, validate
from catalog.ebook.epub import build_epub
from catalog.ebook.markdown import render_html
from catalog.ebook.pdf import build_pdf

__all__ = [
    "BookText",
    "Chapter",
    "ManuscriptError",
    "build_epub",
    "build_pdf",
    "render_html",
    "toc",
    "validate",
]
