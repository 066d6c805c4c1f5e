"""The EPUB 3: an OCF zip with an OPF package, XHTML pages, a nav document and images.

The package's public API is what ``catalog.ebook`` exports; ``build_epub`` is the entry.
"""

from __future__ import annotations

import io
import itertools
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from catalog.ebook import markdown
from catalog.ebook.book import (
    EXTENSIONS,
    BookText,
    Chapter,
    ImageFile,
    Progress,
    check,
    label,
    parts,
    rendering,
)
from catalog.ebook.markdown import escape

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
img { max-width: 100%; height: auto; }
"""
_XHTML = "application/xhtml+xml"
_COVER_HREF = "images/cover.png"
# An image keeps its own path in the package when it is a plain relative one like this.
_PLAIN_PATH = re.compile(r"(?:[A-Za-z0-9_][A-Za-z0-9_.-]*/)*[A-Za-z0-9_][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class _Item:
    """One file of the package, as the OPF manifest and spine see it."""

    href: str  # relative to the OPF, which lives in OEBPS/
    media_type: str
    content: bytes
    properties: str = ""
    in_spine: bool = True
    item_id: str = ""  # when the href does not make a good one

    @property
    def id(self) -> str:
        # "images/cover.png" -> "images-cover": unique, and a valid XML id (starts with a letter).
        return self.item_id or re.sub(r"[^A-Za-z0-9-]", "-", self.href.rsplit(".", 1)[0])


@dataclass(frozen=True)
class _NavEntry:
    title: str
    href: str
    children: tuple[_NavEntry, ...] = ()


def build_epub(
    book: BookText,
    *,
    cover_png: bytes | None = None,
    modified: datetime | None = None,
    progress: Progress | None = None,
) -> bytes:
    """An EPUB 3 file: optional cover, title page, contents, part pages and chapters.

    ``validate(book)`` runs first. ``modified`` becomes ``dcterms:modified``, which readers
    combine with the identifier to tell one release from the next; it defaults to now. Pass
    it to get identical bytes for identical input. ``progress(done, total, chapter)`` is
    called after each chapter is converted; a chapter that fails raises ManuscriptError
    naming its source.
    """
    images = check(book)
    if cover_png is not None and not cover_png.startswith(_PNG_SIGNATURE):
        raise ValueError("cover_png is not a PNG image")
    items = _epub_content(book, cover_png, images, progress)
    modified_at = (modified or datetime.now(UTC)).astimezone(UTC)
    opf = _opf(book, items, modified_at)
    return _zip_epub(
        [("META-INF/container.xml", _CONTAINER_XML.encode()), ("OEBPS/content.opf", opf)]
        + [("OEBPS/" + item.href, item.content) for item in items]
    )


def _epub_content(
    book: BookText,
    cover_png: bytes | None,
    images: Mapping[str, ImageFile],
    progress: Progress | None,
) -> list[_Item]:
    """Every file the OPF lists, in reading order."""
    front = _cover_items(book, cover_png) if cover_png is not None else []
    front.append(_Item("title.xhtml", _XHTML, _xhtml_page(book, book.title, _title_page(book))))
    hrefs = _image_hrefs(images)
    body, toc = _body_items(book, hrefs, progress)
    nav = _Item("nav.xhtml", _XHTML, _nav_page(book, toc, has_cover=cover_png is not None), "nav")
    stylesheet = _Item("style.css", "text/css", _STYLESHEET.encode(), in_spine=False)
    pictures = [
        _Item(hrefs[key], image.media_type, image.data, in_spine=False, item_id=f"image-{n:03d}")
        for n, (key, image) in enumerate(images.items(), start=1)
    ]
    return [*front, nav, *body, stylesheet, *pictures]


def _image_hrefs(images: Mapping[str, ImageFile]) -> dict[str, str]:
    """Where each image goes in the package, relative to the chapters (which sit beside it).

    An image keeps the path the Markdown gives it (``images/diagram.png``) when that is a
    plain relative path whose extension matches what the bytes really are; any other gets
    ``images/image-001.png`` and so on. Names are unique even on a case-blind file system.
    """
    taken = {_COVER_HREF}
    hrefs: dict[str, str] = {}
    for key, image in images.items():
        extension = key.rsplit(".", 1)[-1].lower()
        plain = _PLAIN_PATH.fullmatch(key) and extension in EXTENSIONS[image.format]
        if plain and key.lower() not in taken:
            hrefs[key] = key
            taken.add(key.lower())
    numbers = itertools.count(1)
    for key, image in images.items():
        while key not in hrefs:
            href = f"images/image-{next(numbers):03d}.{EXTENSIONS[image.format][0]}"
            if href not in taken:
                hrefs[key] = href
                taken.add(href)
    return hrefs


def _cover_items(book: BookText, cover_png: bytes) -> list[_Item]:
    image = _Item(_COVER_HREF, "image/png", cover_png, "cover-image", in_spine=False)
    body = (
        '<section class="cover" epub:type="cover">'
        f'<img src="{image.href}" alt="{escape(book.title)}" /></section>'
    )
    page = _xhtml_page(book, label(book, "cover"), body, body_class="cover")
    return [image, _Item("cover.xhtml", _XHTML, page)]


def _body_items(
    book: BookText, hrefs: Mapping[str, str], progress: Progress | None
) -> tuple[list[_Item], list[_NavEntry]]:
    """Part pages and chapters in reading order, and the contents tree that links them."""
    items: list[_Item] = []
    toc: list[_NavEntry] = []
    done, total = 0, len(book.chapters)
    part_numbers = itertools.count(1)
    for part, chapters in parts(book):
        chapter_items, entries = [], []
        for chapter in chapters:
            done += 1
            href = f"chapter-{done:03d}.xhtml"
            with rendering(chapter, done):
                chapter_items.append(_Item(href, _XHTML, _chapter_page(book, chapter, hrefs)))
            entries.append(_NavEntry(chapter.title, href))
            if progress is not None:
                progress(done, total, chapter)
        if part:
            href = f"part-{next(part_numbers):02d}.xhtml"
            items.append(_Item(href, _XHTML, _part_page(book, part)))
            toc.append(_NavEntry(part, href, tuple(entries)))
        else:
            toc.extend(entries)
        items.extend(chapter_items)
    return items, toc


def _xhtml_page(book: BookText, title: str, body: str, *, body_class: str = "") -> bytes:
    lang = escape(book.language)
    body_attribute = f' class="{body_class}"' if body_class else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html>\n'
        f'<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" lang="{lang}" xml:lang="{lang}">\n'
        f'<head>\n<meta charset="UTF-8" />\n<title>{escape(title)}</title>\n'
        '<link rel="stylesheet" type="text/css" href="style.css" />\n</head>\n'
        f"<body{body_attribute}>\n{body}\n</body>\n</html>\n"
    ).encode()


def _title_page(book: BookText) -> str:
    lines = ['<section class="titlepage" epub:type="titlepage">', f"<h1>{escape(book.title)}</h1>"]
    if book.subtitle:
        lines.append(f'<p class="subtitle">{escape(book.subtitle)}</p>')
    if book.authors:
        lines.append(f'<p class="authors">{escape(", ".join(book.authors))}</p>')
    version = f"{label(book, 'version')} {book.version}"
    lines += [f'<p class="version">{escape(version)}</p>', "</section>"]
    return "\n".join(lines)


def _part_page(book: BookText, part: str) -> bytes:
    body = f'<section class="part" epub:type="part" role="doc-part">\n<h1>{escape(part)}</h1>\n</section>'
    return _xhtml_page(book, part, body)


def _chapter_page(book: BookText, chapter: Chapter, hrefs: Mapping[str, str]) -> bytes:
    tokens = markdown.parse(chapter.markdown, top_heading=2)
    markdown.link_images(tokens, hrefs)
    body = (
        f'<section epub:type="chapter" role="doc-chapter">\n<h1>{escape(chapter.title)}</h1>\n'
        f"{markdown.html_from_tokens(tokens)}</section>"
    )
    return _xhtml_page(book, chapter.title, body)


def _nav_page(book: BookText, toc: list[_NavEntry], *, has_cover: bool) -> bytes:
    contents = escape(label(book, "contents"))
    landmarks = [("toc", "nav.xhtml", contents), ("bodymatter", toc[0].href, escape(toc[0].title))]
    if has_cover:
        landmarks.insert(0, ("cover", "cover.xhtml", escape(label(book, "cover"))))
    landmark_items = "\n".join(
        f'<li><a epub:type="{kind}" href="{href}">{title}</a></li>'
        for kind, href, title in landmarks
    )
    body = (
        f'<nav epub:type="toc" id="toc" role="doc-toc">\n<h1>{contents}</h1>\n{_nav_list(toc)}\n</nav>\n'
        f'<nav epub:type="landmarks" id="landmarks" hidden="hidden">\n<ol>\n{landmark_items}\n</ol>\n</nav>'
    )
    return _xhtml_page(book, label(book, "contents"), body)


def _nav_list(entries: tuple[_NavEntry, ...] | list[_NavEntry]) -> str:
    items = []
    for entry in entries:
        nested = f"\n{_nav_list(entry.children)}\n" if entry.children else ""
        items.append(f'<li><a href="{entry.href}">{escape(entry.title)}</a>{nested}</li>')
    return "<ol>\n" + "\n".join(items) + "\n</ol>"


def _opf(book: BookText, items: list[_Item], modified: datetime) -> bytes:
    metadata = [
        f'<dc:identifier id="book-id">{escape(book.identifier)}</dc:identifier>',
        f'<dc:title id="book-title">{escape(book.title)}</dc:title>',
        '<meta refines="#book-title" property="title-type">main</meta>',
    ]
    if book.subtitle:
        metadata.append(f'<dc:title id="book-subtitle">{escape(book.subtitle)}</dc:title>')
        metadata.append('<meta refines="#book-subtitle" property="title-type">subtitle</meta>')
    metadata.append(f"<dc:language>{escape(book.language)}</dc:language>")
    for n, author in enumerate(book.authors, start=1):
        metadata.append(f'<dc:creator id="creator-{n}">{escape(author)}</dc:creator>')
        metadata.append(
            f'<meta refines="#creator-{n}" property="role" scheme="marc:relators">aut</meta>'
        )
    metadata.append(f'<meta property="dcterms:modified">{modified:%Y-%m-%dT%H:%M:%SZ}</meta>')
    metadata.append(f'<meta property="schema:version">{escape(book.version)}</meta>')
    if any("cover-image" in item.properties for item in items):
        metadata.append('<meta name="cover" content="images-cover" />')  # for EPUB 2 readers
    manifest = [_manifest_line(item) for item in items]
    spine = [f'<itemref idref="{item.id}" />' for item in items if item.in_spine]
    lang = escape(book.language)
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
