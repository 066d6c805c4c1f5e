"""What a book is made of, and the checks it must pass before any file is built."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from markdown_it.token import Token
from PIL import Image

from catalog.ebook import markdown


@dataclass(frozen=True)
class Chapter:
    """One chapter: its title and its CommonMark body."""

    title: str
    markdown: str
    part: str = ""  # title of the part it belongs to; "" = the chapter stands alone
    source: str = ""  # the manuscript file it came from, e.g. "ch01.md", for error messages


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
    # Image files by their path as the Markdown refers to them: ![Diagram](images/d.png)
    # -> "images/d.png". Only the images a chapter shows go into the files.
    images: dict[str, bytes] = field(default_factory=dict)


Progress = Callable[[int, int, Chapter], object]
"""``progress(done, total, chapter)``: called after each chapter is rendered."""


class ManuscriptError(ValueError):
    """Something in the manuscript stops the book from being built, and where it is.

    ``source`` is the chapter's file name (its title when it has none, or the book's title
    for problems with the book as a whole); ``str(error)`` reads "ch03.md: <message>".
    """

    def __init__(self, source: str, message: str) -> None:
        super().__init__(source, message)  # both in args, so the error pickles (Celery)
        self.source = source
        self.message = message

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


def chapter_source(chapter: Chapter, number: int) -> str:
    """How errors name a chapter: its file, else its title, else its position."""
    return chapter.source or chapter.title.strip() or f"chapter {number}"


@contextmanager
def rendering(chapter: Chapter, number: int) -> Iterator[None]:
    """Turn any failure while rendering chapter ``number`` into a ManuscriptError naming it."""
    try:
        yield
    except ManuscriptError:
        raise
    except Exception as error:
        message = f"could not be rendered: {type(error).__name__}: {error}"
        raise ManuscriptError(chapter_source(chapter, number), message) from error


def toc(book: BookText) -> list[tuple[Literal["part", "chapter"], str]]:
    """The table of contents in reading order: ("part", title), ("chapter", title), ...

    A part comes once, before its chapters, exactly as in the PDF and EPUB. Consecutive
    chapters with the same ``part`` form that part; a chapter with ``part=""`` stands alone.
    """
    entries: list[tuple[Literal["part", "chapter"], str]] = []
    for part, chapters in parts(book):
        if part:
            entries.append(("part", part))
        entries.extend(("chapter", chapter.title) for chapter in chapters)
    return entries


def parts(book: BookText) -> list[tuple[str, list[Chapter]]]:
    """Consecutive chapters grouped by part; a group with part "" holds standalone chapters."""
    return [
        (part, list(chapters))
        for part, chapters in itertools.groupby(book.chapters, key=lambda c: c.part)
    ]


# --- Images --------------------------------------------------------------------

# The raster types every EPUB 3 reader must show. Pillow is told to try no other format,
# which also keeps its riskier decoders (EPS runs Ghostscript) away from uploaded files.
_IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
EXTENSIONS = {"PNG": ("png",), "JPEG": ("jpg", "jpeg"), "GIF": ("gif",), "WEBP": ("webp",)}
# More than any page needs (an 8K photo is 33 Mpx), and decoding it must not sink a worker.
_MAX_PIXELS = 50_000_000


@dataclass(frozen=True)
class ImageFile:
    """An image a chapter shows, checked: its real type and size, from its bytes."""

    path: str  # the key in ``BookText.images``
    data: bytes
    format: str  # Pillow's name: "PNG", "JPEG", "GIF" or "WEBP"
    width: int  # pixels
    height: int

    @property
    def media_type(self) -> str:
        return _IMAGE_TYPES[self.format]


def _inspect(path: str, data: bytes) -> ImageFile:
    """The image in ``data``, decoding every pixel to be sure; ValueError says why not."""
    try:
        with Image.open(io.BytesIO(data), formats=list(_IMAGE_TYPES)) as image:
            if image.width * image.height > _MAX_PIXELS:
                raise Image.DecompressionBombError(f"{image.width}x{image.height}")
            image.load()
            return ImageFile(path, data, str(image.format), image.width, image.height)
    except Image.DecompressionBombError as error:
        message = f"{_shown(path)} is too large an image (over {_MAX_PIXELS:,} pixels)"
        raise ValueError(message) from error
    except Exception as error:  # Pillow raises OSError, SyntaxError, ValueError... for bad data
        raise ValueError(f"{_shown(path)} is not an image (use PNG, JPEG, GIF or WebP)") from error


def _shown(path: str) -> str:
    return path if len(path) <= 80 else path[:77] + "..."  # a data: URL can be huge


# --- Validation ----------------------------------------------------------------


def validate(book: BookText) -> None:
    """Raise ManuscriptError for the first problem that would spoil the files, if any.

    Chapters are checked in order, each from top to bottom: a missing title, a code fence
    that is never closed, an image with no file in ``book.images`` or whose file is not a
    PNG, JPEG, GIF or WebP image.
    """
    check(book)


def check(book: BookText) -> dict[str, ImageFile]:
    """``validate``, returning the images the chapters show, by their key in ``book.images``."""
    whole_book = book.title.strip() or "book"
    missing = [name for name in ("title", "language", "identifier") if not getattr(book, name)]
    if missing:
        raise ManuscriptError(whole_book, f"the book needs a {', '.join(missing)}")
    if not book.chapters:
        raise ManuscriptError(whole_book, "the book has no chapters")
    found: dict[str, ImageFile] = {}
    for number, chapter in enumerate(book.chapters, start=1):
        source = chapter_source(chapter, number)
        if not chapter.title.strip():
            raise ManuscriptError(source, f"chapter {number} has no title")
        for token in markdown.parse(chapter.markdown, top_heading=2):
            if token.type == "fence" and not token.meta.get("closed", True):
                line = token.map[0] + 1 if token.map else "?"
                raise ManuscriptError(
                    source, f"the {token.markup} code block opened on line {line} is never closed"
                )
            for image in markdown.images([token]):
                _check_image(book, image, source, found)
    return found


def _check_image(book: BookText, image: Token, source: str, found: dict[str, ImageFile]) -> None:
    key = markdown.find_image(image, book.images)
    if key is None:
        raise ManuscriptError(source, f"image {_shown(markdown.image_path(image))} is missing")
    if key not in found:
        try:
            found[key] = _inspect(key, book.images[key])
        except ValueError as error:
            raise ManuscriptError(source, str(error)) from error


# --- Labels --------------------------------------------------------------------

# The few words the files themselves show; keyed by BCP 47 primary language.
_LABELS = {
    "en": {"contents": "Contents", "version": "Version", "cover": "Cover"},
    "pt": {"contents": "Sumário", "version": "Versão", "cover": "Capa"},
    "es": {"contents": "Índice", "version": "Versión", "cover": "Portada"},
    "fr": {"contents": "Table des matières", "version": "Version", "cover": "Couverture"},
    "de": {"contents": "Inhalt", "version": "Version", "cover": "Umschlag"},
}


def label(book: BookText, key: str) -> str:
    primary = book.language.split("-")[0].lower()
    return _LABELS.get(primary, _LABELS["en"])[key]
