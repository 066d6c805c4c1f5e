"""Kept so ``from catalog.ebook_files import ...`` goes on working: see ``catalog.ebook``."""

from catalog.ebook import (
    BookText,
    Chapter,
    ManuscriptError,
    build_epub,
    build_pdf,
    render_html,
    toc,
    validate,
)

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
